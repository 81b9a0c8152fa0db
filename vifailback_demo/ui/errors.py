"""The one place library errors become gradio messages (only the UI does this).

Every message a client sees goes through :func:`public_text`: one line, at most :data:`MAX_MESSAGE_CHARS`, and with
server paths cut to their file name. A visitor named their upload ``clip.mp4``; where gradio put it
(``/tmp/gradio/<hash>/clip.mp4``), where the data directory lives and what the temp dir is called are not theirs to
know, and a library message (PyAV quotes the full path it failed to open) must not tell them.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePath

import gradio as gr

from vifailback_demo.errors import ViFailbackError

#: Errors a visitor can cause and fix (bad file, bad field); their message is shown (one line, paths cut).
USER_ERRORS: tuple[type[Exception], ...] = (ViFailbackError, ValueError)
MAX_MESSAGE_CHARS = 400
#: What a client sees for an exception that is not a user error (a bug): the traceback goes to the server log.
INTERNAL_ERROR = "Something went wrong on the server; nothing more is shown here (the server log has the details)."

log = logging.getLogger(__name__)
# An absolute POSIX path (two or more parts) or a Windows drive path, not a URL's "//host/..." nor "a/b".
_ABS_PATH = re.compile(r"(?<![\w.~:/\\-])(?:/[^\s'\"`/]+){2,}/?|\b[A-Za-z]:\\[^\s'\"`]+")
#: Folders whose paths are cut even when they contain spaces (the regex stops at a space).
_PRIVATE_ROOTS: set[str] = {tempfile.gettempdir()}


def hide_paths_under(*roots: str | os.PathLike | None) -> None:
    """Register folders (the data dir, gradio's cache) whose paths are never shown, whatever their spelling."""
    for root in roots:
        if root:
            _PRIVATE_ROOTS.update({str(root), str(Path(root).resolve())})


def public_text(
    text: object, paths: Iterable[str | os.PathLike | None] = (), *, max_chars: int | None = MAX_MESSAGE_CHARS
) -> str:
    """``text`` as one line without server paths: ``paths`` (e.g. the upload) and any absolute path -> file name."""
    out = str(text)
    for path in sorted({str(p) for p in paths if p}, key=len, reverse=True):
        out = out.replace(path, PurePath(path).name)  # exact first: a file name may contain spaces
    for root in sorted(_PRIVATE_ROOTS, key=len, reverse=True):
        pattern = r"(?<![\w.~/\\-])" + re.escape(root.rstrip("/\\")) + r"(?![^/\\\s'\"`:;,)])[/\\]?([^\s'\"`]*)"
        out = re.sub(pattern, lambda m: PurePath(m[1]).name, out)
    out = _ABS_PATH.sub(lambda m: PurePath(m[0].replace("\\", "/")).name, out)
    out = " ".join(out.split())
    return out if max_chars is None or len(out) <= max_chars else out[: max_chars - 3] + "..."


def as_gr_error(exc: Exception, *paths: str | os.PathLike | None) -> gr.Error:
    """A user error as a gradio error: the library's message, one line, ``paths`` and other server paths cut."""
    return gr.Error(public_text(exc, paths), duration=12)


def clean_gr_error(exc: gr.Error) -> gr.Error:
    """A handler's own ``gr.Error`` with its message made public (one line, no paths); the same object."""
    exc.message = public_text(exc.message)
    exc.args = (exc.message, *exc.args[1:])
    return exc


def internal_error(exc: BaseException, where: str) -> gr.Error:
    """A bug: log it with its traceback, show the client a fixed line (no raw Python or SQLite message)."""
    log.error("unexpected error in %s", where, exc_info=exc)
    return gr.Error(INTERNAL_ERROR, duration=12)


def warn(message: str) -> None:
    gr.Warning(public_text(message), duration=8)
