"""Hub push only for someone allowed to: the launched app driven through gradio_client, with a fake HF_TOKEN in
the server's environment and ``datasets.Dataset.push_to_hub`` replaced in-process (no network).

Rules (services/hub.py): ``--auth`` lets a logged-in user push (to the repo typed, or to ``--hub-repo`` if set);
``--hub-repo`` alone lets anyone push, but only there; otherwise the control is hidden and a push is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

import app as app_main
from tests.ui.helpers import free_port, make_services
from vifailback_demo.errors import StoreError
from vifailback_demo.services import Draft, Services
from vifailback_demo.services.config import load_config
from vifailback_demo.services.corrections import CorrectionsService
from vifailback_demo.services.hub import (
    DISABLED_MESSAGE,
    push_enabled,
    push_target,
    usable_target,
    validate_repo_id,
)
from vifailback_demo.store import FinalVersion

FIXED = "operator-org/vifailback-corrections"
USER, PASSWORD = "ann", "s3cret-pw"
TIMEOUT_S = 60


class Recorder:
    """Stands in for ``Dataset.push_to_hub`` and for ``export_zip`` (to prove nothing ran)."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, Any]] = []
        self.exports = 0
        self.fail_push: BaseException | None = None  # raised by the Hub call itself
        self.fail_service: BaseException | None = None  # a raw exception escaping the service during a push


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")  # the server "has" a token; it is never used

    def push_to_hub(self: datasets.Dataset, repo_id: str, *args: Any, **kwargs: Any) -> None:
        if rec.fail_push is not None:
            raise rec.fail_push
        rec.pushes.append({"repo": repo_id, "rows": len(self), "private": kwargs.get("private")})

    real_export_zip = CorrectionsService.export_zip

    def export_zip(self: CorrectionsService, *args: Any, **kwargs: Any) -> Any:
        rec.exports += 1
        if rec.fail_service is not None and kwargs.get("push_to_hub"):
            raise rec.fail_service
        return real_export_zip(self, *args, **kwargs)

    monkeypatch.setattr(datasets.Dataset, "push_to_hub", push_to_hub)
    monkeypatch.setattr(CorrectionsService, "export_zip", export_zip)
    return rec


def add_accepted(services: Services) -> int:
    """One accepted correction, so a pushed dataset has rows."""
    frames = [np.full((48, 64, 3), 60 * i, np.uint8) for i in range(1, 4)]
    draft = Draft(task="Stack the blue block.", mode="avoidance", frames=frames, source_kind="upload",
                  source_ref="clip.mp4", model_output=None, model_diagnosis=None)  # fmt: skip
    final = FinalVersion(success=False, keyframe=2, failure_type="task planning", failure_reason="It missed.",
                         low_level="Move the right gripper upward slightly.", image_size=(64, 48))  # fmt: skip
    return services.corrections.decide(draft, "accepted", final)


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., tuple[Services, Any, Client]]]:
    started: list[tuple[Services, Any]] = []

    def start(**config: Any) -> tuple[Services, Any, Client]:
        from vifailback_demo.ui import build_demo, launch

        services = make_services(tmp_path / f"data{len(started)}", **config)
        add_accepted(services)
        demo = build_demo(services)
        launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
        started.append((services, demo))
        auth = (USER, PASSWORD) if config.get("auth") else None
        client = Client(demo.local_url, auth=auth, verbose=False, httpx_kwargs={"timeout": TIMEOUT_S})
        return services, demo, client

    yield start
    for services, demo in started:
        demo.close()
        services.close()


def export(client: Client, fmt: str, repo: str) -> tuple[str, str]:
    return client.predict(fmt, False, "any", repo, api_name="/export")


@contextmanager
def refused(*fragments: str) -> Iterator[None]:
    """The client gets one line (no traceback) containing every fragment."""
    with pytest.raises(AppError) as info:
        yield
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def hub_box(demo: Any, client: Client) -> dict[str, Any]:
    """The hub textbox's props as the app sends them to browsers and clients."""
    box_id = demo.components_by_name["hub_repo"]._id
    return next(c["props"] for c in client.config["components"] if c["id"] == box_id)


