"""Paths read from the database are checked: an edited ``images.relpath`` never makes the store read or write a
file outside its folders (export via the CLI and the API, reopen, VQA, verify, clean)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.store_worker import make_item
from vifailback_demo.errors import StoreError
from vifailback_demo.services.corrections import CorrectionsService
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.store.checks import checked_image
from vifailback_demo.store.export import export

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path, skip: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (except ``skip``) with its bytes (None for directories and links)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if here / d != skip]
        for name in dirs + files:
            path = here / name
            rel = str(path.relative_to(root))
            out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


def _db_dump(data: Path) -> list[str]:
    conn = sqlite3.connect(data / "corrections.sqlite3")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def layout(tmp_path):
    """A real store three levels down, one accepted record, and a JPEG outside that today's code would read."""
    data = tmp_path / "d1" / "d2" / "data"
    with CorrectionsStore(data) as store:
        rid = store.add(make_item("esc", 1))
        record = store.get(rid)
    sha, rel = record.frames[0], record.frame_files[0]
    outside = tmp_path / "outside.jpg"
    shutil.copyfile(data / rel, outside)  # a valid image, so only the path check can stop a read
    return {"tmp": tmp_path, "data": data, "sha": sha, "rel": rel, "outside": outside, "id": rid}


def _set_relpath(layout: dict, value: str) -> None:
    conn = sqlite3.connect(layout["data"] / "corrections.sqlite3")
    with conn:
        conn.execute("UPDATE images SET relpath = ? WHERE sha256 = ?", (value, layout["sha"]))
    conn.close()


def _bad_path(layout: dict, kind: str) -> str:
    """Edit the record's first frame path in the database to one that leads outside ``images/``."""
    tmp, data = layout["tmp"], layout["data"]
    if kind == "dotdot":
        bad = "../../../outside.jpg"
    elif kind == "absolute":
        bad = str(layout["outside"])
    elif kind == "images_dotdot":
        bad = "images/../../../../outside.jpg"
    elif kind == "symlink_file":
        (data / "images" / "zz").mkdir()
        (data / "images" / "zz" / "evil.jpg").symlink_to(layout["outside"])
        bad = "images/zz/evil.jpg"
    else:  # symlink_dir: a shard directory that is a link to a folder outside
        (tmp / "elsewhere").mkdir()
        shutil.copyfile(layout["outside"], tmp / "elsewhere" / "outside.jpg")
        (data / "images" / "zz").symlink_to(tmp / "elsewhere", target_is_directory=True)
        bad = "images/zz/outside.jpg"
    _set_relpath(layout, bad)
    return bad


KINDS = ["dotdot", "absolute", "images_dotdot", "symlink_file", "symlink_dir"]


def _assert_one_line(message: str, layout: dict, bad: str) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message
    assert f"record {layout['id']}" in message and bad in message


