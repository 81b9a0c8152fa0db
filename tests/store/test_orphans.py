"""Crash leftovers: a writer killed mid-add, then scan_orphans / clean_orphans and ``vifailback corrections clean``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.store.store_worker import crash_item, make_frame, make_item
from vifailback_demo.errors import StoreError
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.store.images import prepare_image

WORKER = Path(__file__).with_name("store_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
HOURS_AGO = time.time() - 2 * 3600


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _crash_writer(data: Path, start: int, stage: str) -> tuple[int, dict[int, int]]:
    """Run a ``crash`` worker to its SIGKILL; returns its pid and the records it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "crash", str(data), str(start), stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    acknowledged = dict(tuple(map(int, line.split())) for line in out.splitlines())
    assert sorted(acknowledged) == list(range(start, start + 3))
    return proc.pid, acknowledged


def _files(data: Path) -> set[str]:
    return {p.relative_to(data).as_posix() for p in (data / "images").rglob("*") if p.is_file()}


def _referenced(store: CorrectionsStore) -> set[str]:
    return {rel for r in store.iter_records() for rel in r.frame_files}


def _assert_records_intact(store: CorrectionsStore, acknowledged: dict[int, int]) -> None:
    assert store.integrity_check() == "ok"
    assert store.stats()["total"] == len(acknowledged)  # the killed add never committed
    for seed, record_id in acknowledged.items():
        expected, r = make_item("crash", seed), store.get(record_id)
        assert r.task == expected.task and r.final.symbols == expected.final.symbols
        assert list(r.frames) == [prepare_image(f).sha256 for f in expected.frames]
        for sha, rel in zip(r.frames, r.frame_files, strict=True):
            assert store.images.verify(rel, sha), rel


def test_kill_mid_add_leaves_only_leftovers_that_clean_removes(tmp_path):
    data = tmp_path / "data"
    crash_frames = [prepare_image(f) for f in crash_item().frames]
    shared, new = crash_frames[0], crash_frames[1:]  # frame 1 belongs to committed record "crash 0" too

    # Killed while the first new frame is in its .tmp file, then killed with the rows inserted but not committed.
    file_pid, acknowledged = _crash_writer(data, 0, "file")
    _, more = _crash_writer(data, 3, "commit")
    acknowledged.update(more)

    with CorrectionsStore(data, create=False) as store:
        _assert_records_intact(store, acknowledged)
        referenced = _referenced(store)
        assert shared.relpath in referenced

        scan = store.scan_orphans()
        [tmp] = scan.tmp_files
        assert tmp.relpath.startswith(f"images/{new[0].sha256[:2]}/.{new[0].sha256}.jpg.{file_pid}.")
        assert tmp.relpath.endswith(".tmp") and tmp.kind == "tmp"
        assert tmp.bytes == len(new[0].data)  # written and fsynced, killed before the rename
        assert [f.relpath for f in scan.unreferenced_images] == sorted(p.relpath for p in new)
        assert _files(data) == referenced | {f.relpath for f in scan.files}  # nothing else is left over

        kept = store.clean_orphans()  # default grace period: these files are seconds old
        assert kept.removed == [] and kept.stale == [] and len(kept.recent) == 3
        assert _files(data) == referenced | {f.relpath for f in scan.files}

        result = store.clean_orphans(min_age_s=0)
        assert sorted(f.relpath for f in result.removed) == sorted(f.relpath for f in scan.files)
        assert _files(data) == referenced  # exactly the leftovers went; every referenced frame stayed
        assert store.scan_orphans().files == []
        _assert_records_intact(store, acknowledged)

        record = store.get(store.add(crash_item()))  # the add that crashed twice now goes through
        for sha, rel in zip(record.frames, record.frame_files, strict=True):
            assert store.images.verify(rel, sha), rel


def _age(path: Path) -> Path:
    os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


