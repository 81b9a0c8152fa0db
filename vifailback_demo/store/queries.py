"""The read side of the corrections store: one record, filtered pages, history, counts and statistics.

:class:`RecordQueries` is mixed into :class:`~vifailback_demo.store.store.CorrectionsStore`; it only needs the
store's :class:`~vifailback_demo.store.db.Database` as ``self.db``. Every method runs in one read transaction, so the
rows it combines come from one consistent snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.errors import StoreError
from vifailback_demo.store.checks import checked_id, checked_int, checked_search, like_pattern, show
from vifailback_demo.store.db import Database
from vifailback_demo.store.records import DECISIONS, REVIEW_STATUSES, CorrectionRecord, FinalVersion, Source

MAX_PAGE = 1000

_COLUMNS = (
    "id, created_at, updated_at, who, source_kind, source_ref, task, mode, frames, model_output, "
    "model_diagnosis, final, decision, review_status, notes, revision"
)


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


@dataclass(frozen=True)
class ReviewerDecision:
    """One reviewer's newest record on a clip (see :meth:`RecordQueries.reviewer_groups`)."""

    record_id: int
    who: str
    decision: str
    final: FinalVersion | None


@dataclass(frozen=True)
class ReviewedClip:
    source: Source
    task: str
    mode: str
    decisions: tuple[ReviewerDecision, ...]  # one per reviewer, by name


# Each named reviewer's newest record per clip; then the clips with two or more of them, newest activity first.
_REVIEWER_GROUPS = """
WITH latest AS (
    SELECT id, who, source_kind, source_ref, task, mode, decision, final,
           ROW_NUMBER() OVER (PARTITION BY source_kind, source_ref, task, mode, who ORDER BY id DESC) AS nth
    FROM corrections WHERE trim(who) != ''
), clips AS (
    SELECT source_kind, source_ref, task, mode, MAX(id) AS newest FROM latest WHERE nth = 1
    GROUP BY source_kind, source_ref, task, mode HAVING COUNT(*) >= 2 ORDER BY newest DESC LIMIT ?
)
SELECT l.id, l.who, l.source_kind, l.source_ref, l.task, l.mode, l.decision, l.final
FROM latest AS l JOIN clips USING (source_kind, source_ref, task, mode)
WHERE l.nth = 1 ORDER BY clips.newest DESC, l.who
"""


def _frames_of(record_id: int, text: Any) -> tuple[str, ...]:
    # The row may come from an edited or damaged file: a clear error naming the record, not a bare JSONDecodeError.
    try:
        frames = json.loads(text)
    except (TypeError, ValueError):
        frames = None
    if not isinstance(frames, list) or not frames or not all(isinstance(h, str) for h in frames):
        raise StoreError(f"record {record_id}: its frames are not a JSON list of image hashes (check the database)")
    return tuple(frames)


