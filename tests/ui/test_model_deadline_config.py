"""The app's model deadline: ``--model-deadline-s`` over ``$VIFAILBACK_MODEL_DEADLINE_S`` over a default sized from
``--max-new-tokens``; bad values refused in one line; a model call that overruns frees the model queue in time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.fakes.httpserver import RawServer, ping_forever
from tests.ui.helpers import TASK
from vifailback_demo.errors import BackendTimeoutError
from vifailback_demo.models.backend import GenerationResult
from vifailback_demo.services.config import AppConfig, load_config
from vifailback_demo.services.diagnosis import DiagnosisService
from vifailback_demo.video.reader import SampledFrames

ENV = "VIFAILBACK_MODEL_DEADLINE_S"
MARGIN = 1.5


def test_default_flag_env_and_precedence() -> None:
    default = load_config([], env={})
    assert default.model_deadline_s is None
    assert DiagnosisService(default).deadline_s == pytest.approx(264.8)  # 60 s + 0.1 s x 2048 tokens
    assert DiagnosisService(load_config(["--max-new-tokens", "100"], env={})).deadline_s == pytest.approx(70.0)
    assert load_config([], env={ENV: "90"}).model_deadline_s == 90.0
    assert load_config([], env={ENV: " auto "}).model_deadline_s is None
    assert load_config(["--model-deadline-s", "12.5"], env={ENV: "90"}).model_deadline_s == 12.5
    assert DiagnosisService(load_config(["--model-deadline-s", "12.5"], env={})).deadline_s == 12.5


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "1e999"])
def test_bad_values_are_refused_in_one_line(value: str) -> None:
    with pytest.raises(ValueError) as flag:
        load_config(["--model-deadline-s", value], env={})
    assert str(flag.value) == f"--model-deadline-s: expected seconds > 0 (or auto), got {value!r}"
    with pytest.raises(ValueError) as env:
        load_config([], env={ENV: value})
    assert str(env.value) == f"${ENV}: expected seconds > 0 (or auto), got {value!r}"


def _sampled() -> SampledFrames:
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(2)]
    return SampledFrames(frames=frames, timestamps_s=[0.0, 1.0], source="<frames>", kind="arrays")


class SilentBackend:
    """A local model that never answers (within the test): what a hung generation looks like to the app."""

    name = "silent-model"

    def __init__(self) -> None:
        self.release = threading.Event()

    def generate(self, frames, prompt, *, settings=None, on_text=None) -> GenerationResult:
        self.release.wait(15)
        return GenerationResult(text="too late")


def test_a_silent_model_frees_the_queue_at_the_deadline(tmp_path: Path) -> None:
    backend = SilentBackend()
    service = DiagnosisService(AppConfig(data_dir=tmp_path, model_deadline_s=1.0), backend=backend)
    start = time.perf_counter()
    try:
        with pytest.raises(BackendTimeoutError) as info:
            list(service.run(_sampled(), TASK, "avoidance"))
    finally:
        backend.release.set()
    assert time.perf_counter() - start < 1.0 + MARGIN
    assert str(info.value) == (
        "silent-model: no complete answer within 1 s (the model deadline: raise it with --model-deadline-s or "
        "VIFAILBACK_MODEL_DEADLINE_S)"
    )


def test_a_served_model_gets_the_deadline_on_its_connection(tmp_path: Path) -> None:
    with RawServer(ping_forever) as server:
        config = AppConfig(
            data_dir=tmp_path, backend="openai", model="ViFailback-8B", openai_base_url=server.url, model_deadline_s=1.0
        )
        service = DiagnosisService(config)
        start = time.perf_counter()
        # The client's own deadline and the app's wrapper both end at 1 s; whichever fires first words the error.
        with pytest.raises(BackendTimeoutError, match=r"within (the )?1 s"):
            list(service.run(_sampled(), TASK, "avoidance"))
        elapsed = time.perf_counter() - start
        assert service.backend().client.deadline_s == 1.0
        assert server.idle(within_s=3.0)  # the client closed its connection too: the server's pings failed
    assert elapsed < 1.0 + MARGIN
