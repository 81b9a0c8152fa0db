"""The one atomic-write helper: whole content or nothing, no temporary file left, fsync only when asked."""

from __future__ import annotations

import os
import stat

import pytest

from vifailback_demo.core import atomic
from vifailback_demo.core.atomic import (
    AtomicFile,
    atomic_directory,
    atomic_open,
    temp_sibling,
    write_bytes_atomic,
    write_text_atomic,
)


class Boom(Exception):
    pass


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def fsyncs(monkeypatch):
    """Record every os.fsync (and still do it)."""
    calls: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    return calls


def test_content_appears_whole_and_no_temporary_file_stays(tmp_path, fsyncs):
    target = tmp_path / "sub" / "a.json"  # the parent is created
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("{")
        assert not target.exists()  # nothing under the final name while writing
        fh.write('"k": 1}\n')
    assert target.read_text(encoding="utf-8") == '{"k": 1}\n'
    assert _leftovers(target.parent) == []
    assert fsyncs == []  # not asked for


def test_one_call_forms_and_replacing_an_existing_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    assert write_text_atomic(target, "new ü") == target
    assert target.read_text(encoding="utf-8") == "new ü"
    assert write_bytes_atomic(target, b"\x00\x01") == target
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_an_error_mid_write_removes_the_temporary_file_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("previous report")
    with pytest.raises(Boom), atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("half a rep")
        raise Boom
    assert target.read_text() == "previous report"
    assert _leftovers(tmp_path) == []


def test_an_error_mid_write_leaves_no_file_where_there_was_none(tmp_path):
    target = tmp_path / "new.bin"
    with pytest.raises(Boom), atomic_open(target, "wb") as fh:
        fh.write(b"partial")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_removes_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"
    target.write_text("old")

    def refuse(src, dst):
        raise PermissionError("no")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_fsync_flushes_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    write_bytes_atomic(tmp_path / "a", b"1", fsync=True)
    assert events == ["fsync file", "replace"]
    events.clear()
    write_bytes_atomic(tmp_path / "b", b"2", fsync=True, fsync_dir=True)
    assert events == ["fsync file", "replace", "fsync dir"]
    events.clear()
    with AtomicFile(tmp_path / "c", fsync=True, fsync_dir=True) as f:  # the path form flushes by name
        f.tmp.write_bytes(b"3")
    assert events == ["fsync file", "replace", "fsync dir"] and (tmp_path / "c").read_bytes() == b"3"
    events.clear()
    write_bytes_atomic(tmp_path / "d", b"4")
    assert events == ["replace"]


def test_private_files_are_0600_and_others_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        private = write_text_atomic(tmp_path / "p.json", "{}", private=True)
        public = write_bytes_atomic(tmp_path / "q.png", b"png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_atomic_file_for_writers_that_hold_the_path(tmp_path):
    target = tmp_path / "clip.mp4"
    f = AtomicFile(target, suffix=".mp4")
    assert f.tmp.parent == tmp_path and f.tmp.name.startswith(".clip.mp4.") and f.tmp.name.endswith(".tmp.mp4")
    f.tmp.write_bytes(b"video")
    assert not target.exists()
    assert f.commit() == target and target.read_bytes() == b"video" and not f.tmp.exists()
    g = AtomicFile(target)
    with g.open("wb") as fh:
        fh.write(b"other")
    g.discard()
    assert target.read_bytes() == b"video" and _leftovers(tmp_path) == []
    with pytest.raises(Boom), AtomicFile(target) as h:
        h.tmp.write_bytes(b"never")
        raise Boom
    assert target.read_bytes() == b"video" and _leftovers(tmp_path) == []


def test_temporary_names_are_hidden_and_end_in_tmp(tmp_path):
    name = temp_sibling(tmp_path / "abc.jpg").name
    assert name.startswith(".abc.jpg.") and name.endswith(".tmp") and str(os.getpid()) in name


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "export"
    with atomic_directory(out) as tmp:
        (tmp / "a.json").write_text("1")
        assert not out.exists()
    assert (out / "a.json").read_text() == "1" and _leftovers(tmp_path) == []

    with pytest.raises(Boom), atomic_directory(out) as tmp:  # a failed replacement keeps the old one
        (tmp / "b.json").write_text("2")
        raise Boom
    assert sorted(p.name for p in out.iterdir()) == ["a.json"] and _leftovers(tmp_path) == []

    with atomic_directory(out) as tmp:  # a successful one replaces it
        (tmp / "c.json").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c.json"] and _leftovers(tmp_path) == []


def test_atomic_directory_with_a_fixed_name_clears_a_killed_runs_leftover(tmp_path):
    out = tmp_path / "model"
    leftover = tmp_path / "model.partial"
    leftover.mkdir()
    (leftover / "half.safetensors").write_bytes(b"x")
    with atomic_directory(out, tmp_name="model.partial") as tmp:
        assert tmp == leftover and list(tmp.iterdir()) == []
        (tmp / "config.json").write_text("{}")
    assert [p.name for p in out.iterdir()] == ["config.json"] and not leftover.exists()