def _row_to_record(conn: sqlite3.Connection, row: tuple) -> CorrectionRecord:
    frames = _frames_of(row[0], row[8])
    unique = tuple(set(frames))
    paths = dict(
        conn.execute(f"SELECT sha256, relpath FROM images WHERE sha256 IN ({','.join('?' * len(unique))})", unique)
    )
    missing = [h for h in unique if h not in paths]
    if missing:
        raise StoreError(f"record {row[0]}: frame {show(missing[0], 70)} has no row in the images table")
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
            raise StoreError(f"failure type filter: expected one of {list(FAILURE_TYPES)}, got {failure_type!r:.40}")
        clauses.append("failure_type = ?")
        params.append(failure_type)
    search = checked_search(search)
    if search:
        clauses.append("task LIKE ? ESCAPE '\\'")  # LIKE is case-insensitive for ASCII; wildcards are escaped
        params.append(like_pattern(search))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class RecordQueries:
    """Read-only methods of the corrections store (a mixin: the store provides ``self.db``)."""

    db: Database

    def get(self, record_id: int) -> CorrectionRecord:
        record_id = checked_id(record_id)

        def fetch(conn: sqlite3.Connection) -> CorrectionRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", (record_id,)).fetchone()
            return _row_to_record(conn, row) if row else None

        record = self.db.read(fetch)
        if record is None:
            raise StoreError(f"no correction with id {record_id}; expected an id from list()")
        return record

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
        offset = checked_int(offset, "pagination offset")
        limit = checked_int(limit, "pagination limit", lo=1, hi=MAX_PAGE)
        if not isinstance(newest_first, bool):
            raise StoreError(f"newest_first: expected true or false, got {show(newest_first)}")
        where, params = _where(decision, review_status, failure_type, search)
        order = "DESC" if newest_first else "ASC"

        def fetch(conn: sqlite3.Connection) -> Page:
            total = conn.execute(f"SELECT COUNT(*) FROM corrections{where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM corrections{where} ORDER BY id {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return Page([_row_to_record(conn, r) for r in rows], total, offset, limit)

        return self.db.read(fetch)

    def iter_records(self, **filters: Any) -> Iterator[CorrectionRecord]:
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
        record_id = self.get(record_id).id
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
        where, params = _where(**{k: filters.get(k) for k in ("decision", "review_status", "failure_type", "search")})
        return self.db.read(lambda c: c.execute(f"SELECT COUNT(*) FROM corrections{where}", params).fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Counts by decision, review status and (accepted records only) outcome.

        ``accepted_by_outcome`` is what the human settled on: ``"success"``, a failure type, or ``"unspecified"``
        (failed, no type given). Rejected and skipped records have no answer of their own, so they appear only
        under ``by_decision``. ``by_failure_type`` keeps its old meaning (the column over every record, NULL as
        ``"none"``) for the CLI and scripts that read it.
        """

        def fetch(conn: sqlite3.Connection) -> dict[str, Any]:
            def grouped(column: str, where: str = "") -> dict[str, int]:
                rows = conn.execute(f"SELECT {column}, COUNT(*) FROM corrections {where} GROUP BY 1")
                return dict(rows.fetchall())

            outcome = (  # a damaged final (edited file) is counted, not a crash of the whole count
                "CASE WHEN NOT json_valid(final) THEN 'unreadable' WHEN json_extract(final, '$.success') "
                "THEN 'success' ELSE COALESCE(failure_type, 'unspecified') END"
            )
            return {
                "total": conn.execute("SELECT COUNT(*) FROM corrections").fetchone()[0],
                "by_failure_type": grouped("COALESCE(failure_type, 'none')"),
                "by_decision": grouped("decision"),
                "by_review_status": grouped("review_status"),
                "accepted_by_outcome": grouped(outcome, "WHERE decision = 'accepted'"),
                "images": conn.execute("SELECT COUNT(*) FROM images").fetchone()[0],
            }

        return self.db.read(fetch)

    def reviewer_groups(self, limit: int = 200) -> list[ReviewedClip]:
        """Clips decided by two or more named reviewers, newest first (at most ``limit`` clips).

        A clip is ``(source_kind, source_ref, task, mode)``; each reviewer counts once, with their newest record
        on it. One query (a window over the light columns, frames not read), so it stays cheap on a large store.
        """
        limit = checked_int(limit, "agreement clip limit", lo=1, hi=MAX_PAGE)
        rows = self.db.read(lambda c: c.execute(_REVIEWER_GROUPS, (limit,)).fetchall())
        clips: dict[tuple[str, str, str, str], list[ReviewerDecision]] = {}
        for rid, who, kind, ref, task, mode, decision, final in rows:
            verdict = ReviewerDecision(rid, who, decision, FinalVersion.from_json(json.loads(final)) if final else None)
            clips.setdefault((kind, ref, task, mode), []).append(verdict)
        return [ReviewedClip(Source(k[0], k[1]), k[2], k[3], tuple(v)) for k, v in clips.items()]

    def _frame_sizes(self, frames: tuple[str, ...]) -> list[tuple[int, int]]:
        unique = tuple(set(frames))
        query = f"SELECT sha256, width, height FROM images WHERE sha256 IN ({','.join('?' * len(unique))})"
        rows = self.db.read(lambda c: c.execute(query, unique).fetchall())
        sizes = {r[0]: (r[1], r[2]) for r in rows}
        return [sizes[h] for h in frames]

    def integrity_check(self) -> str:
        return self.db.integrity_check()
