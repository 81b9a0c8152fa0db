"""Steppable simulated robot: ``reset(task, seed) -> Observation``, ``step(action) -> Observation``.

Same world update and renderer as the dataset generator. The state vector is both arms' fingertip poses
``[left x, y, z, yaw, gap, right x, y, z, yaw, gap]`` (metres, radians); an action is the same 10 numbers as a
target, which the arms approach under their speed limits (at most 0.6 m/s) in one 1/25 s step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifailback_demo.errors import SimError
from vifailback_demo.sim.camera import jittered_camera
from vifailback_demo.sim.episode import episode_rng
from vifailback_demo.sim.render import SceneRenderer, random_look
from vifailback_demo.sim.tasks import TASK_IDS, TaskInstance, build_task
from vifailback_demo.sim.world import World

STATE_DIM = 10


@dataclass
class Observation:
    image: np.ndarray  # head camera, RGB uint8 (H, W, 3)
    state: np.ndarray  # (10,) float64
    success: bool
    frame: int


class SimEnv:
    def __init__(self, width: int = 640, height: int = 480) -> None:
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise SimError(f"image size must be even and at least 64x48, got {width}x{height}")
        self.width, self.height = width, height
        self.task: TaskInstance | None = None
        self._world: World | None = None
        self._renderer: SceneRenderer | None = None
        self._frame = 0

    def reset(self, task: str, seed: int = 0) -> Observation:
        if task not in TASK_IDS:
            raise SimError(f"unknown task {task!r}; expected one of {list(TASK_IDS)}")
        rng = episode_rng(seed, 0)
        rng.choice(list(TASK_IDS))  # keep the stream aligned with make_episode's task draw
        self.task = build_task(task, rng)
        camera = jittered_camera(self.width, self.height, rng)
        self._world = World(self.task.specs, self.task.layout)
        self._renderer = SceneRenderer(camera, random_look(rng), self.task.specs)
        self._frame = 0
        return self._observe()

    def step(self, action: np.ndarray) -> Observation:
        if self._world is None:
            raise SimError("step() before reset(); call reset(task, seed) first")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (STATE_DIM,) or not np.all(np.isfinite(action)):
            raise SimError(
                f"action: expected {STATE_DIM} finite numbers (two arms x [x, y, z, yaw, gap]), got shape {action.shape}"
            )
        self._world.step(action.reshape(2, 5))
        self._frame += 1
        return self._observe()

    @property
    def instruction(self) -> str:
        if self.task is None:
            raise SimError("no task yet; call reset(task, seed) first")
        return self.task.instruction

    def _observe(self) -> Observation:
        assert self._world is not None and self._renderer is not None and self.task is not None
        state = self._world.state
        return Observation(
            self._renderer.render(state), state.arms.reshape(-1).copy(), self.task.success(state), self._frame
        )
