"""The ``vifailback`` command line: parse, render, draw (in-process and as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.cli.main import main
from vifailback_demo.imageio import read_image_rgb, write_image_rgb


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def answer_file(tmp_path, reference_dir) -> Path:
    records = json.loads((reference_dir / "example_direct_draw.json").read_text())
    p = tmp_path / "answer.txt"
    p.write_text(records[0]["messages"][0]["content"])
    return p


def test_parse_official_assistant_message(capsys, answer_file):
    code, out, err = run(capsys, "parse", str(answer_file), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data == {
        "success": False,
        "keyframe": 13,
        "failure_type": "gripper 6d-pose",
        "low_level": "Move the right gripper to the right significantly and backward significantly, and rotate the right gripper clockwise.",
        "symbols": [
            {"type": "move_arrow", "start": [602, 179], "end": [689, 325], "colors": ["green", "red"]},
            {"type": "rotate_arrow", "center": [550, 179], "direction": "clockwise"},
            {"type": "dual_crosshair", "p1": [806, 196], "p2": [789, 317]},
        ],
        "problems": [],
    }


def test_parse_reads_record_files_and_stdin(capsys, reference_dir, monkeypatch):
    code, out, _ = run(capsys, "parse", str(reference_dir / "example_direct_draw.json"), "--json")
    assert code == 0 and json.loads(out)["keyframe"] == 13
    code, _, err = run(capsys, "parse", str(reference_dir / "example_direct_draw.json"), "--record", "5")
    assert code == 2 and "expected 1-2" in err and len(err.strip().splitlines()) == 1
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe garbage <Answer>")))
    code, out, _ = run(capsys, "parse", "-", "--json")
    assert code == 0
    assert json.loads(out)["success"] is None and json.loads(out)["problems"]


def test_user_errors_are_one_line_exit_2(capsys, tmp_path):
    for argv, needle in [
        (["parse", str(tmp_path / "nope.txt")], "expected a readable file"),
        (
            ["render", "--image", str(tmp_path / "nope.png"), "--symbols", "[]", "--out", str(tmp_path / "o.png")],
            "image not found",
        ),
        (
            [
                "draw",
                "--json",
                str(tmp_path / "x.json"),
                "--dataset-root",
                str(tmp_path / "nodir"),
                "--out",
                str(tmp_path),
            ],
            "expected an existing directory",
        ),
        (["nonsense"], "invalid choice"),
        (["render", "--image", "x.png"], "required"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert needle in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err


def test_argparse_errors_are_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vifailback_demo", "render", "--image", "x.png"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "required" in proc.stderr


def test_render_symbols_and_answer(capsys, tmp_path, answer_file):
    img = tmp_path / "in.png"
    write_image_rgb(img, np.full((240, 320, 3), 90, np.uint8))
    out = tmp_path / "out.png"
    code, stdout, err = run(
        capsys,
        "render",
        "--image",
        str(img),
        "--symbols",
        '[{"type": "crosshair", "pos": [500, 500]}]',
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, err
    assert json.loads(stdout)["symbols"] == 1
    drawn = read_image_rgb(out)
    assert (drawn != 90).any() and drawn[120, 160].tolist() == [90, 90, 90]  # crosshair gap at the centre
    # pixels: the same crosshair at pixel (160, 120)
    sym_file = tmp_path / "s.json"
    sym_file.write_text('[{"type": "crosshair", "pos": [160, 120]}]')
    out2 = tmp_path / "out2.png"
    assert (
        run(capsys, "render", "--image", str(img), "--symbols", str(sym_file), "--pixels", "--out", str(out2))[0] == 0
    )
    assert np.array_equal(read_image_rgb(out2), drawn)
    code, _, err = run(
        capsys, "render", "--image", str(img), "--answer", str(answer_file), "--out", str(tmp_path / "a.jpg")
    )
    assert code == 0 and (tmp_path / "a.jpg").is_file()
    # human input out of range or malformed: clear error, nothing written
    bad_out = tmp_path / "bad.png"
    for symbols, needle in [
        ('[{"type": "crosshair", "pos": [500, 1500]}]', "outside [0, 1000]"),
        ('[{"type": "move_arrow", "start": [1, 2], "end": [3, 4], "colors": ["pink"]}]', "arrow colour"),
        ("[{", "not valid JSON"),
        ("nofile.json", "no such file"),
    ]:
        code, _, err = run(capsys, "render", "--image", str(img), "--symbols", symbols, "--out", str(bad_out))
        assert code == 2 and needle in err, err
        assert not bad_out.exists()


def _make_reference_dataset(root: Path, records: list[dict]) -> None:
    rng = np.random.default_rng(0)
    for rel in records[0]["images"]:
        write_image_rgb(root / rel, rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    # Raw annotation records are looked up under <root>/annotated_data/ by the official script.
    for rel in records[1]["images"]:
        write_image_rgb(root / "annotated_data" / rel, np.full((240, 320, 3), 120, np.uint8))


def test_draw_reference_file_renders_all_three_images(tmp_path, reference_dir):
    records = json.loads((reference_dir / "example_direct_draw.json").read_text())
    root = tmp_path / "ds"
    _make_reference_dataset(root, records)
    out = tmp_path / "vis"
    proc = subprocess.run(
        [sys.executable, "-m", "vifailback_demo", "draw", "--json", str(reference_dir / "example_direct_draw.json"),
         "--dataset-root", str(root), "--out", str(out), "--print-json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["drawn"] == 3 and summary["errors"] == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["task_1_format1_keyframe_13.jpg", "task_2_format2_avoidance.jpg", "task_2_format2_correction.jpg"]
    keyframe_src = read_image_rgb(root / records[0]["images"][12])
    drawn = read_image_rgb(out / "task_1_format1_keyframe_13.jpg")
    assert drawn.shape == keyframe_src.shape
    avoid = read_image_rgb(out / "task_2_format2_avoidance.jpg")
    assert (np.abs(avoid.astype(int) - 120) > 60).any()  # symbols were drawn on the flat frame


def test_draw_refuses_escaping_paths_and_reports_missing_images(capsys, tmp_path, reference_dir):
    records = json.loads((reference_dir / "example_direct_draw.json").read_text())
    root = tmp_path / "ds"
    _make_reference_dataset(root, records)
    evil = json.loads(json.dumps(records))
    evil[1]["keyframe"][0]["avoid_keyframe"] = "../../etc/passwd"
    evil[0]["images"][12] = "missing/13.jpg"
    src = tmp_path / "evil.json"
    src.write_text(json.dumps(evil))
    out = tmp_path / "vis"
    code, stdout, err = run(
        capsys, "draw", "--json", str(src), "--dataset-root", str(root), "--out", str(out), "--print-json"
    )
    assert code == 2
    summary = json.loads(stdout)
    errors = [i for i in summary["items"] if i["status"] == "error"]
    assert len(errors) == 2
    assert any("escapes the dataset root" in e["error"] for e in errors)
    assert any("not found" in e["error"] for e in errors)
    assert not (out / "task_2_format2_avoidance.jpg").exists()
    assert "Traceback" not in err
