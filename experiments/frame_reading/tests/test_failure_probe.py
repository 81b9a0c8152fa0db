"""Failure probe: a classifier on frozen frame features against the same classifier blind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.frame_reading.failure_probe import ProbeConfig, run_probe
from experiments.frame_reading.tests.conftest import CLI, ROOT, colour_dataset


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory) -> tuple[Path, Path]:
    return (
        colour_dataset(tmp_path_factory.mktemp("probe_train"), 36, seed=1),
        colour_dataset(tmp_path_factory.mktemp("probe_eval"), 15, seed=2),
    )


@pytest.mark.parametrize("norm", ["position", "feature"])
def test_frames_head_reads_what_only_the_frames_show_and_the_blind_head_cannot(
    tiny_model_dir, colour_data, tmp_path, norm
):
    train, held_out = colour_data
    out = tmp_path / "probe.json"
    cfg = ProbeConfig(str(tiny_model_dir), [str(train)], str(held_out), str(out), steps=120, batch_size=12, norm=norm)
    report = run_probe(cfg)
    assert json.loads(out.read_text()) == report
    assert report["train_episodes"] == 36 and report["held_out_episodes"] == 15
    assert report["classes"] == {"success": 5, "gripper state": 5, "task planning": 5}
    # Task text, folder and frame counts are shared by the classes: only the colour separates them.
    assert report["frames"]["accuracy"] >= 90, report["frames"]
    assert report["frames"]["failure_type"] >= 90
    assert report["blind"]["accuracy"] <= 50, report["blind"]
    assert report["gap"]["accuracy"] == pytest.approx(report["frames"]["accuracy"] - report["blind"]["accuracy"])
    assert report["last_train_loss"]["frames"] < report["first_train_loss"]["frames"]
    rows = report["per_episode"]
    assert len(rows) == 15 and len({r["episode"] for r in rows}) == 15
    hits = sum(r["frames"] == r["reference"] for r in rows)
    assert round(100 * hits / 15, 2) == report["frames"]["accuracy"]
    assert sum(report["frames"]["confusion"].values()) == 15


def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(tiny_model_dir, colour_data, tmp_path):
    train, held_out = colour_data

    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", CLI, "failure-probe", "--model", str(tiny_model_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)

    out = tmp_path / "r.json"
    cases = [
        ((str(tmp_path), "--eval-data", str(held_out)), f"{tmp_path}: no annotations.json; expected a dataset folder"),
        ((str(train), "--eval-data", str(held_out), "--steps", "0"), "--steps 0: expected a positive integer"),
        ((str(train), "--eval-data", str(held_out), "--lr", "-1"), "--lr -1.0: expected a positive number"),
        ((str(train), "--eval-data", str(held_out), "--episodes", "0"), "--episodes 0: expected a positive integer"),
    ]
    for args, message in cases:
        bad = cli("--data", *args, "--out", str(out))
        assert bad.returncode == 2
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"python -m experiments.frame_reading failure-probe: error: {message}"
        ), lines
        assert not out.exists()
    out.write_text("{}")
    taken = cli("--data", str(train), "--eval-data", str(held_out), "--out", str(out))
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert out.read_text() == "{}"
