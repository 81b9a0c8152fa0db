"""The Corrections tab: browse (table + keyframe thumbnails), filter, reopen (button, row or thumbnail click), mark
reviewed, export, and see how often reviewers of the same clip agree (components + wiring).

Components go into the app's one ``{name: component}`` dict (see :mod:`.layout`); the handlers are
:class:`~vifailback_demo.ui.corrections_handlers.CorrectionsHandlers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.services import Services
from vifailback_demo.services.agreement import COLUMNS as AGREEMENT_COLUMNS
from vifailback_demo.services.hub import push_enabled
from vifailback_demo.store import DECISIONS, REVIEW_STATUSES
from vifailback_demo.ui.corrections_handlers import (
    ANY,
    LIST_OUTPUTS,
    OPEN_OUTPUTS,
    SELECT_OUTPUTS,
    CorrectionsHandlers,
)


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
    c["record_thumbs"] = gr.Gallery(
        label="Keyframes of the listed records (newest first) - click one to open it",
        columns=10,
        height=170,  # one row; more records scroll
        allow_preview=False,
        object_fit="contain",
        elem_id="record-thumbs",
    )
    c["thumb_ids"] = gr.State([])  # the record id of each thumbnail, in gallery order (a click gives the index)
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
    with gr.Accordion("Reviewer agreement", open=False):
        c["agreement_md"] = gr.Markdown(label="Agreement summary", show_label=False, elem_id="agreement-summary")
        c["agreement_table"] = gr.Dataframe(
            label="One row per clip and pair of reviewers (values as first reviewer / second reviewer)",
            headers=list(AGREEMENT_COLUMNS),
            value=[],
            interactive=False,
            type="array",
            wrap=True,
        )
        c["agreement_refresh"] = gr.Button("Refresh agreement")


def wire_corrections(
    on: Callable[..., Any], c: dict[str, Any], cor: CorrectionsHandlers, store_kw: dict[str, Any]
) -> None:
    filters = ["f_decision", "f_review", "f_type", "f_search"]
    on(c["refresh"].click, cor.refresh, filters, LIST_OUTPUTS, api_name="list_corrections")
    on(c["f_search"].submit, cor.refresh, filters, LIST_OUTPUTS, api_name="filter_corrections")  # Enter
    for name in filters[:3]:
        on(c[name].input, cor.refresh, filters, LIST_OUTPUTS)
    on(c["corrections_tab"].select, cor.refresh, filters, LIST_OUTPUTS)
    on(c["reopen"].click, cor.reopen, ["record_id"], OPEN_OUTPUTS, api_name="reopen")
    on(c["records"].select, cor.open_row, [], SELECT_OUTPUTS)
    on(c["record_thumbs"].select, cor.open_thumb, ["thumb_ids"], SELECT_OUTPUTS)
    on(c["agreement_refresh"].click, cor.agreement, [], ["agreement_md", "agreement_table"], api_name="agreement")
    on(
        c["reviewed"].click,
        cor.mark_reviewed,
        ["record_id", *filters],
        [*LIST_OUTPUTS[:2], "export_out", *LIST_OUTPUTS[2:]],  # the message stays third, as clients had it
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
