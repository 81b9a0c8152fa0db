"""The corrections store: every human accept/reject/edit of a diagnosis, kept safely for training data.

One data directory (``VIFAILBACK_DATA_DIR``, default ``./vifailback_data``) holds ``corrections.sqlite3`` (WAL)
and ``images/``. A method returns only after its transaction committed, so whatever it acknowledged survives a
kill -9 at any later moment. Input is checked completely before the first byte is written: bad input raises
:class:`StoreError` / :class:`SymbolError` and changes nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.errors import StoreError
from vifailback_demo.store.db import DB_FILE, Database
from vifailback_demo.store.images import ImageStore, PreparedImage, prepare_image
from vifailback_demo.store.records import (
    DECISIONS,
    REVIEW_STATUSES,
    CorrectionRecord,
    FinalVersion,
    NewCorrection,
    Source,
)

DATA_DIR_ENV = "VIFAILBACK_DATA_DIR"
DEFAULT_DATA_DIR = "vifailback_data"
MAX_PAGE = 1000


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Page:
    """One page of :meth:`CorrectionsStore.list` results plus the total matching the filters."""

    records: list[CorrectionRecord]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Revision:
    revision: int
    action: str
    changed_at: str
    who: str
    final: FinalVersion | None
    decision: str
    review_status: str
    notes: str


class CorrectionsStore:
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

    def add(self, item: NewCorrection) -> int:
        """Store one correction; returns its id only after the transaction committed."""
        item.check_fields()
        prepared = [prepare_image(f, what=f"frame {i}") for i, f in enumerate(item.frames, start=1)]
        final = self._validated_final(item.final, prepared) if item.final is not None else None
        for image in prepared:  # files first: a committed row never names a missing file
            self.images.put(image)
        now = _now()
        final_json = json.dumps(final.to_json()) if final else None

        def insert(conn: sqlite3.Connection) -> int:
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
        if decision is not None and decision not in DECISIONS:
            raise StoreError(f"decision: expected one of {list(DECISIONS)}, got {decision!r:.60}")
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
            revision = row[0] + 1
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

    # --- reading -------------------------------------------------------------------------------------------------

    _COLUMNS = (
        "id, created_at, updated_at, who, source_kind, source_ref, task, mode, frames, model_output, "
        "model_diagnosis, final, decision, review_status, notes, revision"
    )

    def _row_to_record(self, conn: sqlite3.Connection, row: tuple) -> CorrectionRecord:
        frames = tuple(json.loads(row[8]))
        paths = dict(
            conn.execute(
                f"SELECT sha256, relpath FROM images WHERE sha256 IN ({','.join('?' * len(set(frames)))})",
                tuple(set(frames)),
            ).fetchall()
        )
        return CorrectionRecord(
            id=row[0],
            created_at=row[1],
            updated_at=row[2],
            who=row[3],
            source=Source(row[4], row[5]),
            task=row[6],
            mode=row[7],
            frames=frames,
            model_output=row[9],
            model_diagnosis=json.loads(row[10]) if row[10] else None,
            final=FinalVersion.from_json(json.loads(row[11])) if row[11] else None,
            decision=row[12],
            review_status=row[13],
            notes=row[14],
            revision=row[15],
            frame_files=tuple(paths[h] for h in frames),
        )

    def get(self, record_id: int) -> CorrectionRecord:
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise StoreError(f"record id: expected an integer, got {record_id!r:.40}")

        def fetch(conn: sqlite3.Connection) -> CorrectionRecord | None:
            row = conn.execute(f"SELECT {self._COLUMNS} FROM corrections WHERE id = ?", (record_id,)).fetchone()
            return self._row_to_record(conn, row) if row else None

        record = self.db.read(fetch)
        if record is None:
            raise StoreError(f"no correction with id {record_id}; expected an id from list()")
        return record

    @staticmethod
    def _where(
        decision: str | None, review_status: str | None, failure_type: str | None, search: str | None
    ) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if decision is not None:
            if decision not in DECISIONS:
                raise StoreError(f"decision filter: expected one of {list(DECISIONS)}, got {decision!r:.40}")
            clauses.append("decision = ?")
            params.append(decision)
        if review_status is not None:
            if review_status not in REVIEW_STATUSES:
                raise StoreError(f"review filter: expected one of {list(REVIEW_STATUSES)}, got {review_status!r:.40}")
            clauses.append("review_status = ?")
            params.append(review_status)
        if failure_type is not None:
            if failure_type not in FAILURE_TYPES:
                raise StoreError(
                    f"failure type filter: expected one of {list(FAILURE_TYPES)}, got {failure_type!r:.40}"
                )
            clauses.append("failure_type = ?")
            params.append(failure_type)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("task LIKE ? ESCAPE '\\'")  # LIKE is case-insensitive for ASCII
            params.append(f"%{escaped}%")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list(
        self,
        *,
        decision: str | None = None,
        review_status: str | None = None,
        failure_type: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> Page:
        """Filtered records, one page at a time (``total`` counts every match)."""
        if not (isinstance(offset, int) and offset >= 0 and isinstance(limit, int) and 1 <= limit <= MAX_PAGE):
            raise StoreError(f"pagination: expected offset >= 0 and 1 <= limit <= {MAX_PAGE}, got {offset}, {limit}")
        where, params = self._where(decision, review_status, failure_type, search)
        order = "DESC" if newest_first else "ASC"

        def fetch(conn: sqlite3.Connection) -> Page:
            total = conn.execute(f"SELECT COUNT(*) FROM corrections{where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {self._COLUMNS} FROM corrections{where} ORDER BY id {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return Page([self._row_to_record(conn, r) for r in rows], total, offset, limit)

        return self.db.read(fetch)

    def iter_records(self, **filters: Any):
        """Every matching record, oldest first, page by page (for exports)."""
        offset = 0
        while True:
            page = self.list(offset=offset, limit=200, newest_first=False, **filters)
            yield from page.records
            offset += len(page.records)
            if not page.records or offset >= page.total:
                return

    def history(self, record_id: int) -> list[Revision]:
        """Every version of a record, oldest first (creation, each edit, each review)."""
        self.get(record_id)
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT revision, action, changed_at, who, final, decision, review_status, notes FROM revisions "
                "WHERE correction_id = ? ORDER BY id",
                (record_id,),
            ).fetchall()
        )
        return [
            Revision(r[0], r[1], r[2], r[3], FinalVersion.from_json(json.loads(r[4])) if r[4] else None, *r[5:])
            for r in rows
        ]

    def count(self, **filters: Any) -> int:
        where, params = self._where(
            **{k: filters.get(k) for k in ("decision", "review_status", "failure_type", "search")}
        )
        return self.db.read(lambda c: c.execute(f"SELECT COUNT(*) FROM corrections{where}", params).fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Counts by failure type (successes and unknown types as ``"none"``), decision and review status."""

        def fetch(conn: sqlite3.Connection) -> dict[str, Any]:
            def grouped(column: str) -> dict[str, int]:
                rows = conn.execute(f"SELECT COALESCE({column}, 'none'), COUNT(*) FROM corrections GROUP BY 1")
                return dict(rows.fetchall())

            return {
                "total": conn.execute("SELECT COUNT(*) FROM corrections").fetchone()[0],
                "by_failure_type": grouped("failure_type"),
                "by_decision": grouped("decision"),
                "by_review_status": grouped("review_status"),
                "images": conn.execute("SELECT COUNT(*) FROM images").fetchone()[0],
            }

        return self.db.read(fetch)

    def _frame_sizes(self, frames: tuple[str, ...]) -> list[tuple[int, int]]:
        unique = tuple(set(frames))
        query = f"SELECT sha256, width, height FROM images WHERE sha256 IN ({','.join('?' * len(unique))})"
        rows = self.db.read(lambda c: c.execute(query, unique).fetchall())
        sizes = {r[0]: (r[1], r[2]) for r in rows}
        return [sizes[h] for h in frames]

    def frame_path(self, relpath: str) -> Path:
        return self.images.path(relpath)

    def integrity_check(self) -> str:
        return self.db.integrity_check()


def with_final(record: CorrectionRecord, **changes: Any) -> FinalVersion:
    """A copy of the record's final version with some fields changed (for re-edits)."""
    if record.final is None:
        raise StoreError(f"record {record.id} has no final version to change")
    return replace(record.final, **changes)
