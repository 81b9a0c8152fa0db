"""What the UI shows, computed from plain data (no gradio): gallery items, the editor picture, the symbol table,
warnings, the run summary, and the human's final version read back from the form fields.
"""

from __future__ import annotations

import html
from typing import Any

import cv2
import numpy as np

from vifailback_demo.core.dataset import AnnotationRecord
from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.editing import MOVE_TOOL, EditorState, consistency_warnings, new_state, selected_point, to_table
from vifailback_demo.render import SymbolRenderer
from vifailback_demo.store import FinalVersion
from vifailback_demo.ui.inputs import optional_whole
from vifailback_demo.ui.state import RunState, clamp_keyframe

#: Tool labels shown in the editor -> the editor's tool ids (the canonical symbol kinds, then select-and-move).
TOOL_LABELS: dict[str, str] = {
    "straight arrow": "move_arrow",
    "rotating arrow": "rotate_arrow",
    "crosshair": "crosshair",
    "dual crosshair": "dual_crosshair",
    "ON / OFF": "state",
    "lock": "lock",
    "rewind": "rewind",
    "move point": MOVE_TOOL,
}
SUCCESS_CHOICES = ("Failed", "Successful")
THUMB_SIDE = 320
KEYFRAME_RGB = (255, 196, 0)
_renderer = SymbolRenderer()


def tool_id(label: str) -> str:
    return TOOL_LABELS.get(label, label)


def thumbnail(frame: np.ndarray, mark: bool) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(1.0, THUMB_SIDE / max(h, w))
    small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if mark:  # a thick amber frame: the keyframe stands out in the strip without reading captions
        t = max(3, small.shape[1] // 40)
        small = small.copy()
        small[:t], small[-t:], small[:, :t], small[:, -t:] = KEYFRAME_RGB, KEYFRAME_RGB, KEYFRAME_RGB, KEYFRAME_RGB
    return small


def gallery_items(run: RunState, keyframe: Any) -> list[tuple[np.ndarray, str]]:
    k = clamp_keyframe(keyframe, len(run.frames))
    items = []
    for i, frame in enumerate(run.frames, start=1):
        t = f" · {run.timestamps_s[i - 1]:.1f}s" if i - 1 < len(run.timestamps_s) else ""
        caption = f"★ {i}{t}" if i == k else f"{i}{t}"  # short: a 10-column strip cuts long captions
        items.append((thumbnail(frame, i == k), caption))
    return items


def editor_image(run: RunState, editor: EditorState | None, keyframe: Any) -> np.ndarray | None:
    if not run.ready:
        return None
    base = run.frame(keyframe)
    if editor is None:
        return base
    image = _renderer.render(base, list(editor.symbols), normalized=True)
    # A ring until the second click: the first point of a two-point tool, or the point the move tool selected.
    marked = editor.pending if editor.pending is not None else selected_point(editor)
    if marked is not None:
        h, w = image.shape[:2]
        x, y = round(marked[0] * w / 1000), round(marked[1] * h / 1000)
        r = max(6, max(h, w) // 60)
        cv2.circle(image, (x, y), r + 2, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.circle(image, (x, y), r, KEYFRAME_RGB, 2, cv2.LINE_AA)
    return image


def editor_for(run: RunState, keyframe: Any, symbols: list | tuple = ()) -> EditorState:
    h, w = run.frame(keyframe).shape[:2]
    return new_state(w, h, list(symbols))


def symbols_table(editor: EditorState | None) -> list[list[Any]]:
    return to_table(list(editor.symbols)) if editor else []


def warnings_markdown(low_level: str | None, editor: EditorState | None) -> str:
    if editor is None:
        return ""
    warnings = consistency_warnings(low_level, list(editor.symbols))
    if not warnings:
        return "The command and the symbols agree." if low_level and editor.symbols else ""
    return "**Warning - the command and the symbols disagree:**\n" + "\n".join(f"- {w}" for w in warnings)


def pending_hint(editor: EditorState | None) -> str:
    if editor is None:
        return ""
    if editor.pending is not None:
        return "First point placed - click the end point."
    if editor.selected is not None:
        return "Point selected - click where it should go."
    if editor.tool == MOVE_TOOL:
        return "Move point: click a symbol's point (an arrow's end, a symbol's centre) to select it."
    return ""


def summary_markdown(d: Diagnosis) -> str:
    verdict = {
        "successful": "Result: **Successful**",
        "failed": "Result: **Failed**",
        "unparseable": "Result: **Unreadable answer**",
    }
    lines = [f"{verdict.get(d.status, d.status)} · model `{d.model}` · {d.frames.get('count', 0)} frames"]
    if d.status == "failed":
        lines.append(f"Keyframe **{d.keyframe}** · failure type **{d.failure_type or '?'}**")
    t = d.timings
    lines.append(
        f"Timings: sampling {t.get('sampling', 0):.2f} s · model {t.get('generation', 0):.2f} s · "
        f"parsing {t.get('parsing', 0) * 1000:.0f} ms · rendering {t.get('rendering', 0) * 1000:.0f} ms"
    )
    for problem in d.problems + list(d.frames.get("warnings", [])):
        if str(problem).strip():  # escaped: a warning quoting <Think> or <Answer> would vanish as an HTML tag
            lines.append(f"- warning: {html.escape(str(problem).strip())}")
    return "  \n".join(lines)


def truth_markdown(record: AnnotationRecord | None) -> str:
    """The ground truth of a bundled example or dataset episode, shown after the run beside the model's answer."""
    if record is None:
        return ""
    if not record.failed:
        return "Ground truth (annotation): **Successful**"
    kind = f" · failure type **{record.failure_type}**" if record.failure_type else ""
    return f"Ground truth (annotation): **Failed**{kind}"


def final_from_fields(
    run: RunState,
    editor: EditorState | None,
    success: str,
    keyframe: Any,
    failure_type: str | None,
    subtasks_text: str | None,
    failed_subtask: Any,
    reason: str | None,
    low_level: str | None,
    high_level: str | None,
) -> FinalVersion:
    """The human's final version (the store validates it fully before writing).

    The numbers are checked here first (:mod:`.inputs`), so a huge or non-finite value gets a message naming the
    field and its range instead of whatever the store's database driver would say about it.
    """
    ok = success == "Successful"
    subtasks = tuple(line.strip() for line in (subtasks_text or "").splitlines() if line.strip())
    symbols = () if ok or editor is None else tuple(editor.symbols)
    size = (editor.width, editor.height) if editor else None
    return FinalVersion.from_symbols(
        list(symbols),
        success=ok,
        keyframe=None if ok else optional_whole(keyframe, "keyframe", 1, max(1, len(run.frames))),
        failure_type=None if ok else (failure_type or None),
        failed_subtask=None
        if ok or not subtasks
        else optional_whole(failed_subtask, "failed subtask", 1, len(subtasks)),
        subtasks=subtasks,
        failure_reason=None if ok else (reason or None),
        low_level=None if ok else (low_level or None),
        high_level=None if ok else (high_level or None),
        image_size=size,
    )
