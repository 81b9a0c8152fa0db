"""Model resolution: flag > env > paper model in the local HF cache > bundled tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from vifailback_demo.errors import ModelNotFoundError
from vifailback_demo.models.resolve import PAPER_MODEL, bundled_model_dir, cached_snapshot, is_model_dir, resolve_model


def _fake_cache(cache: Path, repo_id: str, *, weights: bool = True) -> Path:
    """The on-disk layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    (snapshot / "config.json").write_text("{}")
    if weights:
        (snapshot / "model.safetensors").write_bytes(b"\x00")
    return snapshot


def _model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(b"\x00")
    return path


def test_nothing_available_gives_the_no_model_message(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model(env={}, cache_dir=tmp_path / "cache", bundled_dir=tmp_path / "no-tiny")
    message = str(info.value)
    assert message.startswith("no model available")
    assert f"hf download {PAPER_MODEL}" in message and "huggingface-cli download" in message
    assert "--backend scripted" in message


def test_default_bundled_location_is_under_assets() -> None:
    assert bundled_model_dir().parts[-3:] == ("assets", "models", "vifailback-tiny")


def test_real_default_is_the_bundled_model(tmp_path: Path) -> None:
    # The repository ships assets/models/vifailback-tiny; with no flag, no env and an empty cache (a machine without
    # ViFailback-8B) the default is that directory.
    assert is_model_dir(bundled_model_dir()), f"{bundled_model_dir()} is missing or incomplete"
    choice = resolve_model(env={}, cache_dir=tmp_path / "empty-cache")
    assert (choice.source, choice.path) == ("bundled", bundled_model_dir())


def test_order_flag_env_cache_bundled(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bundled = _model_dir(tmp_path / "tiny")
    assert resolve_model(env={}, cache_dir=cache, bundled_dir=bundled).source == "bundled"
    snapshot = _fake_cache(cache, PAPER_MODEL)
    choice = resolve_model(env={}, cache_dir=cache, bundled_dir=bundled)
    assert (choice.source, choice.path, choice.spec) == ("hf-cache", snapshot, PAPER_MODEL)
    env_model = _model_dir(tmp_path / "env-model")
    assert resolve_model(env={"VIFAILBACK_MODEL": str(env_model)}, cache_dir=cache).path == env_model
    flag_model = _model_dir(tmp_path / "flag-model")
    choice = resolve_model(str(flag_model), env={"VIFAILBACK_MODEL": str(env_model)}, cache_dir=cache)
    assert (choice.source, choice.path) == ("flag", flag_model)


def test_incomplete_download_is_not_a_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_cache(cache, PAPER_MODEL, weights=False)
    assert cached_snapshot(PAPER_MODEL, cache) is None


def test_named_but_missing_models_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotFoundError, match=r"'org/Other' is not in the local Hugging Face cache.*hf download org/Other"
    ):
        resolve_model("org/Other", env={}, cache_dir=tmp_path)
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model(str(tmp_path / "missing" / "dir"), env={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="not a model"):
        resolve_model(str(tmp_path / "empty"), env={})
    with pytest.raises(ModelNotFoundError, match="hf download org/FromEnv"):
        resolve_model(env={"VIFAILBACK_MODEL": "org/FromEnv"}, cache_dir=tmp_path)


def test_resolution_never_uses_the_network(tmp_path: Path, monkeypatch) -> None:
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access during model resolution")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(ModelNotFoundError):
        resolve_model("org/Absent", env={}, cache_dir=tmp_path)
