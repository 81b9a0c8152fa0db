"""``vifailback live``: headless runs on the simulated robot with the built-in policy over a real websocket."""

from __future__ import annotations

import json

import pytest

from tests.live.live_fakes import FAILED, SUCCESSFUL
from vifailback_demo.cli.main import main
from vifailback_demo.live.runlog import read_events

SIM_BUILTIN = ["live", "--robot", "sim", "--policy", "builtin"]


def _events(out) -> list[dict]:
    return read_events(out / "events.jsonl")


def test_a_headless_run_detects_pauses_corrects_with_the_oracle_and_recovers(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            *SIM_BUILTIN,
            *["--model", "oracle", "--failure-rate", "1", "--seed", "3", "--auto-accept", "--json"],
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "warning: --auto-accept" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(captured.out) == summary
    assert summary["outcome"] == "succeeded" and summary["success"] is True
    assert summary["status"]["proposals"] == 1 and summary["status"]["executions"] == 1
    assert summary["failure"]["type"] and summary["detection_delay_frames"] >= 0
    names = [e["event"] for e in _events(out)]
    # detected -> held for review (the proposal) -> decided -> executed -> the policy resumed
    i = names.index("proposal")
    assert names[i + 1 : i + 3] == ["state", "decision"] and "execution" in names[i:]
    states = [e["state"] for e in _events(out) if e["event"] == "state"]
    assert states[states.index("awaiting_review") :][:3] == ["awaiting_review", "executing", "running"]
    assert names[-1] == "run_ended"


def test_without_auto_accept_the_proposal_is_written_and_the_run_stops(tmp_path, capsys):
    answer = tmp_path / "failed.txt"
    answer.write_text(FAILED)
    out = tmp_path / "run"
    rc = main([*SIM_BUILTIN, "--backend", "scripted", "--model", str(answer), "--every", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "awaiting_review" in captured.out and "auto-accept" not in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "awaiting_review" and summary["status"]["state"] == "stopped"
    assert summary["status"]["steps"] == 50 and summary["status"]["executions"] == 0
    proposal = json.loads((out / "proposal" / "proposal.json").read_text())
    assert proposal["check"] == 1 and proposal["correction"]["keyframe"] == 3
    assert proposal["correction"]["low_level"] == "Move the right gripper to the left significantly."
    assert len(proposal["frames"]) == 8 and all((out / "proposal" / f).is_file() for f in proposal["frames"])
    assert (out / "proposal" / "keyframe.png").is_file() and (out / "proposal" / "diagnosis.json").is_file()
    names = [e["event"] for e in _events(out)]
    assert "decision" not in names and "execution" not in names
    assert names.index("proposal") < names.index("run_ended")


def test_a_policy_url_and_a_model_that_sees_no_failure(tmp_path, capsys):
    from vifailback_demo.policy.server import PolicyServer
    from vifailback_demo.policy.sim_policy import SimPolicy

    answer = tmp_path / "ok.txt"
    answer.write_text(SUCCESSFUL)
    out = tmp_path / "run"
    with PolicyServer(SimPolicy(failure_rate=1.0)) as server:
        flags = ["--backend", "scripted", "--every", "1", "--max-steps", "60", "--fps", "0", "--model", str(answer)]
        rc = main(["live", "--robot", "sim", "--policy", server.url, *flags, "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "max_steps" and summary["status"]["steps"] == 60
    assert [c["status"] for c in summary["checks"]] == ["successful", "successful"]
    assert "failure" not in summary  # the policy runs elsewhere: its script is not known here


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--robot", "sim", "--policy", "ws://127.0.0.1:9", "--failure-rate", "0.5"], "only applies to the built-in"),
        (["--robot", "serial:/dev/null", "--policy", "builtin"], "simulated robot only"),
        (["--robot", "rosbridge:ws://127.0.0.1:9", "--policy", "ws://127.0.0.1:9"], "needs --robot sim"),
    ],
)
def test_bad_combinations_are_refused_in_one_line(tmp_path, capsys, extra, message):
    model = [] if "--model" in extra else ["--model", "oracle"]
    rc = main(["live", *extra, *model, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1
