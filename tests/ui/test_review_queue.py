"""The review queue through the launched app (gradio_client) and its service: two clients never get the same clip,
the next clip is diagnosed while the current one is edited (pre-fetch), the queue survives a restart, a reviewer
name is needed, Accept asks first while the command and the symbols disagree."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from tests.ui.helpers import TASK, call, make_services, start_app, write_clip
from vifailback_demo.errors import DatasetError
from vifailback_demo.services.config import load_config
from vifailback_demo.services.queue_source import list_clips
from vifailback_demo.ui.queue_handlers import QUEUE_OUTPUTS
from vifailback_demo.ui.run_handlers import DECIDE_BUTTONS

CLIP_RE = re.compile(r"Queue clip `([^`]+)`")


def make_queue(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_clip(folder / f"clip{i}.mp4", seconds=1.0, size=(160, 120))
        (folder / f"clip{i}.txt").write_text(f"{TASK}\n")
    return folder


def _named(result: tuple, names: tuple[str, ...]) -> dict:
    """An API result by output name (gradio_client leaves out states, buttons and layout blocks)."""
    assert isinstance(result, tuple), result
    hidden = {"run_state", "editor_state", "picked", "confirm_box", *DECIDE_BUTTONS}
    shown = [n for n in names if n not in hidden]
    return dict(zip(shown, result, strict=True))


@pytest.fixture
def queue_app(tmp_path: Path):
    services = make_services(tmp_path / "data", queue_dir=make_queue(tmp_path / "queue", 6))
    demo, client = start_app(services)
    yield demo, client, services
    demo.close()
    services.close()


def _review_all(client, name: str, seen: list[str]) -> None:
    """Load the first clip, then Skip each: with a queue, the decision's reply is the next clip."""
    out = _named(call(client, name, api_name="/queue_next")[0], QUEUE_OUTPUTS)
    while True:
        match = CLIP_RE.search(out["summary"] if isinstance(out["summary"], str) else "")
        if match is None:
            assert "Nothing left" in out["queue_progress"], out["queue_progress"]
            return
        seen.append(match.group(1))
        out = _named(call(client, name, api_name="/skip")[0], QUEUE_OUTPUTS)
        assert out["decision_out"].startswith("Previous clip: Recorded as **skipped**"), out["decision_out"]


