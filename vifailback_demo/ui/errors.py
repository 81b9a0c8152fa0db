"""The one place library errors become gradio messages (DESIGN.md: only the UI does this)."""

from __future__ import annotations

import gradio as gr

from vifailback_demo.errors import ViFailbackError

#: Errors a visitor can cause and fix (bad file, bad field); their message is shown as is.
USER_ERRORS: tuple[type[Exception], ...] = (ViFailbackError, ValueError)


def as_gr_error(exc: Exception) -> gr.Error:
    return gr.Error(str(exc), duration=12)


def warn(message: str) -> None:
    gr.Warning(message, duration=8)