def test_recent_leftovers_and_referenced_files_are_kept(store):
    record = store.get(store.add(make_item("keep", 1)))
    images = store.data_dir / "images"
    referenced = [_age(images.parent / rel) for rel in record.frame_files]  # old, but named by a record
    young_image, old_image = prepare_image(make_frame(777)), prepare_image(make_frame(778))
    store.images.put(young_image)
    store.images.put(old_image)
    _age(images.parent / old_image.relpath)
    (images / "ab").mkdir(exist_ok=True)
    young_tmp = images / "ab" / f".{'ab' * 32}.jpg.123.456.tmp"
    young_tmp.write_bytes(b"half a frame")  # a write in progress in another process
    old_tmp = images / "ab" / f".{'ab' * 32}.jpg.789.1.tmp"
    old_tmp.write_bytes(b"x")
    _age(old_tmp)
    foreign = images / "README.txt"  # not a name this store writes: never listed or removed
    foreign.write_text("mine")
    _age(foreign)

    dry = store.clean_orphans(min_age_s=0, dry_run=True)
    assert len(dry.stale) == 4 and dry.removed == [] and young_tmp.exists() and old_tmp.exists()

    result = store.clean_orphans()
    as_rel = {p: p.relative_to(store.data_dir).as_posix() for p in (young_tmp, old_tmp)}
    assert {f.relpath for f in result.removed} == {as_rel[old_tmp], old_image.relpath}
    assert {f.relpath for f in result.recent} == {as_rel[young_tmp], young_image.relpath}
    assert young_tmp.exists() and (images.parent / young_image.relpath).exists() and foreign.exists()
    assert not old_tmp.exists() and not (images.parent / old_image.relpath).exists()
    assert all(p.exists() for p in referenced)
    assert store.clean_orphans(min_age_s=0).removed and store.scan_orphans().files == []
    assert all(p.exists() for p in referenced) and foreign.exists()


def test_add_rewrites_a_frame_a_concurrent_clean_removed(store, monkeypatch):
    item = make_item("race", 5)
    leftover = prepare_image(item.frames[0])  # an old crash left this frame unreferenced
    store.images.put(leftover)
    _age(store.data_dir / leftover.relpath)
    other = CorrectionsStore(store.data_dir)  # a second process cleaning the same store
    cleaned = []
    real_write = store.db.write

    def clean_then_write(fn):  # the clean lands between add()'s file writes and its transaction
        if not cleaned:
            cleaned.append(other.clean_orphans(min_age_s=60))
        return real_write(fn)

    monkeypatch.setattr(store.db, "write", clean_then_write)
    record = store.get(store.add(item))
    other.close()
    assert [f.relpath for f in cleaned[0].removed] == [leftover.relpath]
    for sha, rel in zip(record.frames, record.frame_files, strict=True):
        assert store.images.verify(rel, sha), rel


def test_clean_keeps_a_file_that_became_referenced_after_its_scan(store, monkeypatch):
    item = make_item("late", 6)
    leftover = prepare_image(item.frames[1])  # old and unreferenced when the clean scans...
    store.images.put(leftover)
    _age(store.data_dir / leftover.relpath)
    writer = CorrectionsStore(store.data_dir)
    added = []
    real_write = store.db.write

    def add_then_clean(fn):  # ...then another process commits a record naming it, before the clean's transaction
        if not added:
            added.append(writer.add(item))
        return real_write(fn)

    monkeypatch.setattr(store.db, "write", add_then_clean)
    result = store.clean_orphans(min_age_s=60)
    writer.close()
    assert [f.relpath for f in result.stale] == [leftover.relpath] and result.removed == []
    record = store.get(added[0])
    for sha, rel in zip(record.frames, record.frame_files, strict=True):
        assert store.images.verify(rel, sha), rel


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "60"])
def test_bad_min_age_is_refused(store, bad):
    with pytest.raises(StoreError, match="min age"):
        store.clean_orphans(min_age_s=bad)


