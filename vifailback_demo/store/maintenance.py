"""Crash leftovers under ``<data>/images/``: temporary files and image files that no record names.

:meth:`CorrectionsStore.add` writes its frames first (temporary file, fsync, ``os.replace``) and commits the row that
names them afterwards. A process killed in the middle therefore leaves at most

* ``images/ab/.<name>.<pid>.<thread>.tmp`` files (killed while writing a frame), and
* complete ``images/ab/<sha256>.<ext>`` files that no committed row names (killed before COMMIT).

Both are harmless (nothing reads them) but take space. :func:`scan_orphans` lists them; :func:`clean_orphans`
removes them, following these rules:

* Only files this store writes are considered: regular files under ``images/`` named ``*.tmp`` or
  ``<2 hex>/<sha256>.jpg|png|webp``. Anything else, symlinks included, is never listed or touched.
* A file is removed only when its modification time is at least ``min_age_s`` old (default one hour), so a frame
  that another thread or process is writing, or has written but not yet committed, is left alone.
* Files are removed inside a write transaction (``BEGIN IMMEDIATE``), after the references are read again and
  each file's age is checked again, so no add commits in between. ``add()`` checks its frame files again inside
  its own write transaction and rewrites one that is gone. A file that a row names is never removed.
* A shard directory (``images/ab/``) that the clean left empty is removed too. A writer whose temporary file or
  directory disappears under it (only possible with ``min_age_s=0``) writes the frame again.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vifailback_demo.errors import StoreError
from vifailback_demo.store.db import Database

#: Files younger than this are kept by default: no add takes anywhere near an hour between write and commit.
DEFAULT_MIN_AGE_S = 3600.0
TMP_SUFFIX = ".tmp"
_IMAGE_NAME = re.compile(r"([0-9a-f]{64})\.(?:jpg|png|webp)")


@dataclass(frozen=True)
class OrphanFile:
    """One leftover: ``relpath`` relative to the data directory, ``kind`` ``"tmp"`` or ``"image"``."""

    relpath: str
    kind: str
    bytes: int
    age_s: float

    def to_json(self) -> dict[str, Any]:
        return {"path": self.relpath, "kind": self.kind, "bytes": self.bytes, "age_s": round(self.age_s, 1)}


@dataclass(frozen=True)
class OrphanScan:
    """What :func:`scan_orphans` found (sorted by path); it changes nothing."""

    tmp_files: list[OrphanFile]
    unreferenced_images: list[OrphanFile]

    @property
    def files(self) -> list[OrphanFile]:
        return [*self.tmp_files, *self.unreferenced_images]

    def to_json(self) -> dict[str, Any]:
        return {
            "tmp_files": [f.to_json() for f in self.tmp_files],
            "unreferenced_images": [f.to_json() for f in self.unreferenced_images],
        }


@dataclass(frozen=True)
class CleanResult:
    """``stale``: leftovers at least ``min_age_s`` old; ``removed``: those deleted (none on a dry run, and none
    that became referenced or was touched meanwhile); ``recent``: younger leftovers, kept."""

    min_age_s: float
    dry_run: bool
    stale: list[OrphanFile]
    recent: list[OrphanFile]
    removed: list[OrphanFile]

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "min_age_s": self.min_age_s,
            "stale": [f.to_json() for f in self.stale],
            "recent": [f.to_json() for f in self.recent],
            "removed": [f.to_json() for f in self.removed],
            "removed_bytes": sum(f.bytes for f in self.removed),
        }


def check_min_age(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise StoreError(f"min age: expected a number of seconds >= 0, got {value!r:.40}")
    return float(value)


def _own_files(data_dir: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """``(relpath, kind, lstat)`` of every regular file under ``images/`` named like one this store writes."""
    images = data_dir / "images"
    for dirpath, _dirs, names in os.walk(images):  # does not follow symlinked directories
        for name in names:
            path = Path(dirpath, name)
            if name.endswith(TMP_SUFFIX):
                kind = "tmp"
            elif (m := _IMAGE_NAME.fullmatch(name)) and path.parent == images / m.group(1)[:2]:
                kind = "image"
            else:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # renamed or removed by a writer meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                yield path.relative_to(data_dir).as_posix(), kind, st


def _references(conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """Relative paths in the ``images`` table, and every hash an image row or a record names."""
    relpaths, hashes = set(), set()
    for sha, relpath in conn.execute("SELECT sha256, relpath FROM images"):
        relpaths.add(relpath)
        hashes.add(sha)
    for record_id, frames in conn.execute("SELECT id, frames FROM corrections"):
        try:
            names = json.loads(frames)
        except (TypeError, ValueError):
            names = None
        if not isinstance(names, list):  # cannot tell which files it needs: refuse rather than guess
            raise StoreError(f"record {record_id}: its frames are not a JSON list; not cleaning (check the database)")
        hashes.update(h for h in names if isinstance(h, str))
    return relpaths, hashes


def _is_referenced(relpath: str, relpaths: set[str], hashes: set[str]) -> bool:
    m = _IMAGE_NAME.fullmatch(relpath.rsplit("/", 1)[-1])
    return relpath in relpaths or (m is not None and m.group(1) in hashes)


def scan_orphans(db: Database, data_dir: Path) -> OrphanScan:
    """Temporary files and unreferenced images under ``data_dir/images``, with their size and age; read-only."""
    now = time.time()
    found = list(_own_files(data_dir))  # files first: a row committed after the walk only hides a candidate
    relpaths, hashes = db.read(_references)
    tmp, images = [], []
    for relpath, kind, st in sorted(found):
        leftover = OrphanFile(relpath, kind, st.st_size, now - st.st_mtime)
        if kind == "tmp":
            tmp.append(leftover)
        elif not _is_referenced(relpath, relpaths, hashes):
            images.append(leftover)
    return OrphanScan(tmp, images)


def _remove_empty_shards(data_dir: Path, removed: set[str]) -> None:
    """Remove the ``images/ab/`` directories this clean emptied; a writer that loses its directory recreates it."""
    for shard in sorted({(data_dir / r).parent for r in removed}):
        if shard.parent != data_dir / "images" or shard.is_symlink():
            continue
        try:
            shard.rmdir()  # only succeeds when empty
        except OSError:
            continue


def clean_orphans(
    db: Database, data_dir: Path, *, min_age_s: float = DEFAULT_MIN_AGE_S, dry_run: bool = False
) -> CleanResult:
    """Remove the leftovers at least ``min_age_s`` old (see the module docstring); ``dry_run`` removes nothing."""
    min_age_s = check_min_age(min_age_s)
    scan = scan_orphans(db, data_dir)
    stale = [f for f in scan.files if f.age_s >= min_age_s]
    recent = [f for f in scan.files if f.age_s < min_age_s]
    if dry_run or not stale:
        return CleanResult(min_age_s, dry_run, stale, recent, [])

    def remove(conn: sqlite3.Connection) -> list[OrphanFile]:
        relpaths, hashes = _references(conn)  # under the write lock: no add can commit until we are done
        removed = []
        for leftover in stale:
            if leftover.kind == "image" and _is_referenced(leftover.relpath, relpaths, hashes):
                continue
            path = data_dir / leftover.relpath
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or time.time() - st.st_mtime < min_age_s:
                    continue  # replaced or rewritten since the scan
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(leftover)
        _remove_empty_shards(data_dir, {f.relpath for f in removed})
        return removed

    return CleanResult(min_age_s, dry_run, stale, recent, db.write(remove))
