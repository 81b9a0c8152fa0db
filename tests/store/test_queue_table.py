"""The review queue's table on a real SQLite file: claims never overlap (threads and processes), a decision and
its clip's "done" commit together, claims survive a restart and go back to their reviewer, leases expire."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.store.store_worker import make_item
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.store.db import _SCHEMA_V1, SCHEMA_VERSION
from vifailback_demo.store.queue import QueueEntry, QueueTable

QUEUE = "/queues/demo"
REPO = Path(__file__).resolve().parents[2]


def _fill(table: QueueTable, n: int) -> None:
    assert table.sync(QUEUE, [QueueEntry("upload", f"clip{i:03d}.mp4", "Pick up the cup.") for i in range(n)]) == n


def test_sync_adds_only_new_clips_at_the_end(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 3)
    assert table.sync(QUEUE, [QueueEntry("upload", "clip001.mp4"), QueueEntry("upload", "new.mp4")]) == 1
    items = table.items(QUEUE)
    assert [(i.position, i.source_ref) for i in items] == [
        (1, "clip000.mp4"),
        (2, "clip001.mp4"),
        (3, "clip002.mp4"),
        (4, "new.mp4"),
    ]
    assert table.progress(QUEUE).total == 4


def test_a_session_holds_two_clips_and_gets_the_same_ones_back(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 5)
    first = table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600)
    assert [i.position for i in first] == [1, 2]
    assert [i.position for i in table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600)] == [1, 2]
    other = table.claim(QUEUE, "s2", "bob", epoch="e", lease_s=600)
    assert [i.position for i in other] == [3, 4]
    p = table.progress(QUEUE)
    assert (p.total, p.done, p.claimed, p.open) == (5, 0, 4, 1)


def test_a_decision_marks_its_clip_done_in_the_same_transaction(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 2)
    item = table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600, hold=1)[0]
    record_id = store.add(make_item("alice", 1), also=table.completer(item.id, "alice", "accepted"))
    done = table.get(item.id)
    assert (done.status, done.record_id, done.decision, done.reviewer) == ("done", record_id, "accepted", "alice")
    assert table.progress(QUEUE).by_reviewer == {"alice": 1}
    # The next claim moves on; the done clip is never handed out again.
    assert [i.position for i in table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600)] == [2]


def test_a_failed_transaction_stores_neither_the_record_nor_the_done_mark(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 1)
    item = table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600, hold=1)[0]
    complete = table.completer(item.id, "alice", "accepted")

    def complete_then_fail(conn: sqlite3.Connection, record_id: int) -> None:
        complete(conn, record_id)
        raise RuntimeError("crash between the two writes")

    with pytest.raises(RuntimeError):
        store.add(make_item("alice", 2), also=complete_then_fail)
    assert store.stats()["total"] == 0
    assert table.get(item.id).status == "claimed"


def test_claims_survive_a_restart_and_go_back_to_their_reviewer(tmp_path: Path) -> None:
    with CorrectionsStore(tmp_path / "data") as store:
        table = QueueTable(store.db)
        _fill(table, 6)
        held = table.claim(QUEUE, "old-session", "alice", epoch="process-1", lease_s=600)
    with CorrectionsStore(tmp_path / "data") as store:  # the server restarted: a new process, new sessions
        table = QueueTable(store.db)
        assert [i.position for i in table.claim(QUEUE, "bob-1", "bob", epoch="process-2", lease_s=600)] == [3, 4]
        back = table.claim(QUEUE, "alice-2", "alice", epoch="process-2", lease_s=600)
        assert [i.id for i in back] == [i.id for i in held]


def test_an_expired_claim_goes_to_the_next_reviewer_and_a_release_reopens(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 3)
    alice = table.claim(QUEUE, "s1", "alice", epoch="e", lease_s=600, hold=1)
    # bob's server says claims idle for 0 s are stale: alice's clip is the oldest, so bob gets it.
    bob = table.claim(QUEUE, "s2", "bob", epoch="e", lease_s=0, hold=1)
    assert [i.id for i in bob] == [i.id for i in alice]
    assert table.release("s2") == 1
    assert table.get(bob[0].id).status == "open"


def test_threads_never_get_the_same_clip(store: CorrectionsStore) -> None:
    table = QueueTable(store.db)
    _fill(table, 40)
    got: dict[str, list[int]] = {}

    def reviewer(name: str) -> None:
        mine = got.setdefault(name, [])
        while held := table.claim(QUEUE, name, name, epoch="e", lease_s=600, hold=2):
            item = held[0]
            mine.append(item.id)
            store.add(make_item(name, item.id, frames=1), also=table.completer(item.id, name, "skipped"))

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [i for mine in got.values() for i in mine]
    assert len(ids) == len(set(ids)) == 40


WORKER = textwrap.dedent(
    """
    import sys
    from tests.store.store_worker import make_item
    from vifailback_demo.store import CorrectionsStore
    from vifailback_demo.store.queue import QueueTable
    store = CorrectionsStore(sys.argv[1])
    table = QueueTable(store.db)
    name = sys.argv[2]
    while held := table.claim(sys.argv[3], name, name, epoch=name, lease_s=600, hold=2):
        item = held[0]
        store.add(make_item(name, item.id, frames=1), also=table.completer(item.id, name, "skipped"))
        print(item.id, flush=True)
    """
)


def test_processes_never_get_the_same_clip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with CorrectionsStore(data) as store:
        _fill(QueueTable(store.db), 24)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data), f"p{i}", QUEUE], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = [int(line) for out in outs for line in out.split()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 24
    with CorrectionsStore(data) as store:
        assert store.stats()["total"] == 24
        assert QueueTable(store.db).progress(QUEUE).done == 24


def test_a_version_1_store_is_upgraded_with_its_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / "corrections.sqlite3")
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT INTO corrections (created_at, updated_at, source_kind, task, mode, frames, decision, review_status) "
        "VALUES ('t', 't', 'upload', 'Pick up the cup.', 'avoidance', '[]', 'skipped', 'unreviewed')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with CorrectionsStore(data) as store:
        assert store.db.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION == 2
        assert store.stats()["total"] == 1
        table = QueueTable(store.db)
        _fill(table, 1)
        assert table.progress(QUEUE).total == 1
