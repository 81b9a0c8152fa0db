"""``vifailback live``: headless runs on the simulated robot with the built-in policy over a real websocket."""

from __future__ import annotations

import json

import pytest

from tests.live.live_fakes import FAILED, SUCCESSFUL
from vifailback_demo.cli.main import main
from vifailback_demo.live.records import live_notes
from vifailback_demo.live.runlog import read_events
from vifailback_demo.store import CorrectionsStore

SIM_BUILTIN = ["live", "--robot", "sim", "--policy", "builtin"]


@pytest.fixture(autouse=True)
def default_data_dir(tmp_path, monkeypatch):
    """The store a run without --data-dir writes to: never the working directory's ./vifailback_data."""
    data = tmp_path / "default-data"
    monkeypatch.setenv("VIFAILBACK_DATA_DIR", str(data))
    return data


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


def test_an_auto_accepted_run_stores_accepted_live_records(tmp_path, capsys, default_data_dir):
    out, data = tmp_path / "run", tmp_path / "data"
    flags = ["--model", "oracle", "--failure-rate", "1", "--seed", "3", "--auto-accept", "--executor", "pmc"]
    rc = main([*SIM_BUILTIN, *flags, "--data-dir", str(data), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "succeeded" and summary["data_dir"] == str(data)
    assert len(summary["records"]) == summary["status"]["proposals"] >= 1
    assert f"{len(summary['records'])} intervention" in captured.out and f"recorded in {data}" in captured.out
    with CorrectionsStore(data, create=False) as store:
        records = [store.get(i) for i in summary["records"]]
        assert store.count() == len(records)
    for rec in records:
        notes = live_notes(rec)
        assert rec.source.kind == "live_run" and rec.source.ref.startswith(f"{summary['run_id']}:check")
        assert rec.decision == "accepted" and rec.final is not None and rec.who == "auto"
        assert notes["succeeded"] is True and notes["executor"] == "pmc" and notes["supervisor_decision"] == "auto"
        assert notes["failure"] == summary["failure"] and rec.task == summary["task"]
    assert not default_data_dir.exists()


def test_without_auto_accept_the_proposal_is_written_and_the_run_stops(tmp_path, capsys, default_data_dir):
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
    # The proposal waits for review in the store (the default data dir): one skipped record, no final version.
    assert summary["data_dir"] == str(default_data_dir) and "1 intervention recorded in" in captured.out
    with CorrectionsStore(default_data_dir, create=False) as store:
        (rec,) = list(store.iter_records())
    assert summary["records"] == [rec.id] and rec.source.ref == f"{summary['run_id']}:check1"
    assert rec.decision == "skipped" and rec.final is None and rec.review_status == "unreviewed"
    assert rec.model_output == FAILED and len(rec.frames) == 8
    assert live_notes(rec)["succeeded"] is False and live_notes(rec)["supervisor_decision"] is None


def test_no_record_stores_nothing(tmp_path, capsys, default_data_dir):
    answer = tmp_path / "failed.txt"
    answer.write_text(FAILED)
    out, data = tmp_path / "run", tmp_path / "data"
    flags = ["--backend", "scripted", "--model", str(answer), "--every", "2", "--no-record", "--data-dir", str(data)]
    rc = main([*SIM_BUILTIN, *flags, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "awaiting_review" and summary["status"]["proposals"] == 1
    assert summary["records"] is None and summary["data_dir"] is None and "recorded" not in captured.out
    assert not data.exists() and not default_data_dir.exists()


def test_a_store_failure_keeps_the_summary_and_exits_nonzero(tmp_path, capsys):
    answer = tmp_path / "failed.txt"
    answer.write_text(FAILED)
    out, data = tmp_path / "run", tmp_path / "not-a-dir"
    data.write_text("a file where the data directory should be")
    flags = ["--backend", "scripted", "--model", str(answer), "--every", "2", "--data-dir", str(data)]
    rc = main([*SIM_BUILTIN, *flags, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert f"warning: the interventions were not recorded in {data}" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "awaiting_review" and summary["records"] is None and summary["record_error"]
    assert "awaiting_review" in captured.out and (out / "proposal" / "proposal.json").is_file()


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
    assert summary["records"] == [] and not (tmp_path / "default-data").exists()  # no proposal: nothing stored


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
