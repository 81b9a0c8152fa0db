"""``python -m eval recovery``: the same simulated episodes with and without live supervision, scored and reported
(report shape, resumability, false alarms), and the scoring rules on hand-made episode lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.cli import main
from eval.jsonl import read_jsonl
from eval.recovery import RecoveryConfig, run_recovery
from eval.recovery_report import build_report, episode_summary
from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.errors import ViFailbackError

ARM_KEYS = {"episodes", "successes", "success_rate"}
SUPERVISED_KEYS = ARM_KEYS | {"interventions", "false_alarms", "recovered", "detection_delay_frames"}
SMALL = ["--image-size", "64", "48", "--quiet"]


def check_shape(report: dict) -> None:
    assert set(report["unsupervised"]) >= ARM_KEYS and set(report["supervised"]) >= SUPERVISED_KEYS
    for stats in [report, *report["by_failure_type"].values()]:
        for arm in ("unsupervised", "supervised"):
            assert 0.0 <= stats[arm]["success_rate"] <= 1.0
            assert stats[arm]["success_rate"] == stats[arm]["successes"] / stats[arm]["episodes"]
        assert set(stats["unsupervised"]) >= ARM_KEYS and set(stats["supervised"]) >= SUPERVISED_KEYS
    assert set(report["by_failure_type"]) <= {*FAILURE_TYPES, "none"}


def test_oracle_supervision_recovers_failures_and_the_run_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["recovery", "--episodes", "3", "--seed", "0", "--failure-rate", "1", "--diagnoser", "oracle",
            "--executor", "vsf", "--every", "3", "--max-frames", "600", "--out", str(out), *SMALL]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    check_shape(report)
    u, s = report["unsupervised"], report["supervised"]
    assert u["episodes"] == s["episodes"] == 3 and report["complete"]
    # every episode fails without help (failure rate 1); the oracle finds each failure and VSF recovers it
    assert u["successes"] == 0 and s["success_rate"] > u["success_rate"] and s["successes"] >= 2
    assert s["recovered"] == s["successes"] and s["interventions"] >= s["recovered"] and s["false_alarms"] == 0
    assert s["detected"] == 3 and s["detection_delay_frames"] > 0 and s["errors"] == 0
    assert report["gain_points"] == pytest.approx(100 * (s["success_rate"] - u["success_rate"]))
    lines = read_jsonl(out / "samples.jsonl")
    assert [line["episode"] for line in lines] == [0, 1, 2] and [line["sim_seed"] for line in lines] == [0, 1, 2]
    for line in lines:  # a detection at or after the failure's start frame, never before it
        frames = [c["frame"] for c in line["supervised"]["checks"] if c["failed"]]
        assert frames and min(frames) >= line["correct_frame"] >= line["start_frame"]
    table = (out / "report.md").read_text()
    assert "| Built-in policy alone |" in table and "+ oracle every 3 chunks, VSF" in table and "Gain:" in table

    # rerun: nothing is redone; more episodes extend the run; other settings are refused
    assert main(args) == 0 and len(read_jsonl(out / "samples.jsonl")) == 3
    assert main([*args[:2], "4", *args[3:]]) == 0
    assert [line["episode"] for line in read_jsonl(out / "samples.jsonl")] == [0, 1, 2, 3]
    assert json.loads((out / "report.json").read_text())["unsupervised"]["episodes"] == 4
    assert main([*args, "--every", "6"]) == 2


def test_a_diagnoser_that_always_says_failed_shows_up_as_false_alarms(tmp_path: Path) -> None:
    cfg = RecoveryConfig(episodes=2, seed=5, failure_rate=0.0, diagnoser="scripted", executor="vsf",
                         every=2, max_frames=300, width=64, height=48)  # fmt: skip
    report = run_recovery(cfg, tmp_path / "run", log=lambda m: None)
    check_shape(report)
    s = report["supervised"]
    assert set(report["by_failure_type"]) == {"none"} and s["failed_episodes"] == 0 and s["recovered"] == 0
    assert s["false_alarms"] == s["checks"] >= 2 and s["false_alarm_episodes"] == 2
    assert s["interventions"] >= 2 and s["detection_delay_frames"] is None


def line(failure: bool, checks: list[tuple[int, bool]], u_ok: bool, s_ok: bool, execs: int, **kw) -> dict:
    out = {
        "episode": kw.pop("episode", 0), "failure": failure, "failure_type": "gripper state" if failure else None,
        "variant": "no_close" if failure else None, "start_frame": 100 if failure else None,
        "unsupervised": {"success": u_ok},
        "supervised": {"success": s_ok, "checks": [{"frame": f, "failed": x} for f, x in checks],
                       "executions": [{}] * execs, "error": None},
    }  # fmt: skip
    out.update(kw)
    out["summary"] = episode_summary(out)
    return out


def test_scoring_rules_on_hand_made_episodes() -> None:
    early = line(True, [(50, True), (150, False), (300, True), (450, True)], False, True, 2)
    assert early["summary"]["false_alarms"] == 1 and early["summary"]["detection_delay_frames"] == 200
    assert early["summary"]["recovered"] and early["summary"]["interventions"] == 2
    missed = line(True, [(150, False)], False, False, 0, episode=1)
    assert missed["summary"]["detection_delay_frames"] is None and not missed["summary"]["recovered"]
    clean = line(False, [(150, True), (300, False)], True, True, 1, episode=2)
    assert clean["summary"]["false_alarms"] == 1 and not clean["summary"]["recovered"]
    report = build_report([early, missed, clean, dict(clean)], 3, {"seed": 0})  # the duplicate counts once
    check_shape(report)
    assert report["unsupervised"] == {"episodes": 3, "successes": 1, "success_rate": pytest.approx(1 / 3)}
    s = report["supervised"]
    assert (s["successes"], s["false_alarms"], s["recovered"], s["interventions"]) == (2, 2, 1, 3)
    assert s["detection_delay_frames"] == 200 and s["detected"] == 1 and s["failed_episodes"] == 2
    assert report["by_failure_type"]["gripper state"]["supervised"]["success_rate"] == 0.5
    assert report["by_failure_type"]["none"]["unsupervised"]["success_rate"] == 1.0
    assert report["gain_points"] == pytest.approx(100 / 3) and report["complete"]
    assert not build_report([early], 3, {})["complete"]


def test_bad_settings_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recovery", "--episodes", "0", "--out", str(tmp_path)]) == 2
    assert main(["recovery", "--failure-rate", "1.5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "--failure-rate" in err and "Traceback" not in err
    with pytest.raises(ViFailbackError):
        run_recovery(RecoveryConfig(episodes=1, diagnoser="oracle", executor="nope", max_frames=30, width=64,
                                    height=48), tmp_path / "x", log=lambda m: None)  # fmt: skip
