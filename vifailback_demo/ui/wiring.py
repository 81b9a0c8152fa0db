"""Handlers return ``{name: value}``; this adapter turns that into gradio's ``{component: value}``.

Keeping names in the handlers lets tests call them directly and read results by name, without building a UI.
``functools.wraps`` keeps the signature (gradio reads it to inject ``gr.Progress``, ``gr.SelectData`` and
``gr.Request``), and a generator stays a generator, so streaming handlers still stream.

Two rules hold for every wired handler, so no single handler can forget them:

- ``{}`` means "change nothing" (a handler that only warned). Gradio 6 refuses an empty dict ("didn't return
  enough output values"), so it goes out as ``gr.skip()``: every output keeps its value.
- What a client sees of an error is public: user errors as one line without server paths (``ui/errors.py``), and
  anything else (a bug: OverflowError, a raw SQLite message) as a fixed line, with the traceback in the log.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error, clean_gr_error, internal_error
from vifailback_demo.ui.image_files import ImageFiles


def _public(exc: Exception, where: str) -> gr.Error:
    if isinstance(exc, gr.Error):
        return clean_gr_error(exc)
    if isinstance(exc, USER_ERRORS):
        return as_gr_error(exc)
    return internal_error(exc, where)


def named(fn: Callable[..., Any], components: Mapping[str, Any], files: ImageFiles | None = None) -> Callable[..., Any]:
    """``fn`` returning ``{name: value}`` as a gradio handler; with ``files``, pictures go out as atomic files."""
    where = getattr(fn, "__qualname__", repr(fn))

    def convert(out: Mapping[str, Any]) -> Any:
        if not out:
            return gr.skip()
        return {
            components[name]: files.convert(value)
            if files is not None and isinstance(components[name], gr.Image | gr.Gallery)
            else value
            for name, value in out.items()
        }

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any):
            try:
                for out in fn(*args, **kwargs):
                    yield convert(out)
            except Exception as exc:
                raise _public(exc, where) from None

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return convert(fn(*args, **kwargs))
        except Exception as exc:
            raise _public(exc, where) from None

    return call


def outputs(components: Mapping[str, Any], names: list[str] | tuple[str, ...]) -> list[Any]:
    return [components[n] for n in names]
