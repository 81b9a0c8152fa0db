"""Fixtures for the corrections-store tests: a store in a tmp dir and ready-made corrections."""

from __future__ import annotations

import pytest

from vifailback_demo.store import CorrectionsStore


@pytest.fixture
def store(tmp_path):
    s = CorrectionsStore(tmp_path / "data")
    yield s
    s.close()
