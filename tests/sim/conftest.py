"""Shared fixtures: one small generated dataset reused by the read-back tests (generation is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vifailback_demo.sim.generate import GenerateConfig, generate


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("simdata")
    manifest = generate(
        GenerateConfig(episodes=8, seed=11, out=str(out), width=320, height=240, workers=1, progress=False)
    )
    return out, manifest
