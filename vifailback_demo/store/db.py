"""The SQLite side of the corrections store: connections, pragmas, schema versions, write retries.

Durability: WAL journal with ``synchronous=FULL`` by default, so a commit is fsynced to the WAL before
:meth:`Database.write` returns; an acknowledged record survives kill -9 *and* a power cut. ``NORMAL`` (opt-in,
``durability="normal"``) skips that fsync: still safe against a killed process (the WAL bytes are in the OS page
cache when the commit returns) but the last commits can be lost on power failure. See ``docs/store.md``.

Concurrency: one connection per thread (and per process: a forked child never reuses its parent's connection),
``busy_timeout`` for lock waits, writes in ``BEGIN IMMEDIATE`` transactions (the write lock is taken up front, so
two writers never deadlock upgrading read locks), and a bounded retry with backoff on ``database is locked``.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from vifailback_demo.errors import StoreError

T = TypeVar("T")

SCHEMA_VERSION = 2
DB_FILE = "corrections.sqlite3"
BUSY_TIMEOUT_MS = 10_000
#: Total time a write may spend retrying after busy_timeout expired (bounded; then a clear error).
RETRY_SECONDS = 30.0

_SCHEMA_V1 = """
CREATE TABLE corrections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    who             TEXT NOT NULL DEFAULT '',
    source_kind     TEXT NOT NULL CHECK (source_kind IN ('upload', 'dataset_episode', 'live_run', 'example')),
    source_ref      TEXT NOT NULL DEFAULT '',
    task            TEXT NOT NULL CHECK (length(task) > 0),
    mode            TEXT NOT NULL CHECK (mode IN ('avoidance', 'correction')),
    frames          TEXT NOT NULL,              -- JSON list of sha256 hashes, model order
    model_output    TEXT,
    model_diagnosis TEXT,                       -- JSON object or NULL
    final           TEXT,                       -- JSON FinalVersion or NULL
    failure_type    TEXT,                       -- copied from final for filters and counts
    decision        TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected', 'skipped')),
    review_status   TEXT NOT NULL CHECK (review_status IN ('unreviewed', 'reviewed')),
    notes           TEXT NOT NULL DEFAULT '',
    revision        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX corrections_decision ON corrections (decision, review_status);
CREATE INDEX corrections_failure_type ON corrections (failure_type);
CREATE TABLE images (
    sha256  TEXT PRIMARY KEY,
    relpath TEXT NOT NULL,
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
-- Every change to a record appends a row here: nothing a human wrote is ever overwritten.
CREATE TABLE revisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    correction_id INTEGER NOT NULL REFERENCES corrections (id),
    revision      INTEGER NOT NULL,
    action        TEXT NOT NULL,               -- create | edit | review:reviewed | review:unreviewed
    changed_at    TEXT NOT NULL,
    who           TEXT NOT NULL DEFAULT '',
    final         TEXT,
    decision      TEXT NOT NULL,
    review_status TEXT NOT NULL,
    notes         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX revisions_correction ON revisions (correction_id);
"""


#: Version 2: the review queue (``store/queue.py``): one row per clip of a queue, who holds it, what became of it.
_SCHEMA_V2 = """
CREATE TABLE queue_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT NOT NULL,                  -- the queue's name (its folder, resolved)
    position    INTEGER NOT NULL,               -- 1-based order of review
    source_kind TEXT NOT NULL,
    source_ref  TEXT NOT NULL,
    task        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done')),
    owner       TEXT NOT NULL DEFAULT '',       -- the browser session holding the claim
    reviewer    TEXT NOT NULL DEFAULT '',
    epoch       TEXT NOT NULL DEFAULT '',       -- the server process that granted the claim
    claimed_at  REAL,                           -- unix time of the claim's last use (leases expire)
    record_id   INTEGER REFERENCES corrections (id),
    decision    TEXT,
    decided_at  TEXT,
    UNIQUE (queue, source_kind, source_ref)
);
CREATE INDEX queue_items_status ON queue_items (queue, status, position);
"""


def _statements(conn: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would COMMIT the surrounding migration transaction first.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


#: ``MIGRATIONS[v]`` upgrades a database at user_version ``v`` to ``v + 1`` inside one transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: lambda conn: _statements(conn, _SCHEMA_V1),
    1: lambda conn: _statements(conn, _SCHEMA_V2),
}


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """Thread- and process-safe access to one SQLite file."""

    def __init__(self, path: str | os.PathLike, *, durability: str = "full", create: bool = True) -> None:
        if durability not in ("full", "normal"):
            raise StoreError(f"durability: expected 'full' or 'normal', got {durability!r}")
        self.path = Path(path)
        self.durability = durability
        if not create and not self.path.is_file():
            raise StoreError(f"no corrections database at {self.path}; expected an existing store (check --data-dir)")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._migrate()

    # --- connections ---------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # before anything that may wait for a lock
            mode = self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not switch SQLite to WAL mode (got {mode!r}); is it on NFS?")
            conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the corrections database {self.path}: {exc}") from None
        return conn

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened in a forked child)."""
        local = self._local
        if getattr(local, "conn", None) is None or local.pid != os.getpid():
            local.conn, local.pid = self._open(), os.getpid()
            with self._all_lock:
                self._all.append(local.conn)
        return local.conn

    def close(self) -> None:
        """Close every connection this object opened (call once, when no thread uses the store any more)."""
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    # --- transactions --------------------------------------------------------------------------------------------

    def _retry(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.01
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    if _is_busy(exc):
                        raise StoreError(
                            f"the corrections database {self.path} stayed locked for {RETRY_SECONDS:.0f}s; "
                            "another process holds it (try again)"
                        ) from None
                    raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction; returns only after COMMIT (retried when busy)."""
        conn = self.conn()

        def attempt() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return self._retry(attempt)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction (a consistent snapshot across its queries)."""
        conn = self.conn()

        def attempt() -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

        return self._retry(attempt)

    # --- schema --------------------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        def upgrade(conn: sqlite3.Connection) -> int:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this program knows up to {SCHEMA_VERSION} "
                    "(upgrade ViFailback Studio)"
                )
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            return version

        self.write(upgrade)

    def integrity_check(self) -> str:
        return self.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])
