"""Configs saved before the outcome head moved to experiments/ still load when they did not use it."""

from __future__ import annotations

import json

import pytest

from training.config import load_config


def test_an_old_config_with_the_head_off_loads(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"learning_rate": 1e-4, "failure_head_weight": 0.0, "failure_head_layer": -1}))
    assert load_config(path).learning_rate == 1e-4


def test_an_old_config_that_used_the_head_is_refused(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"failure_head_weight": 0.5}))
    with pytest.raises(ValueError, match="unknown config keys \\['failure_head_weight'\\]"):
        load_config(path)
