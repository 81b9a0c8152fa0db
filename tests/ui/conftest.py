"""UI test fixtures: services on a tmp data dir with the scripted backend, a generated H.264 clip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.helpers import make_services, write_clip
from vifailback_demo.services import Services


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "robot.mp4")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = make_services(tmp_path / "data")
    yield s
    s.close()
