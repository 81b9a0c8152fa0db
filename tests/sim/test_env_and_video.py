"""The steppable simulated robot and the H.264 writer."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vifailback_demo.errors import SimError, VideoError
from vifailback_demo.sim.env import SimEnv
from vifailback_demo.video.writer import VideoWriter, write_video


def test_reset_and_step_move_the_arm_toward_the_action() -> None:
    env = SimEnv(160, 120)
    obs = env.reset("place_block_in_bowl", seed=4)
    assert obs.image.shape == (120, 160, 3) and obs.image.dtype == np.uint8 and obs.state.shape == (10,)
    target = obs.state.copy()
    target[5:8] += [0.1, 0.0, -0.05]
    after = env.step(target)
    moved = np.linalg.norm(after.state[5:8] - obs.state[5:8])
    assert 0 < moved <= 0.0241 and not np.array_equal(after.image, obs.image)
    assert env.reset("place_block_in_bowl", seed=4).image.tobytes() == obs.image.tobytes()
    assert "arm" in env.instruction


def test_env_rejects_bad_input() -> None:
    env = SimEnv(160, 120)
    with pytest.raises(SimError, match="step\\(\\) before reset"):
        env.step(np.zeros(10))
    with pytest.raises(SimError, match="unknown task"):
        env.reset("juggle")
    env.reset("stack_blocks")
    with pytest.raises(SimError, match="10 finite numbers"):
        env.step(np.zeros(3))


def test_video_writer_round_trip_and_errors(tmp_path) -> None:
    frames = [np.full((48, 64, 3), i * 20, np.uint8) for i in range(10)]
    path = write_video(tmp_path / "v.mp4", frames)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 10 and abs(int(decoded[5].mean()) - 100) < 6
    with pytest.raises(VideoError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 63, 48)
    with pytest.raises(VideoError, match="no frames"):
        write_video(tmp_path / "none.mp4", [])
    assert not list(tmp_path.glob(".*tmp*"))
