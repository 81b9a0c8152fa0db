"""Fixtures for the eval tests: a small bench (all 11 tags) in a temporary dataset root."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.benchdata import Bench, make_bench


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return make_bench(tmp_path / "dataset", per_tag=2)
