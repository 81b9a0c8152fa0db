"""The Corrections tab: browse, filter, reopen, mark reviewed and export stored corrections (components + wiring).

Components go into the app's one ``{name: component}`` dict (see :mod:`.layout`); the handlers are
:class:`~vifailback_demo.ui.corrections_handlers.CorrectionsHandlers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.services import Services
from vifailback_demo.services.hub import push_enabled
from vifailback_demo.store import DECISIONS, REVIEW_STATUSES
from vifailback_demo.ui.corrections_handlers import ANY, OPEN_OUTPUTS, CorrectionsHandlers


def _hub_repo_box(auth: bool, fixed_repo: str | None) -> gr.Textbox:
    """Hidden unless this app may push (services/hub.py); the operator's fixed repo is shown read-only."""
    if fixed_repo is not None:
        label = "Hugging Face exports are also pushed to this Hub repo (set by the operator; needs HF_TOKEN)"
    else:
        label = "Push to Hub repo (namespace/name; Hugging Face format; needs HF_TOKEN on the server)"
    return gr.Textbox(
        value=fixed_repo or "",
        label=label,
        placeholder="namespace/name",
        interactive=fixed_repo is None,
        visible=push_enabled(auth, fixed_repo),
    )


def corrections_tab_contents(services: Services, c: dict[str, Any]) -> None:
    with gr.Row():
        c["f_decision"] = gr.Dropdown([ANY, *DECISIONS], value=ANY, label="Decision")
        c["f_review"] = gr.Dropdown([ANY, *REVIEW_STATUSES], value=ANY, label="Review")
        c["f_type"] = gr.Dropdown([ANY, *FAILURE_TYPES], value=ANY, label="Failure type")
        c["f_search"] = gr.Textbox(label="Task contains")
        c["refresh"] = gr.Button("Refresh")
    c["stats"] = gr.Markdown(label="Store counts", show_label=False)
    c["records"] = gr.Dataframe(
        label="Stored corrections",
        headers=["id", "created", "decision", "review", "failure type", "task", "source", "rev"],
        value=[],
        interactive=False,
        type="array",
        wrap=True,
    )
    with gr.Row():
        c["record_id"] = gr.Number(label="Record id", precision=None)
        c["reopen"] = gr.Button("Open in editor")
        c["reviewed"] = gr.Button("Mark reviewed")
    with gr.Row():
        c["export_format"] = gr.Radio(["sharegpt", "hf"], value="sharegpt", label="Export format")
        c["reviewed_only"] = gr.Checkbox(label="Reviewed only")
        c["hub_repo"] = _hub_repo_box(bool(services.config.auth), services.config.hub_repo)
        c["export"] = gr.Button("Export (zip)", variant="primary")
    c["export_out"] = gr.Markdown(label="Export message", show_label=False)
    c["export_file"] = gr.File(label="Download")


def wire_corrections(
    on: Callable[..., Any], c: dict[str, Any], cor: CorrectionsHandlers, store_kw: dict[str, Any]
) -> None:
    filters = ["f_decision", "f_review", "f_type", "f_search"]
    on(c["refresh"].click, cor.refresh, filters, ["records", "stats"], api_name="list_corrections")
    for name in filters[:3]:
        on(c[name].input, cor.refresh, filters, ["records", "stats"])
    on(c["corrections_tab"].select, cor.refresh, filters, ["records", "stats"])
    on(c["reopen"].click, cor.reopen, ["record_id"], OPEN_OUTPUTS, api_name="reopen")
    on(
        c["reviewed"].click,
        cor.mark_reviewed,
        ["record_id", *filters],
        ["records", "stats", "export_out"],
        api_name="mark_reviewed",
        **store_kw,
    )
    on(
        c["export"].click,
        cor.export,
        ["export_format", "reviewed_only", "f_type", "hub_repo"],
        ["export_file", "export_out"],
        api_name="export",
        **store_kw,
    )
