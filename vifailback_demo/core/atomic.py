"""Atomic writes: a file (or a directory) is built under a temporary sibling name and renamed into place whole.

A reader sees the old version or the new one, never half a file: the bytes go to ``.<name>.<pid>.<thread>.tmp``
in the same directory (same file system, so :func:`os.replace` is one atomic rename), and a failure before the
rename removes the temporary file and leaves an existing target untouched. Names that start with a dot and end in
``.tmp`` are what the store's ``vifailback corrections clean`` recognises as a killed write's leftovers.

* :func:`atomic_open` -- ``with atomic_open(path, "w", encoding="utf-8") as fh: ...``: the file appears on a clean
  exit from the block; on an exception it does not.
* :func:`write_bytes_atomic` / :func:`write_text_atomic` -- the one-call forms.
* :class:`AtomicFile` -- for writers that keep the file open across calls or let a library write to a path
  (``JsonListStream``, the H.264 ``VideoWriter``): ``.tmp`` is the path to write, ``commit()`` renames it into
  place, ``discard()`` removes it.
* :func:`atomic_directory` -- the same for a whole directory (exports, model directories).

Durability is a separate, per-caller choice. ``fsync=True`` flushes the file's bytes to the disk *before* the
rename, so that even after a power cut the name never shows a short or empty file; ``fsync_dir=True`` also flushes
the directory *after* the rename, so that the new name itself survives a power cut. Both cost a disk flush each, so
a writer asks for them only where losing or tearing the file after a power cut matters:

* the corrections store's frames (``store/images.py``): ``fsync`` and ``fsync_dir`` (with the store's default
  ``durability="full"``): a database row that names a frame commits only after the frame is durably on disk, or a
  power cut could leave a committed correction pointing at a missing or empty file;
* ``write_json_atomic`` (``core/dataset.py``): ``fsync`` (the file, not the directory), as it always did: it
  writes small JSON such as run manifests (``run.json``, whose loss would break resuming an eval run), annotation
  and report JSON, for which a torn file is worse than a missing one;
* the outbox (``services/outbox.py``): ``fsync`` for both the PNG and the JSON: a policy runtime polls the folder
  for ``*.json``, and after a power cut it must never read an empty JSON or a JSON whose picture is empty. No
  directory flush: a pair lost that way is still in the store and can be sent again;
* exports (``store/export.py``) and model directories (``training/model_output.py``): the directory rename only,
  no flush of every file: both can be rebuilt (from the store, from the training run), and flushing gigabytes of
  weights file by file would slow every save; the JSON inside still goes through ``write_json_atomic``;
* eval reports (``eval/report.py`` CSV, Markdown, PNG): none; ``python -m eval score`` rewrites them from
  ``samples.jsonl``;
* pictures and videos (``imageio.write_image_rgb`` by default, the UI's picture cache ``ui/image_files.py``,
  ``video/writer.py``, the simulator's ``JsonListStream``): none. They are caches or generated data that a rerun
  rebuilds, and a simulator run writes thousands of them.

File permissions are those of a plain ``open()`` (``0666`` less the umask) unless ``private=True`` asks for
``0600`` (the outbox's JSON, as it has always been written).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "AtomicFile",
    "atomic_directory",
    "atomic_open",
    "fsync_directory",
    "temp_sibling",
    "write_bytes_atomic",
    "write_text_atomic",
]

TMP_SUFFIX = ".tmp"


def temp_sibling(path: str | os.PathLike, suffix: str = "") -> Path:
    """``.<name>.<pid>.<thread>.tmp<suffix>`` beside ``path``: unique per writing thread, hidden, and recognisable."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}{suffix}")


def fsync_directory(path: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename inside it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A temporary sibling ``tmp`` of ``path`` that :meth:`commit` renames into place and :meth:`discard` removes.

    Write ``tmp`` yourself (or through :meth:`open`), then call exactly one of them; as a context manager it
    commits on a clean exit and discards on an exception. The parent directory is created when missing.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fsync: bool = False,
        fsync_dir: bool = False,
        private: bool = False,
        suffix: str = "",
    ) -> None:
        self.path = Path(path)
        self.fsync, self.fsync_dir, self.private = fsync, fsync_dir, private
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_sibling(self.path, suffix)

    def open(self, mode: str = "w", *, encoding: str | None = None) -> IO[Any]:
        """Create (or truncate) ``tmp`` and open it for writing (``"w"`` or ``"wb"``)."""
        if mode not in ("w", "wb"):
            raise ValueError(f"AtomicFile.open: mode must be 'w' or 'wb', got {mode!r}")
        perms = 0o600 if self.private else 0o666
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, perms)
        try:
            if self.private:
                os.fchmod(fd, 0o600)  # also when a leftover of an earlier run had other permissions
            return os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None)
        except BaseException:
            os.close(fd)
            raise

    def commit(self) -> Path:
        """Move the finished ``tmp`` into place (flushed first / after as configured); returns ``path``."""
        try:
            if self.fsync:
                _fsync_file(self.tmp)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        if self.fsync_dir:
            fsync_directory(self.path.parent)
        return self.path

    def discard(self) -> None:
        """Remove ``tmp`` (if it is there); the target is not touched."""
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


@contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "w",
    *,
    encoding: str | None = None,
    fsync: bool = False,
    fsync_dir: bool = False,
    private: bool = False,
) -> Iterator[IO[Any]]:
    """Write ``path`` through the yielded file object; it replaces ``path`` only when the block ends cleanly."""
    target = AtomicFile(path, fsync=False, fsync_dir=fsync_dir, private=private)
    try:
        with target.open(mode, encoding=encoding) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        target.discard()
        raise
    target.commit()


def write_bytes_atomic(
    path: str | os.PathLike, data: bytes, *, fsync: bool = False, fsync_dir: bool = False, private: bool = False
) -> Path:
    with atomic_open(path, "wb", fsync=fsync, fsync_dir=fsync_dir, private=private) as fh:
        fh.write(data)
    return Path(path)


def write_text_atomic(
    path: str | os.PathLike,
    text: str,
    *,
    encoding: str = "utf-8",
    fsync: bool = False,
    fsync_dir: bool = False,
    private: bool = False,
) -> Path:
    with atomic_open(path, "w", encoding=encoding, fsync=fsync, fsync_dir=fsync_dir, private=private) as fh:
        fh.write(text)
    return Path(path)


@contextmanager
def atomic_directory(out: str | os.PathLike, *, tmp_name: str | None = None) -> Iterator[Path]:
    """Yield a new temporary directory beside ``out``; when the block ends cleanly it becomes ``out`` in one rename.

    An existing ``out`` is moved aside first and removed after (put back if the rename fails); on an exception the
    temporary directory is removed and ``out`` is untouched. ``tmp_name`` fixes the temporary directory's name
    (removed first when a killed run left it), so that leftovers of large outputs do not pile up; by default the
    name is ``.<out>.<random>.tmp``. The caller checks whether replacing ``out`` is allowed. No fsync (see the
    module docstring).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tmp_name is not None:
        tmp = out.with_name(tmp_name)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=TMP_SUFFIX, dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
