"""Crash-safe JSON Lines: one write + flush + fsync per line; a torn last line is ignored and cut on reopen.

A process killed mid-write can leave at most one incomplete line at the end (appends are single ``write`` calls
of one line). Readers skip it; :class:`JsonlAppender` truncates the file back to its last complete line before
appending, so a new line is never glued onto a fragment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete JSON object lines of ``path`` ([] if missing); a torn or invalid line is skipped."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        return
    with open(p, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # torn tail from a killed writer
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(obj, dict):
                yield obj


def _complete_length(path: Path) -> int:
    """Byte length of the file up to and including its last newline."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb") as fh:
        block = 1 << 16
        end = size
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            pos = chunk.rfind(b"\n")
            if pos >= 0:
                return start + pos + 1
            end = start
    return 0


class JsonlAppender:
    """Append JSON objects, one durable line each. Use as a context manager; not shared between processes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            keep = _complete_length(self.path)
            if keep != self.path.stat().st_size:
                os.truncate(self.path, keep)
        # Unbuffered descriptor: each line goes out in one write() call (looped only if the OS writes less).
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, obj: dict[str, Any]) -> None:
        line = memoryview(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
        while line:
            written = os.write(self._fd, line)
            line = line[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