@pytest.mark.parametrize("kind", KINDS)
def test_cli_export_refuses_a_path_outside_the_store(layout, kind):
    bad = _bad_path(layout, kind)
    tmp, data = layout["tmp"], layout["data"]
    out = tmp / "o1" / "o2" / "o3" / "out"  # '../../../x' from the export's temp dir would land in o1/
    before, db_before = _tree(tmp, skip=data), _db_dump(data)
    proc = subprocess.run(
        [sys.executable, "-m", "vifailback_demo", "corrections", "export", "--format", "sharegpt",
         "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
        env={**os.environ, "VIFAILBACK_DATA_DIR": str(data),
             "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    _assert_one_line(proc.stderr, layout, bad)
    assert not out.exists() and not (tmp / "o1").exists()  # nothing in --out, not even its parents
    assert _tree(tmp, skip=data) == before  # nothing written (or changed) anywhere outside the store
    assert _db_dump(data) == db_before


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", ["sharegpt", "hf"])
def test_api_export_refuses_a_path_outside_the_store(layout, kind, fmt):
    bad = _bad_path(layout, kind)
    tmp, data = layout["tmp"], layout["data"]
    out = tmp / "o1" / "o2" / "o3" / "out"
    before, db_before = _tree(tmp, skip=data), _db_dump(data)
    with CorrectionsStore(data, create=False) as store, pytest.raises(StoreError) as info:
        export(store, fmt, out)
    _assert_one_line(str(info.value), layout, bad)
    assert not (tmp / "o1").exists() and _tree(tmp, skip=data) == before
    assert _db_dump(data) == db_before


@pytest.mark.parametrize("kind", KINDS)
def test_reopen_vqa_and_verify_refuse_a_path_outside_the_store(layout, kind):
    bad = _bad_path(layout, kind)
    with CorrectionsStore(layout["data"], create=False) as store:
        service = CorrectionsService(store)
        record = service.get(layout["id"])  # the row itself still reads: the table can list it
        for call in (
            lambda: service.frames(record),  # reopening a record in the editor
            lambda: service.vqa_pairs(layout["id"]),  # VQA pairs shown in the UI
            lambda: store.frame_paths(record),
            lambda: store.frame_path(bad, owner=f"record {layout['id']}"),
            lambda: store.images.read_bytes(bad, owner=f"record {layout['id']}"),
        ):
            with pytest.raises(StoreError) as info:
                call()
            _assert_one_line(str(info.value), layout, bad)
        with pytest.raises(StoreError, match="outside the store's images folder"):
            store.images.verify(bad, layout["sha"])


def test_clean_never_touches_the_outside_file_or_the_real_frame(layout):
    _bad_path(layout, "symlink_file")
    with CorrectionsStore(layout["data"], create=False) as store:
        store.clean_orphans(min_age_s=0)
    assert layout["outside"].is_file() and (layout["data"] / layout["rel"]).is_file()
    assert (layout["data"] / "images" / "zz" / "evil.jpg").is_symlink()  # a link is never listed or removed


def test_a_missing_frame_file_is_one_line_naming_the_record(layout):
    (layout["data"] / layout["rel"]).unlink()
    with CorrectionsStore(layout["data"], create=False) as store, pytest.raises(StoreError) as info:
        export(store, "sharegpt", layout["tmp"] / "out")
    assert "record 1" in str(info.value) and "missing" in str(info.value)
    assert not (layout["tmp"] / "out").exists()


def test_a_frame_without_an_image_row_is_a_clear_error(layout):
    conn = sqlite3.connect(layout["data"] / "corrections.sqlite3")
    with conn:
        conn.execute("DELETE FROM images WHERE sha256 = ?", (layout["sha"],))
    conn.close()
    with CorrectionsStore(layout["data"], create=False) as store, pytest.raises(StoreError, match="record 1"):
        store.get(1)


def test_normalised_paths_inside_the_store_still_export(layout):
    # A './' part is harmless: the export writes the normalised name and the JSON names that same file.
    _set_relpath(layout, layout["rel"].replace("images/", "images/./", 1))
    out = layout["tmp"] / "out"
    with CorrectionsStore(layout["data"], create=False) as store:
        result = export(store, "sharegpt", out)
    assert result.images == 3 and (out / layout["rel"]).is_file()
    assert layout["rel"] in (out / "vifailback_corrections.json").read_text()


@pytest.mark.parametrize(
    "rel",
    ["../x.jpg", "/etc/passwd", "images/../../x", "images\\..\\..\\x", "images/a/../../../x", "x.jpg", "images/",
     "images/.", "images/a\x00.jpg", "C:/x.jpg", 7, None],
)  # fmt: skip
def test_export_names_can_not_escape_the_output_folder(tmp_path, rel):
    with pytest.raises(StoreError, match="record 3"):
        checked_image(tmp_path / "out", rel, owner="record 3")
    assert checked_image(tmp_path / "out", "images/ab/c.jpg", owner="x")[0] == "images/ab/c.jpg"
