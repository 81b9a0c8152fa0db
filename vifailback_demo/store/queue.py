"""The review queue's table: which clip each reviewer holds, and what became of each clip (no gradio here).

A queue is a list of clips (a folder of videos or a dataset's episodes, see ``services/review_queue.py``) kept in
the ``queue_items`` table of the corrections store, so it survives a restart. Reviewers *claim* clips: a claim is
taken inside one ``BEGIN IMMEDIATE`` transaction, so two sessions can never take the same open clip. A claim
belongs to a browser session (``owner``) and names the reviewer; it stays valid while it is used and *expires*
after ``lease_s`` idle seconds (a closed tab never returns its clips otherwise). After a restart, a reviewer's
claims from the previous server process (another ``epoch``) go back to the same reviewer name first.

A decision completes its clip in the same transaction that stores the correction
(:meth:`QueueTable.completer` is passed to ``CorrectionsStore.add``), so a crash never leaves a stored decision
with its clip still open, or a clip marked done without its decision.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from vifailback_demo.errors import StoreError
from vifailback_demo.store.db import Database

#: Columns read into a :class:`QueueItem`, in its field order.
_COLUMNS = "id, queue, position, source_kind, source_ref, task, status, owner, reviewer, record_id, decision"


@dataclass(frozen=True)
class QueueItem:
    id: int
    queue: str
    position: int
    source_kind: str
    source_ref: str
    task: str
    status: str
    owner: str
    reviewer: str
    record_id: int | None
    decision: str | None


@dataclass(frozen=True)
class QueueProgress:
    total: int
    done: int
    claimed: int
    by_reviewer: dict[str, int]  # decisions per reviewer name

    @property
    def open(self) -> int:
        return self.total - self.done - self.claimed


@dataclass(frozen=True)
class QueueEntry:
    """One clip to add to a queue."""

    source_kind: str
    source_ref: str
    task: str = ""


class QueueTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def sync(self, queue: str, entries: Sequence[QueueEntry]) -> int:
        """Add the clips the table does not hold yet (after the existing ones); returns how many were added.

        Clips already in the table keep their state and position; a clip gone from the folder stays (its history
        matters more than a tidy list).
        """

        def add(conn: sqlite3.Connection) -> int:
            last = conn.execute("SELECT COALESCE(MAX(position), 0) FROM queue_items WHERE queue = ?", (queue,))
            position = last.fetchone()[0]
            added = 0
            for entry in entries:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO queue_items (queue, position, source_kind, source_ref, task) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (queue, position + 1, entry.source_kind, entry.source_ref, entry.task),
                )
                if cur.rowcount:  # a clip already queued takes no new position
                    position, added = position + 1, added + 1
            return added

        return self.db.write(add)

    def claim(
        self, queue: str, owner: str, reviewer: str, *, epoch: str, lease_s: float, hold: int = 2
    ) -> list[QueueItem]:
        """The clips this session holds after taking up to ``hold`` (oldest position first); [] when all are done.

        Order of taking: this session's own claims, then this reviewer's claims left by an earlier server process,
        then open clips and clips whose lease expired. Every held claim is refreshed (its lease starts again).
        """
        if not owner:
            raise StoreError("queue claim: expected a session id, got nothing")
        now = time.time()

        def take(conn: sqlite3.Connection) -> list[QueueItem]:
            held = self._held(conn, queue, owner)
            if len(held) < hold and reviewer:
                conn.execute(
                    "UPDATE queue_items SET owner = ?, epoch = ? WHERE id IN (SELECT id FROM queue_items WHERE "
                    "queue = ? AND status = 'claimed' AND reviewer = ? AND epoch != ? ORDER BY position LIMIT ?)",
                    (owner, epoch, queue, reviewer, epoch, hold - len(held)),
                )
                held = self._held(conn, queue, owner)
            if len(held) < hold:
                conn.execute(
                    "UPDATE queue_items SET status = 'claimed', owner = ?, reviewer = ?, epoch = ? WHERE id IN ("
                    "SELECT id FROM queue_items WHERE queue = ? AND (status = 'open' OR (status = 'claimed' AND "
                    "claimed_at < ?)) ORDER BY position LIMIT ?)",
                    (owner, reviewer, epoch, queue, now - lease_s, hold - len(held)),
                )
            conn.execute(
                "UPDATE queue_items SET claimed_at = ? WHERE queue = ? AND status = 'claimed' AND owner = ?",
                (now, queue, owner),
            )
            return self._held(conn, queue, owner)

        return self.db.write(take)

    @staticmethod
    def _held(conn: sqlite3.Connection, queue: str, owner: str) -> list[QueueItem]:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM queue_items WHERE queue = ? AND status = 'claimed' AND owner = ? "
            "ORDER BY position",
            (queue, owner),
        ).fetchall()
        return [QueueItem(*row) for row in rows]

    def completer(self, item_id: int, reviewer: str, decision: str) -> Callable[[sqlite3.Connection, int], None]:
        """A hook for ``CorrectionsStore.add``: marks the clip done with the new record, in the same transaction.

        A clip already done (its lease expired and another reviewer decided it first) keeps its first decision;
        the second one is still stored as a correction (the Corrections tab's agreement view shows both).
        """

        def complete(conn: sqlite3.Connection, record_id: int) -> None:
            conn.execute(
                "UPDATE queue_items SET status = 'done', record_id = ?, decision = ?, reviewer = ?, decided_at = ?, "
                "owner = '' WHERE id = ? AND status != 'done'",
                (record_id, decision, reviewer, datetime.now(UTC).isoformat(timespec="seconds"), item_id),
            )

        return complete

    def release(self, owner: str) -> int:
        """Give back every clip a session holds (its tab was closed); returns how many."""

        def give_back(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE queue_items SET status = 'open', owner = '', claimed_at = NULL "
                "WHERE status = 'claimed' AND owner = ?",
                (owner,),
            )
            return cur.rowcount

        return self.db.write(give_back)

    def get(self, item_id: int) -> QueueItem:
        row = self.db.read(
            lambda c: c.execute(f"SELECT {_COLUMNS} FROM queue_items WHERE id = ?", (item_id,)).fetchone()
        )
        if row is None:
            raise StoreError(f"no queue item {item_id}")
        return QueueItem(*row)

    def items(self, queue: str) -> list[QueueItem]:
        rows = self.db.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM queue_items WHERE queue = ? ORDER BY position", (queue,)
            ).fetchall()
        )
        return [QueueItem(*row) for row in rows]

    def progress(self, queue: str) -> QueueProgress:
        def count(conn: sqlite3.Connection) -> QueueProgress:
            by_status = dict(
                conn.execute("SELECT status, COUNT(*) FROM queue_items WHERE queue = ? GROUP BY 1", (queue,))
            )
            by_reviewer = dict(
                conn.execute(
                    "SELECT reviewer, COUNT(*) FROM queue_items WHERE queue = ? AND status = 'done' GROUP BY 1",
                    (queue,),
                )
            )
            return QueueProgress(
                total=sum(by_status.values()),
                done=by_status.get("done", 0),
                claimed=by_status.get("claimed", 0),
                by_reviewer=by_reviewer,
            )

        return self.db.read(count)