def test_anonymous_app_hides_the_hub_box_and_refuses_a_push(start_app, hub: Recorder) -> None:
    _, demo, client = start_app()
    assert demo.components_by_name["hub_repo"].visible is False
    assert hub_box(demo, client)["visible"] is False
    with refused("Hub push is disabled: start the app with --auth or --hub-repo"):
        export(client, "hf", "attacker/exfiltrate")
    assert hub.pushes == [] and hub.exports == 0, "a refused push changes nothing"
    _, message = export(client, "hf", "")  # exporting without a push still works
    assert "Exported 1 accepted records" in message and "Pushed" not in message and hub.pushes == []


def test_fixed_repo_is_shown_read_only_and_the_only_destination(start_app, hub: Recorder) -> None:
    _, demo, client = start_app(hub_repo=FIXED)
    props = hub_box(demo, client)
    assert props["visible"] is not False and props["interactive"] is False and props["value"] == FIXED
    _, message = export(client, "hf", "attacker/elsewhere")
    assert [(p["repo"], p["private"]) for p in hub.pushes] == [(FIXED, True)] and hub.pushes[0]["rows"] >= 1
    assert f"Pushed to `{FIXED}`" in message and "attacker" not in message
    for fmt, repo in (("sharegpt", FIXED), ("hf", "")):  # ShareGPT is never pushed; nothing asked, nothing pushed
        _, message = export(client, fmt, repo)
        assert "Exported 1 accepted records" in message and "Pushed" not in message
    assert len(hub.pushes) == 1


def test_logged_in_user_pushes_to_the_repo_they_name(start_app, hub: Recorder) -> None:
    _, demo, client = start_app(auth=((USER, PASSWORD),))
    props = hub_box(demo, client)
    assert props["visible"] is not False and props.get("interactive") is not False
    _, message = export(client, "hf", "  ann/my-corrections  ")
    assert [p["repo"] for p in hub.pushes] == ["ann/my-corrections"] and "Pushed to `ann/my-corrections`" in message
    for bad in ("not a repo", "ann/../etc", "https://huggingface.co/ann/x", "ann/x\n/y", "a/" + "x" * 97):
        with refused("hub repo: expected namespace/name"):
            export(client, "hf", bad)
    assert len(hub.pushes) == 1 and hub.exports == 1, "a malformed repo id is refused before any work"


def test_logged_in_user_with_a_fixed_repo_pushes_only_there(start_app, hub: Recorder) -> None:
    _, _, client = start_app(auth=((USER, PASSWORD),), hub_repo=FIXED)
    export(client, "hf", "ann/somewhere-else")
    assert [p["repo"] for p in hub.pushes] == [FIXED]


DROPPED = ConnectionError("('Connection aborted.',\n RemoteDisconnected('Remote end closed connection'))")
NOT_JSON = json.JSONDecodeError("Expecting value", "<html>\n<body>502 Bad Gateway</body>\n</html>", 0)
FAILURES = {
    "store-error": StoreError("pushing to the Hub failed:\n  401 Client Error\n  Invalid credentials"),
    "dropped-connection": DROPPED,
    "non-json-reply": NOT_JSON,
    "huge-message-with-token": RuntimeError("boom hf_fake_token_for_tests " + "x" * 5000),
}