def test_two_clients_never_get_the_same_clip(queue_app, tmp_path: Path) -> None:
    from gradio_client import Client

    demo, alice_client, services = queue_app
    bob_client = Client(demo.local_url, verbose=False)
    seen: dict[str, list[str]] = {"alice": [], "bob": []}
    threads = [
        threading.Thread(target=_review_all, args=(alice_client, "alice", seen["alice"])),
        threading.Thread(target=_review_all, args=(bob_client, "bob", seen["bob"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not set(seen["alice"]) & set(seen["bob"]), seen
    assert sorted(seen["alice"] + seen["bob"]) == [f"clip{i}.mp4" for i in range(6)]
    records = services.corrections.store.list(limit=50).records
    assert sorted((r.who, r.source.ref) for r in records) == sorted(
        [("alice", ref) for ref in seen["alice"]] + [("bob", ref) for ref in seen["bob"]]
    )
    assert services.queue.progress().done == 6


def test_a_name_is_needed_and_an_undecided_clip_stays(queue_app) -> None:
    _, client, _ = queue_app
    result, _ = call(client, "  ", api_name="/queue_next")
    assert "Type your name first" in str(result)
    first = _named(call(client, "carol", api_name="/queue_next")[0], QUEUE_OUTPUTS)
    _, shown = call(client, "carol", api_name="/queue_next")
    assert any("Decide this clip first" in line for line in shown), shown
    assert CLIP_RE.search(first["summary"]).group(1) == "clip0.mp4"
    assert "Clip 1 of 6" in first["queue_progress"]


def test_accept_asks_while_the_command_and_symbols_disagree(queue_app) -> None:
    _, client, services = queue_app
    model = _named(call(client, "dana", api_name="/queue_next")[0], QUEUE_OUTPUTS)
    assert "agree" in model["warnings"] and "disagree" not in model["warnings"], model["warnings"]
    fields = [model[n] for n in ("success", "keyframe", "failure_type", "subtasks", "failed_subtask", "reason")]
    agreeing = [*fields, model["low_level"], model["high_level"], "dana"]
    result, _ = call(client, *agreeing, api_name="/accept")  # the model's own version: stored at once
    moved_on = _named(result, QUEUE_OUTPUTS)  # ... and the reply is the next clip
    assert "Previous clip: Accepted: stored as correction" in moved_on["decision_out"]
    assert CLIP_RE.search(moved_on["summary"]).group(1) == "clip1.mp4"
    # The scripted demo answer draws arrows for a move; a rotation-only command contradicts them.
    disagreeing = [
        "Failed",
        2,
        "gripper 6d-pose",
        "",
        None,
        "",
        "Rotate the left gripper counter-clockwise.",
        "",
        "dana",
    ]
    result, _ = call(client, *disagreeing, api_name="/accept")
    out = _named(result, QUEUE_OUTPUTS)
    assert "Not stored yet: the command and the symbols disagree" in out["decision_out"], out
    assert services.corrections.store.stats()["total"] == 1  # only the first clip's
    result, _ = call(client, *disagreeing, api_name="/accept_anyway")
    assert "Previous clip: Accepted" in _named(result, QUEUE_OUTPUTS)["decision_out"]
    records = sorted(services.corrections.store.list().records, key=lambda r: r.id)
    assert [(r.who, r.decision, r.source.ref) for r in records] == [
        ("dana", "accepted", "clip0.mp4"),
        ("dana", "accepted", "clip1.mp4"),
    ]
    assert records[1].final.low_level == "Rotate the left gripper counter-clockwise."
    assert [services.queue.table.get(i).status for i in (1, 2, 3)] == ["done", "done", "claimed"]


def test_the_next_clip_is_diagnosed_while_the_current_one_is_edited(tmp_path: Path, monkeypatch) -> None:
    services = make_services(tmp_path / "data", queue_dir=make_queue(tmp_path / "queue", 3))
    try:
        queue, runs = services.queue, []
        real_run = services.diagnosis.run

        def counting_run(sampled, task, mode, **kw):
            runs.append(threading.current_thread().name)
            yield from real_run(sampled, task, mode, **kw)

        monkeypatch.setattr(services.diagnosis, "run", counting_run)
        first = queue.next("s1", "erin")
        assert first.diagnosis is not None and first.item.position == 1
        ahead = queue._jobs[2]
        second_ready = ahead.result(timeout=60)  # done in the background, before the reviewer asks
        assert sorted(name.split("_")[0] for name in runs) == ["MainThread", "queue-prefetch"]
        services.corrections.store.add(_item(first), also=queue.completer(first.item.id, "erin", "skipped"))
        second = queue.next("s1", "erin")
        assert second is second_ready  # handed over as it was prepared: no model run in the reviewer's request
        queue._jobs[3].result(timeout=60)
        assert len(runs) == 3 and runs.count("MainThread") == 1  # clip 1 at once, clips 2 and 3 ahead
    finally:
        services.close()


def _item(prepared):
    from vifailback_demo.store import NewCorrection

    return NewCorrection(
        task=prepared.item.task,
        frames=list(prepared.sampled.frames[:1]),
        decision="skipped",
        who="erin",
        source_kind=prepared.item.source_kind,
        source_ref=prepared.item.source_ref,
    )


def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    folder = make_queue(tmp_path / "queue", 4)
    services = make_services(tmp_path / "data", queue_dir=folder)
    held = services.queue.next("session-1", "frank")
    services.corrections.store.add(_item(held), also=services.queue.completer(held.item.id, "frank", "skipped"))
    services.queue.next("session-1", "frank")  # now holds clips 2 and 3
    services.close()
    services = make_services(tmp_path / "data", queue_dir=folder)
    try:
        p = services.queue.progress()
        assert (p.total, p.done, p.by_reviewer) == (4, 1, {"frank": 1})
        assert services.queue.next("another-session", "gina").item.position == 4  # frank's clips stay his
        assert services.queue.next("session-9", "frank").item.position == 2
    finally:
        services.close()


def test_queue_sources_and_flags(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    (folder / "day2").mkdir(parents=True)
    write_clip(folder / "a.mp4", seconds=0.5, size=(64, 48))
    write_clip(folder / "day2" / "b.mp4", seconds=0.5, size=(64, 48))
    (folder / "a.txt").write_text("\n  Open the drawer.  \n")
    (folder / "tasks.json").write_text(json.dumps({"day2/b.mp4": "Close the lid."}))
    clips = list_clips(folder)
    assert [(c.ref, c.task, c.kind) for c in clips] == [
        ("a.mp4", "Open the drawer.", "upload"),
        ("day2/b.mp4", "Close the lid.", "upload"),
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no clips found"):
        list_clips(tmp_path / "empty")
    assert load_config(["--queue", str(folder)], env={}).queue_dir == folder.resolve()
    with pytest.raises(ValueError, match="--queue: expected a folder"):
        load_config(["--queue", str(tmp_path / "missing")], env={})
    with pytest.raises(ValueError, match="--queue-lease-s"):
        load_config(["--queue", str(folder), "--queue-lease-s", "0"], env={})


def test_live_checks_and_runs_take_turns_on_the_model(tmp_path: Path) -> None:
    """The Live tab's checks use the model through ``shared_backend``: never at the same time as another call."""
    import time

    from vifailback_demo.models.backend import GenerationResult
    from vifailback_demo.services import DiagnosisService
    from vifailback_demo.services.config import AppConfig

    inside, most = [0], [0]
    lock = threading.Lock()

    class SlowBackend:
        name = "slow"

        def generate(self, frames, prompt, *, settings=None, on_text=None):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
            return GenerationResult(text="Successful", model="slow")

    service = DiagnosisService(AppConfig(data_dir=tmp_path), backend=SlowBackend())
    threads = [threading.Thread(target=service.shared_backend().generate, args=([], "prompt")) for _ in range(4)]
    for t in threads:
        t.start()
    with service.model_lock:  # a Diagnose run or a queue pre-fetch holds this while it generates
        time.sleep(0.1)
        assert inside[0] == 0
    for t in threads:
        t.join(10)
    assert most[0] == 1


def test_the_documented_endpoints_are_the_apps(queue_app) -> None:
    """docs/app.md's list of client endpoints is exactly what view_api() shows (with a queue: all of them)."""
    _, client, _ = queue_app
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    text = (Path(__file__).resolve().parents[2] / "docs" / "app.md").read_text(encoding="utf-8")
    paragraph = text[text.index("Stable client endpoints") :].split("\n\n")[0]
    assert set(re.findall(r"`(/[a-z_]+)`", paragraph)) == named
