"""Sampling plans by timestamp (pure): the official rule, evenly spaced frames, the cap, nearest-frame picks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vifailback_demo.core.dataset import vqa_frame_names
from vifailback_demo.video.sampling import (
    SamplingSpec,
    even_timestamps,
    nearest_indices,
    official_timestamps,
    plan_timestamps,
)


def test_official_rule_matches_the_dataset_rule_at_25_fps() -> None:
    # 289 frames at 25 fps: frames 0, 25, ..., 275 plus the last (288) -> 13 images, as vqa_frame_names says.
    times = [i / 25 for i in range(289)]
    chosen = nearest_indices(times, official_timestamps(0.0, times[-1]))
    assert chosen == [int(name.split(".")[0]) for name in vqa_frame_names(289)]
    assert chosen[-1] == 288 and len(chosen) == 13


def test_official_rule_keeps_an_exact_last_second_once() -> None:
    assert official_timestamps(0.0, 3.0) == [0.0, 1.0, 2.0, 3.0]
    assert official_timestamps(0.0, 3.04) == [0.0, 1.0, 2.0, 3.0, 3.04]


def test_even_rule_includes_both_ends() -> None:
    assert even_timestamps(0.0, 10.0, 5) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert even_timestamps(2.0, 2.0, 4) == [2.0]


def test_long_clip_is_capped_to_evenly_spaced_frames() -> None:
    spec = SamplingSpec("official", max_frames=8)
    times = plan_timestamps(spec, 0.0, 120.0)
    assert len(times) == 8 and times[0] == 0.0 and times[-1] == 120.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "random"}, "sampling rule"),
        ({"rule": "even", "num_frames": 0}, "num_frames"),
        ({"rule": "even", "num_frames": 40, "max_frames": 32}, "num_frames"),
        ({"max_frames": 0}, "max_frames"),
    ],
)
def test_bad_specs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingSpec(**kwargs)


def test_nearest_prefers_the_closer_frame_and_dedupes() -> None:
    frame_times = [0.0, 0.1, 0.15, 0.9, 1.0, 1.05, 2.3, 3.5]
    assert nearest_indices(frame_times, [0.0, 1.0, 2.0, 3.0, 3.5]) == [0, 4, 6, 7]


@given(
    st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40, unique=True).map(sorted),
    st.lists(st.floats(-5, 105, allow_nan=False), min_size=1, max_size=20).map(sorted),
)
def test_nearest_is_really_nearest(frame_times: list[float], targets: list[float]) -> None:
    chosen = nearest_indices(frame_times, targets)
    assert chosen == sorted(chosen) and len(set(chosen)) == len(chosen)
    for t in targets:
        best = min(abs(f - t) for f in frame_times)
        assert any(abs(frame_times[i] - t) == best for i in chosen)


@given(st.floats(0.04, 600, allow_nan=False), st.integers(1, 32))
def test_plans_stay_inside_the_clip_and_under_the_cap(last: float, cap: int) -> None:
    for spec in (SamplingSpec("official", max_frames=cap), SamplingSpec("even", num_frames=cap, max_frames=cap)):
        times = plan_timestamps(spec, 0.0, last)
        assert 1 <= len(times) <= cap
        assert times[0] == 0.0 and (times[-1] == last or len(times) == 1)
        assert times == sorted(times)