@pytest.mark.parametrize("where", ["hub-call", "service"])
@pytest.mark.parametrize("name", list(FAILURES))
def test_a_hub_error_reaches_the_client_as_one_line(start_app, hub: Recorder, where: str, name: str) -> None:
    """Raised by the Hub call (the store turns it into a StoreError) or escaping the service raw: one line."""
    _, _, client = start_app(hub_repo=FIXED)
    setattr(hub, "fail_push" if where == "hub-call" else "fail_service", FAILURES[name])
    with pytest.raises(AppError) as info:
        export(client, "hf", FIXED)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message and len(message) < 700, message
    assert FIXED in message or "Hub" in message, message
    assert "hf_fake_token_for_tests" not in message, "the server's token never reaches a client"
    if where == "service" and name != "store-error":
        assert f"Hub push to {FIXED} failed ({type(FAILURES[name]).__name__})" in message, message
    hub.fail_push = hub.fail_service = None
    _, message = export(client, "hf", FIXED)  # the app is still fine
    assert f"Pushed to `{FIXED}`" in message


def test_without_hf_token_nothing_is_pushed(start_app, hub: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    _, _, client = start_app(hub_repo=FIXED)
    _, message = export(client, "hf", FIXED)
    assert hub.pushes == [] and "Exported 1 accepted records" in message and "Pushed" not in message


def test_push_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy on its own: a login counts only with --auth and a user; a fixed repo wins over what is sent."""
    rules = dict(auth=False, username=None, fixed_repo=None)
    assert push_target("", **rules) is None and push_target("  ", **rules) is None  # no push asked: fine
    for refused_rules in (rules, {**rules, "auth": True}, {**rules, "username": "ann"}):
        with pytest.raises(ValueError, match=r"^Hub push is disabled"):
            push_target("a/b", **refused_rules)
    assert push_target(" a/b ", **{**rules, "auth": True, "username": "ann"}) == "a/b"
    assert push_target("x/y", **{**rules, "fixed_repo": FIXED}) == FIXED
    assert push_enabled(False, None) is False and push_enabled(True, None) and push_enabled(False, FIXED)
    assert usable_target(FIXED, "sharegpt", fixed=True) == (None, None)
    assert usable_target("a/b", "sharegpt", fixed=False)[1].startswith("Not pushed")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert usable_target("a/b", "hf", fixed=False) == (
        None,
        "Not pushed to the Hub: HF_TOKEN is not set on the server.",
    )
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    assert usable_target("a/b", "hf", fixed=False) == ("a/b", None)


# --- configuration ------------------------------------------------------------------------------------------------


def test_hub_repo_flag_and_env(tmp_path: Path) -> None:
    assert load_config([], env={}).hub_repo is None
    assert load_config([], env={"VIFAILBACK_HUB_REPO": " org/data "}).hub_repo == "org/data"
    assert load_config(["--hub-repo", "me/x.v2"], env={"VIFAILBACK_HUB_REPO": "org/data"}).hub_repo == "me/x.v2"
    assert load_config(["--hub-repo", ""], env={"VIFAILBACK_HUB_REPO": "org/data"}).hub_repo is None
    assert load_config(["--hub-repo", "me/x"], env={}).describe()["hub_repo"] == "me/x"


@pytest.mark.parametrize(
    "repo",
    ["noslash", "a/b/c", "a b/c", "../x", "a/..", "-a/b", "a/b-", "a/b.git", "a--b/c", "a/" + "x" * 97, "a/b\nc", "/b"],
)
def test_a_bad_hub_repo_is_refused_at_startup_with_one_line(
    repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="--hub-repo: expected namespace/name") as info:
        load_config([f"--hub-repo={repo}"], env={})
    assert "\n" not in str(info.value)
    assert app_main.main([f"--hub-repo={repo}", "--data-dir", str(tmp_path / "d"), "--backend", "scripted"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --hub-repo: expected namespace/name") and err.count("\n") == 1, err


@pytest.mark.parametrize("repo", ["a/b", "user-1/my_data.v2", "Org.Name/Set_2", "x" * 96 + "/" + "y" * 96])
def test_good_repo_ids(repo: str) -> None:
    assert validate_repo_id(f" {repo} ") == repo


def test_disabled_message_is_one_line() -> None:
    assert "\n" not in DISABLED_MESSAGE and DISABLED_MESSAGE.startswith("Hub push is disabled:")