def test_unreadable_frames_column_stops_the_clean(store):
    store.add(make_item("x", 1))
    orphan = prepare_image(make_frame(555))
    store.images.put(orphan)
    store.db.write(lambda c: c.execute("UPDATE corrections SET frames = 'oops' WHERE id = 1"))
    with pytest.raises(StoreError, match="record 1"):
        store.clean_orphans(min_age_s=0)
    assert (store.data_dir / orphan.relpath).exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vifailback_demo", "corrections", "clean", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_cli_clean_dry_run_then_delete(tmp_path):
    data = tmp_path / "data"
    with CorrectionsStore(data) as store:
        record = store.get(store.add(make_item("cli", 1)))
        orphan = prepare_image(make_frame(321))
        store.images.put(orphan)
    for rel in (*record.frame_files, orphan.relpath):
        _age(data / rel)
    tmp = (data / orphan.relpath).with_name(f".{orphan.sha256}.jpg.42.7.tmp")
    tmp.write_bytes(b"partial")
    _age(tmp)

    dry = _cli("--data-dir", str(data))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would remove") == 2 and "dry run: nothing removed" in dry.stdout
    assert tmp.exists() and (data / orphan.relpath).exists()

    bad = _cli("--data-dir", str(data), "--delete", "--min-age", "-5")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "min age" in bad.stderr and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    assert tmp.exists() and (data / orphan.relpath).exists()

    done = _cli("--data-dir", str(data), "--delete", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is False and report["recent"] == []
    assert sorted(f["path"] for f in report["removed"]) == sorted([orphan.relpath, tmp.relative_to(data).as_posix()])
    assert not tmp.exists() and not (data / orphan.relpath).exists()
    assert all((data / rel).exists() for rel in record.frame_files)

    missing = _cli("--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no corrections store" in missing.stderr and missing.stderr.count("\n") == 1


def test_clean_removes_the_shard_directories_it_emptied(store):
    record = store.get(store.add(make_item("shards", 7)))
    kept_shards = {(store.data_dir / rel).parent for rel in record.frame_files}
    seed = 900
    while (leftover := prepare_image(make_frame(seed))).relpath.split("/")[1] in {p.name for p in kept_shards}:
        seed += 1  # a frame whose shard holds nothing a record names
    store.images.put(leftover)
    shard = (store.data_dir / leftover.relpath).parent
    (shard / f".{leftover.sha256}.jpg.1.2.tmp").write_bytes(b"half")

    result = store.clean_orphans(min_age_s=0)
    assert len(result.removed) == 2
    assert not shard.exists()  # emptied by the clean, so removed with it
    assert all(p.is_dir() for p in kept_shards)  # shards that still hold referenced frames stay
    for sha, rel in zip(record.frames, record.frame_files, strict=True):
        assert store.images.verify(rel, sha), rel
    store.images.put(leftover)  # a later write recreates the directory
    assert store.images.verify(leftover.relpath, leftover.sha256)


def test_a_frame_write_survives_a_clean_that_removes_its_temporary_file(store, monkeypatch):
    frame = prepare_image(make_frame(950))
    other = CorrectionsStore(store.data_dir)  # another process running `corrections clean --min-age 0`
    real_fsync, cleaned = os.fsync, []

    def clean_during_write(fd):  # the clean lands after the bytes are written, before the rename
        if not cleaned:
            cleaned.append(other.clean_orphans(min_age_s=0))
        real_fsync(fd)

    monkeypatch.setattr("vifailback_demo.store.images.os.fsync", clean_during_write)
    assert store.images.put(frame) == frame.relpath
    other.close()
    assert [f.kind for f in cleaned[0].removed] == ["tmp"]  # the in-progress file really was removed
    assert store.images.verify(frame.relpath, frame.sha256)
    assert store.scan_orphans().tmp_files == []  # the retry cleaned up after itself
