"""The model's proposal next to the human's version, before Accept (no gradio here).

Two views: the model's keyframe with the model's symbols (a picture beside the editor, which shows the human's),
and a table of the fields that matter for training (outcome, keyframe, failure type, command, symbols) with the
changed rows highlighted. The model's side comes from the run's stored diagnosis (``RunState.diagnosis``), so a
reopened record compares against what the model said back then. Everything shown is escaped: the model's text
is untrusted.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from vifailback_demo.core.symbol_codec import read_symbols_lenient, symbol_to_text
from vifailback_demo.core.symbols import Symbol
from vifailback_demo.editing import EditorState
from vifailback_demo.render import SymbolRenderer
from vifailback_demo.ui.state import RunState, clamp_keyframe

CHANGED_STYLE = "background:#fde68a"
_renderer = SymbolRenderer()


def _model_symbols(run: RunState) -> list[Symbol]:
    symbols, _ = read_symbols_lenient((run.diagnosis or {}).get("symbols") or [])
    return symbols


def model_picture(run: RunState) -> np.ndarray | None:
    """The model's keyframe with the model's symbols; None when the model named no usable keyframe."""
    d = run.diagnosis or {}
    k = clamp_keyframe(d.get("keyframe"), len(run.frames))
    if not run.ready or k is None or d.get("keyframe") != k:
        return None
    return _renderer.render(run.frames[k - 1], _model_symbols(run), normalized=True)


def _outcome(success: Any) -> str:
    return {True: "Successful", False: "Failed"}.get(success, "unreadable")


def _symbols_text(symbols: list[Symbol] | tuple[Symbol, ...]) -> str:
    return "\n".join(symbol_to_text(s) for s in symbols)


def model_fields(run: RunState) -> dict[str, str]:
    d = run.diagnosis or {}
    failed = d.get("success") is False
    return {
        "outcome": _outcome(d.get("success")),
        "keyframe": str(d.get("keyframe") or "") if failed else "",
        "failure type": (d.get("failure_type") or "") if failed else "",
        "low-level command": (d.get("low_level") or "") if failed else "",
        "symbols": _symbols_text(_model_symbols(run)) if failed else "",
    }


def human_fields(
    editor: EditorState | None, success: str | None, keyframe: Any, failure_type: str | None, low_level: str | None
) -> dict[str, str]:
    failed = success != "Successful"
    k = clamp_keyframe(keyframe, 10**9)
    return {
        "outcome": success or "",
        "keyframe": str(k or "") if failed else "",
        "failure type": (failure_type or "") if failed else "",
        "low-level command": (low_level or "").strip() if failed else "",
        "symbols": _symbols_text(editor.symbols) if failed and editor is not None else "",
    }


def changed(model: dict[str, str], human: dict[str, str]) -> list[str]:
    """The fields whose values differ (whitespace at the ends ignored)."""
    return [name for name in model if model[name].strip() != human.get(name, "").strip()]


def compare_html(run: RunState | None, human: dict[str, str]) -> str:
    """A 3-column table (field, model, yours); changed rows highlighted and marked, so colour is not the only cue."""
    if run is None or not run.ready or run.diagnosis is None:
        return ""
    model = model_fields(run)
    diff = set(changed(model, human))
    rows = []
    for name, theirs in model.items():
        style = f' style="{CHANGED_STYLE}"' if name in diff else ""
        mark = " (changed)" if name in diff else ""
        cells = [html.escape(name) + mark, html.escape(theirs), html.escape(human.get(name, ""))]
        rows.append(f"<tr{style}>" + "".join(f'<td style="white-space:pre-wrap">{c}</td>' for c in cells) + "</tr>")
    summary = f"{len(diff)} of {len(model)} fields changed" if diff else "No changes: you kept the model's proposal"
    return (
        f'<div id="compare-summary"><b>{summary}.</b></div>'
        '<table id="compare-table"><thead><tr><th>field</th><th>model</th><th>yours</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def refresh(
    run: RunState | None,
    editor: EditorState | None,
    success: str | None,
    keyframe: Any,
    failure_type: str | None,
    low_level: str | None,
) -> dict[str, Any]:
    """The comparison table after any edit (a handler: ``{name: value}``, see ui/wiring.py)."""
    return {"compare": compare_html(run, human_fields(editor, success, keyframe, failure_type, low_level))}
