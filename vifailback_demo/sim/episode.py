"""One synthetic episode, from a seed: task, scene, look, camera, plan (expert or failing), states, ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifailback_demo.errors import SimError
from vifailback_demo.sim.camera import Camera, jittered_camera
from vifailback_demo.sim.failures import Injection, choose_variant, inject
from vifailback_demo.sim.groundtruth import GroundTruth, compute
from vifailback_demo.sim.plan import Plan, expert_plan
from vifailback_demo.sim.render import Look, SceneRenderer, random_look
from vifailback_demo.sim.rollout import rollout
from vifailback_demo.sim.tasks import TASK_IDS, TaskInstance, build_task
from vifailback_demo.sim.world import WorldState


@dataclass
class Episode:
    index: int
    task: TaskInstance
    camera: Camera
    look: Look
    plan: Plan
    states: list[WorldState]
    injection: Injection | None
    truth: GroundTruth | None

    @property
    def success(self) -> bool:
        return self.injection is None

    @property
    def num_frames(self) -> int:
        return len(self.states)

    def renderer(self, width: int | None = None, height: int | None = None) -> SceneRenderer:
        cam = self.camera if width is None else self.camera.resized(width, height or self.camera.height)
        return SceneRenderer(cam, self.look, self.task.specs)


def episode_rng(seed: int, index: int) -> np.random.Generator:
    """Each episode has its own stream, so episodes are independent of worker count and order."""
    return np.random.default_rng([int(seed), int(index)])


def make_episode(
    seed: int,
    index: int,
    *,
    tasks: tuple[str, ...] = TASK_IDS,
    width: int = 640,
    height: int = 480,
    variant: str | None = "random",
) -> Episode:
    """Simulate episode ``index`` of a run seeded with ``seed``; ``variant=None`` forces a success."""
    if width < 64 or height < 48 or width % 2 or height % 2:
        raise SimError(f"image size must be even and at least 64x48, got {width}x{height}")
    rng = episode_rng(seed, index)
    task_id = str(rng.choice(list(tasks)))
    task = build_task(task_id, rng)
    camera = jittered_camera(width, height, rng)
    look = random_look(rng)
    chosen = choose_variant(task, rng) if variant == "random" else variant
    if chosen is None:
        plan, injection = expert_plan(task), None
    else:
        injection = inject(task, chosen, rng)
        plan = injection.plan
    states = rollout(task, plan)
    truth = compute(task, injection, states, camera) if injection is not None else None
    return Episode(index, task, camera, look, plan, states, injection, truth)
