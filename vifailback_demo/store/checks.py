"""Checks at the store's boundary: integers and text going into SQL, and paths coming out of the database.

Why here: the UI and the CLI hand the store whatever a user typed, and their messages are shown as-is, so every
refusal is one short :class:`StoreError` line naming what was expected and what was seen. SQLite integers are
signed 64-bit; a bigger Python int makes sqlite3 raise a bare ``OverflowError``, and a very long LIKE pattern makes
SQLite fail with "pattern too complex". The database is input too: a store copied from elsewhere or edited by hand
may name any file in ``images.relpath``, so a stored path is used only after :func:`checked_image` proved it lies
inside ``<data>/images`` (the same rule, and the same helper, as paths inside dataset files).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from vifailback_demo.core.dataset import resolve_in_root
from vifailback_demo.errors import DatasetPathError, StoreError

#: The largest SQLite INTEGER (signed 64-bit); ids, revisions, offsets must fit.
MAX_SQL_INT = 2**63 - 1
#: Longest task-search text: plenty for a phrase, far below SQLite's LIKE pattern limit (50,000 bytes).
MAX_SEARCH_CHARS = 200
#: Folder (relative to the data dir) that holds every frame; stored paths must stay inside it.
IMAGES_DIR = "images"
_SHOW_CHARS = 40


def show(value: Any, width: int = _SHOW_CHARS) -> str:
    """``repr(value)`` cut to ``width`` characters, for messages; never fails, never prints a giant int in full."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # str() of a huge int is slow (and refused past 4300 digits); the size says enough.
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def checked_int(value: Any, what: str, *, lo: int = 0, hi: int = MAX_SQL_INT) -> int:
    """``value`` as an int in ``lo..hi``; bools, floats, text and out-of-range numbers are a StoreError."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and lo <= int(value) <= hi:
        return int(value)  # numpy integers are fine; they become plain ints before reaching sqlite3
    raise StoreError(f"{what}: expected a whole number from {lo} to {hi}, got {show(value)}")


def checked_id(value: Any, what: str = "record id") -> int:
    """A row id: SQLite's AUTOINCREMENT ids start at 1 and fit a signed 64-bit integer."""
    return checked_int(value, what, lo=1)


def checked_search(search: Any) -> str | None:
    """The task-search filter: None or text of at most :data:`MAX_SEARCH_CHARS` characters."""
    if search is None:
        return None
    if not isinstance(search, str):
        raise StoreError(f"search text: expected text, got {type(search).__name__}")
    if len(search) > MAX_SEARCH_CHARS:
        raise StoreError(
            f"search text: {len(search)} characters; expected at most {MAX_SEARCH_CHARS} (search for a shorter phrase)"
        )
    return search


def like_pattern(search: str) -> str:
    """A LIKE pattern matching ``search`` literally anywhere (use with ``ESCAPE '\\'``): ``50%`` finds "50%" only."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def checked_image(data_dir: str | os.PathLike, relpath: Any, *, owner: str) -> tuple[str, Path]:
    """A stored image path made safe: ``(normalised relative path, absolute path)`` inside ``data_dir/images``.

    Refused (one-line StoreError naming ``owner``, e.g. "record 7", and the path): non-text, absolute, ``..``,
    anything not under ``images/``, and paths that a symlink leads out of the images folder. The normalised path
    (``images/ab/<name>``, no ``.`` or empty parts) is what an export may write under its own folder.
    """
    images = Path(data_dir) / IMAGES_DIR
    prefix = IMAGES_DIR + "/"
    text = relpath.replace("\\", "/") if isinstance(relpath, str) else None
    try:
        if text is None or not text.startswith(prefix):
            raise DatasetPathError("not under images/")
        inner = text[len(prefix) :]
        path = resolve_in_root(images, inner, what="image")  # relative, no '..', no symlink out (shared rule)
    except DatasetPathError:
        raise StoreError(
            f"{owner}: stored image path {show(relpath, 200)} is outside the store's images folder {images} "
            "(absolute, '..', or a symlink leading out); expected images/<ab>/<sha256>.<ext> (was the database "
            "edited?)"
        ) from None
    parts = [p for p in inner.split("/") if p not in ("", ".")]
    if not parts:
        raise StoreError(f"{owner}: stored image path {show(relpath, 200)} names the images folder, not a file")
    return "/".join([IMAGES_DIR, *parts]), path
