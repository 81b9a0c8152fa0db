"""The corrections store: every human accept/reject/edit of a diagnosis, kept safely for training data.

One data directory (``VIFAILBACK_DATA_DIR``, default ``./vifailback_data``) holds ``corrections.sqlite3`` (WAL)
and ``images/``. A method returns only after its transaction committed, so whatever it acknowledged survives a
kill -9 at any later moment. Input is checked completely before the first byte is written: bad input raises
:class:`StoreError` / :class:`SymbolError` and changes nothing.

This module holds the store's life cycle and its writes; reads are in :mod:`~vifailback_demo.store.queries`, the
SQLite schema and transactions in :mod:`~vifailback_demo.store.db`, image files in
:mod:`~vifailback_demo.store.images`, crash-leftover cleaning in :mod:`~vifailback_demo.store.maintenance`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vifailback_demo.errors import StoreError
from vifailback_demo.store import maintenance
from vifailback_demo.store.checks import checked_id, checked_int, show
from vifailback_demo.store.db import DB_FILE, Database
from vifailback_demo.store.images import ImageStore, PreparedImage, prepare_image
from vifailback_demo.store.maintenance import DEFAULT_MIN_AGE_S, CleanResult, OrphanScan
from vifailback_demo.store.queries import MAX_PAGE, Page, RecordQueries, Revision
from vifailback_demo.store.records import DECISIONS, MAX_TEXT_CHARS, CorrectionRecord, FinalVersion, NewCorrection

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "MAX_PAGE",
    "CorrectionsStore",
    "Page",
    "Revision",
    "default_data_dir",
    "with_final",
]

DATA_DIR_ENV = "VIFAILBACK_DATA_DIR"
DEFAULT_DATA_DIR = "vifailback_data"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class CorrectionsStore(RecordQueries):
    """SQLite + content-addressed frames. Share one instance between threads; each process opens its own."""

    def __init__(
        self, data_dir: str | os.PathLike | None = None, *, durability: str = "full", create: bool = True
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        if create:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        elif not self.data_dir.is_dir():
            raise StoreError(f"no corrections store at {self.data_dir}; expected a data directory (--data-dir)")
        self.db = Database(self.data_dir / DB_FILE, durability=durability, create=create)
        self.images = ImageStore(self.data_dir, fsync=durability == "full")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CorrectionsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------------------------

    def add(self, item: NewCorrection, *, also: Callable[[sqlite3.Connection, int], None] | None = None) -> int:
        """Store one correction; returns its id only after the transaction committed.

        ``also(conn, record_id)`` runs inside the same transaction (the review queue marks its clip done there):
        the record and that change commit together or not at all.
        """
        item.check_fields()
        prepared = [prepare_image(f, what=f"frame {i}") for i, f in enumerate(item.frames, start=1)]
        final = self._validated_final(item.final, prepared) if item.final is not None else None
        for image in prepared:  # files first: a committed row never names a missing file
            self.images.put(image)
        now = _now()
        final_json = json.dumps(final.to_json()) if final else None

        def insert(conn: sqlite3.Connection) -> int:
            # Again under the write lock: clean_orphans() may have removed a file that put() found unreferenced
            # just above; it deletes only inside a write transaction, so a file present now stays until COMMIT.
            for image in prepared:
                self.images.put(image)
            conn.executemany(
                "INSERT OR IGNORE INTO images (sha256, relpath, width, height, bytes) VALUES (?, ?, ?, ?, ?)",
                [(p.sha256, p.relpath, p.width, p.height, len(p.data)) for p in prepared],
            )
            cur = conn.execute(
                "INSERT INTO corrections (created_at, updated_at, who, source_kind, source_ref, task, mode, frames, "
                "model_output, model_diagnosis, final, failure_type, decision, review_status, notes, revision) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    now,
                    now,
                    item.who,
                    item.source_kind,
                    item.source_ref,
                    item.task.strip(),
                    item.mode,
                    json.dumps([p.sha256 for p in prepared]),
                    item.model_output,
                    json.dumps(item.model_diagnosis) if item.model_diagnosis is not None else None,
                    final_json,
                    final.failure_type if final else None,
                    item.decision,
                    item.review_status,
                    item.notes,
                ),
            )
            record_id = int(cur.lastrowid)
            self._log(
                conn, record_id, 1, "create", now, item.who, final_json, item.decision, item.review_status, item.notes
            )
            if also is not None:
                also(conn, record_id)
            return record_id

        return self.db.write(insert)

    @staticmethod
    def _validated_final(final: FinalVersion, frames: list[PreparedImage]) -> FinalVersion:
        if not isinstance(final, FinalVersion):
            raise StoreError(f"final version: expected a FinalVersion, got {type(final).__name__}")
        key = (
            frames[final.keyframe - 1]
            if isinstance(final.keyframe, int) and 1 <= final.keyframe <= len(frames)
            else frames[0]
        )
        return final.validated(len(frames), default_size=(key.width, key.height))

    @staticmethod
    def _log(
        conn: sqlite3.Connection,
        record_id: int,
        revision: int,
        action: str,
        when: str,
        who: str,
        final_json: str | None,
        decision: str,
        status: str,
        notes: str,
    ) -> None:
        conn.execute(
            "INSERT INTO revisions (correction_id, revision, action, changed_at, who, final, decision, "
            "review_status, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record_id, revision, action, when, who, final_json, decision, status, notes),
        )

    def update_final(
        self,
        record_id: int,
        final: FinalVersion,
        *,
        who: str = "",
        decision: str | None = None,
        notes: str | None = None,
    ) -> CorrectionRecord:
        """Re-edit: store a new final version (and optionally decision/notes); the old one stays in history."""
        record_id = checked_id(record_id)
        if not isinstance(final, FinalVersion):
            raise StoreError(f"final version: expected a FinalVersion, got {type(final).__name__}")
        if decision is not None and decision not in DECISIONS:
            raise StoreError(f"decision: expected one of {list(DECISIONS)}, got {decision!r:.60}")
        _check_text(who, "who")
        if notes is not None:
            _check_text(notes, "notes")
        current = self.get(record_id)
        sizes = self._frame_sizes(current.frames)
        size = (
            sizes[final.keyframe - 1]
            if isinstance(final.keyframe, int) and 1 <= final.keyframe <= len(sizes)
            else sizes[0]
        )
        checked = final.validated(len(current.frames), default_size=size)
        final_json = json.dumps(checked.to_json())
        now = _now()

        def edit(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT revision, decision, notes, review_status FROM corrections WHERE id = ?", (record_id,)
            ).fetchone()
            # A hand-edited row could hold the largest SQLite integer: a clear error rather than an OverflowError.
            revision = checked_int(row[0] + 1, f"record {record_id} revision", lo=1)
            new_decision = decision or row[1]
            new_notes = row[2] if notes is None else notes
            conn.execute(
                "UPDATE corrections SET final = ?, failure_type = ?, decision = ?, notes = ?, revision = ?, "
                "updated_at = ? WHERE id = ?",
                (final_json, checked.failure_type, new_decision, new_notes, revision, now, record_id),
            )
            self._log(conn, record_id, revision, "edit", now, who, final_json, new_decision, row[3], new_notes)

        self.db.write(edit)
        return self.get(record_id)

    def mark_reviewed(self, record_id: int, *, who: str = "", reviewed: bool = True) -> CorrectionRecord:
        record_id = checked_id(record_id)
        if not isinstance(reviewed, bool):
            raise StoreError(f"reviewed: expected true or false, got {show(reviewed)}")
        _check_text(who, "who")
        status = "reviewed" if reviewed else "unreviewed"
        self.get(record_id)  # a clear error for an unknown id
        now = _now()

        def review(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT revision, final, decision, notes FROM corrections WHERE id = ?", (record_id,)
            ).fetchone()
            conn.execute(
                "UPDATE corrections SET review_status = ?, updated_at = ? WHERE id = ?", (status, now, record_id)
            )
            self._log(conn, record_id, row[0], f"review:{status}", now, who, row[1], row[2], status, row[3])

        self.db.write(review)
        return self.get(record_id)

    def update_notes(self, record_id: int, notes: str, *, who: str = "") -> CorrectionRecord:
        """Change only a record's notes (a new revision, action ``"notes"``); final, decision and review status stay.

        The one way to annotate a record without a final version (rejected or skipped), e.g. with a live run's
        outcome; the old notes stay in :meth:`history`.
        """
        record_id = checked_id(record_id)
        _check_text(notes, "notes")
        _check_text(who, "who")
        self.get(record_id)  # a clear error for an unknown id
        now = _now()

        def annotate(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT revision, final, decision, review_status FROM corrections WHERE id = ?", (record_id,)
            ).fetchone()
            if row is None:  # no delete exists today; a clear error should one appear
                raise StoreError(f"no correction with id {record_id}; expected an id from list()")
            revision = checked_int(row[0] + 1, f"record {record_id} revision", lo=1)
            conn.execute(
                "UPDATE corrections SET notes = ?, revision = ?, updated_at = ? WHERE id = ?",
                (notes, revision, now, record_id),
            )
            self._log(conn, record_id, revision, "notes", now, who, row[1], row[2], row[3], notes)

        self.db.write(annotate)
        return self.get(record_id)

    def ids_by_source(self, kind: str, ref: str) -> list[int]:
        """Ids of the records with exactly this source (kind and ref), oldest first; [] when there are none.

        Lets a writer that may run twice (a live run recorded as it goes, then once more at its end) find what it
        already stored. A table scan (``source_ref`` has no index): fine for the store's sizes, not for a hot loop.
        """
        _check_text(kind, "source kind")
        _check_text(ref, "source ref")
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT id FROM corrections WHERE source_kind = ? AND source_ref = ? ORDER BY id", (kind, ref)
            ).fetchall()
        )
        return [int(r[0]) for r in rows]

    # --- files ---------------------------------------------------------------------------------------------------

    def frame_path(self, relpath: str, *, owner: str = "image") -> Path:
        """The file of a stored relative path, refused (StoreError) unless it lies inside ``images/``."""
        return self.images.path(relpath, owner=owner)

    def frame_paths(self, record: CorrectionRecord) -> list[tuple[str, Path]]:
        """``(safe relative path, existing file)`` for each of a record's frames, in model order.

        Every reader of a record's images goes through here: a path edited in the database to point outside
        ``images/`` (or a missing file) is a one-line StoreError naming the record, and nothing is read.
        """
        if not isinstance(record, CorrectionRecord):
            raise StoreError(f"record: expected a CorrectionRecord, got {type(record).__name__}")
        return [self.images.checked(rel, owner=f"record {record.id}") for rel in record.frame_files]

    def scan_orphans(self) -> OrphanScan:
        """Crash leftovers under ``images/``: temporary files and images no record names; changes nothing."""
        return maintenance.scan_orphans(self.db, self.data_dir)

    def clean_orphans(self, *, min_age_s: float = DEFAULT_MIN_AGE_S, dry_run: bool = False) -> CleanResult:
        """Remove crash leftovers at least ``min_age_s`` old (never a file a record names; see ``maintenance``)."""
        return maintenance.clean_orphans(self.db, self.data_dir, min_age_s=min_age_s, dry_run=dry_run)


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise StoreError(f"{what}: expected text, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise StoreError(f"{what}: {len(value)} characters; expected at most {MAX_TEXT_CHARS}")


def with_final(record: CorrectionRecord, **changes: Any) -> FinalVersion:
    """A copy of the record's final version with some fields changed (for re-edits)."""
    if record.final is None:
        raise StoreError(f"record {record.id} has no final version to change")
    return replace(record.final, **changes)
