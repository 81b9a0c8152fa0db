"""Handlers return ``{name: value}``; this adapter turns that into gradio's ``{component: value}``.

Keeping names in the handlers lets tests call them directly and read results by name, without building a UI.
``functools.wraps`` keeps the signature (gradio reads it to inject ``gr.Progress``, ``gr.SelectData`` and
``gr.Request``), and a generator stays a generator, so streaming handlers still stream.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from vifailback_demo.ui.image_files import ImageFiles


def named(fn: Callable[..., Any], components: Mapping[str, Any], files: ImageFiles | None = None) -> Callable[..., Any]:
    """``fn`` returning ``{name: value}`` as a gradio handler; with ``files``, pictures go out as atomic files."""

    def convert(out: Mapping[str, Any]) -> dict[Any, Any]:
        return {
            components[name]: files.convert(value)
            if files is not None and isinstance(components[name], gr.Image | gr.Gallery)
            else value
            for name, value in out.items()
        }

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any):
            for out in fn(*args, **kwargs):
                yield convert(out)

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        return convert(fn(*args, **kwargs))

    return call


def outputs(components: Mapping[str, Any], names: list[str] | tuple[str, ...]) -> list[Any]:
    return [components[n] for n in names]
