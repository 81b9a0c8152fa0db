"""Task templates in the official wording, their numbered subtasks, scenes, and success checks.

A task is one or two *stages*; a stage is one arm's pick-and-place (put X into / onto Y) and always splits into the
four official subtasks: approach and align, grasp, move to align with the target, release. Scenes hold the task
objects, one or two graspable look-alikes (needed for wrong-object failures) and some clutter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifailback_demo.errors import SimError
from vifailback_demo.sim import scene as sc
from vifailback_demo.sim.world import LEFT, RIGHT, WorldState

#: Task ids double as the dataset's task directory names.
TASK_IDS: tuple[str, ...] = (
    "place_block_in_bowl",
    "place_block_in_basket",
    "put_cup_in_basket",
    "stack_blocks",
    "put_lid_on_pot",
    "two_arm_blocks_to_containers",
)
#: Objects stay on their arm's side of the table so every reach is natural.
SIDE_Y = {LEFT: (0.04, 0.32), RIGHT: (-0.32, -0.04)}


@dataclass(frozen=True)
class Stage:
    arm: int
    obj: int  # object to pick (index into specs)
    target: int  # container or object to put it into / onto
    verb: str  # "place" (into), "put" (into), "stack" (on), "lid" (on)


@dataclass(frozen=True)
class TaskInstance:
    task_id: str
    instruction: str
    stages: tuple[Stage, ...]
    specs: list[sc.ObjectSpec]
    layout: np.ndarray

    @property
    def subtasks(self) -> list[str]:
        lines: list[str] = []
        for stage in self.stages:
            lines.extend(stage_subtasks(stage, self.specs))
        return [f"{i}. {text}" for i, text in enumerate(lines, start=1)]

    def stage_done(self, state: WorldState, stage: Stage) -> bool:
        return bool(state.support[stage.obj] == stage.target and state.last_holder[stage.obj] == stage.arm)

    def success(self, state: WorldState) -> bool:
        return all(self.stage_done(state, s) for s in self.stages)


def arm_word(arm: int) -> str:
    return "left" if arm == LEFT else "right"


def _the(spec: sc.ObjectSpec) -> str:
    return f"the {spec.name}"


def stage_sentence(stage: Stage, specs: list[sc.ObjectSpec]) -> str:
    obj, tgt = _the(specs[stage.obj]), _the(specs[stage.target])
    action = {
        "place": f"place {obj} into {tgt}",
        "put": f"put {obj} into {tgt}",
        "stack": f"stack {obj} on {tgt}",
        "lid": f"put {obj} on {tgt}",
    }[stage.verb]
    return f"use the {arm_word(stage.arm)} arm to {action}"


def stage_subtasks(stage: Stage, specs: list[sc.ObjectSpec]) -> list[str]:
    arm, obj, tgt = arm_word(stage.arm), _the(specs[stage.obj]), _the(specs[stage.target])
    release = {
        "place": f"Release the gripper to place {obj} into {tgt}.",
        "put": f"Release the gripper to put {obj} into {tgt}.",
        "stack": f"Release the gripper to stack {obj} on {tgt}.",
        "lid": f"Release the gripper to put {obj} on {tgt}.",
    }[stage.verb]
    return [
        f"Move the {arm} arm to approach and align {obj}.",
        f"Grasp {obj}.",
        f"Move the {arm} arm to align with {tgt}.",
        release,
    ]


def _instruction(stages: list[Stage], specs: list[sc.ObjectSpec]) -> str:
    parts = [stage_sentence(s, specs) for s in stages]
    text = parts[0] if len(parts) == 1 else f"{parts[0]}, then {parts[1]}"
    return text[0].upper() + text[1:] + "."


def _pick(rng: np.random.Generator, options, exclude=()) -> str:
    return str(rng.choice([o for o in options if o not in exclude]))


def build_task(task_id: str, rng: np.random.Generator) -> TaskInstance:
    """A random instance of ``task_id`` (objects, colours, arm, layout)."""
    if task_id not in TASK_IDS:
        raise SimError(f"unknown task {task_id!r}; expected one of {list(TASK_IDS)}")
    arm = int(rng.integers(2))
    specs: list[sc.ObjectSpec] = []
    sides: list[tuple[float, float] | None] = []
    stages: list[Stage] = []

    def add(spec: sc.ObjectSpec, side: tuple[float, float] | None) -> int:
        specs.append(spec)
        sides.append(side)
        return len(specs) - 1

    center = (-0.18, 0.18)
    if task_id in ("place_block_in_bowl", "place_block_in_basket", "stack_blocks"):
        color = _pick(rng, sc.BLOCK_COLORS)
        obj = add(sc.block(color, rng), SIDE_Y[arm])
        if task_id == "place_block_in_bowl":
            target = add(sc.bowl(_pick(rng, sc.BOWL_COLORS), rng), center)
        elif task_id == "place_block_in_basket":
            target = add(sc.basket(_pick(rng, sc.BASKET_COLORS), rng), center)
        else:
            target = add(sc.block(_pick(rng, sc.BLOCK_COLORS, [color]), rng), center)
        verb = {"stack_blocks": "stack"}.get(task_id, "place")
        stages.append(Stage(arm, obj, target, verb))
        add(sc.block(_pick(rng, sc.BLOCK_COLORS, [s.name.split()[0] for s in specs]), rng), None)
    elif task_id == "put_cup_in_basket":
        color = _pick(rng, sc.CUP_COLORS)
        obj = add(sc.cup(color, rng), SIDE_Y[arm])
        target = add(sc.basket(_pick(rng, sc.BASKET_COLORS), rng), center)
        stages.append(Stage(arm, obj, target, "put"))
        add(sc.cup(_pick(rng, sc.CUP_COLORS, [color]), rng), None)
    elif task_id == "put_lid_on_pot":
        pot = sc.pot(_pick(rng, sc.POT_COLORS), rng)
        target = add(pot, center)
        obj = add(sc.lid(pot), SIDE_Y[arm])
        stages.append(Stage(arm, obj, target, "lid"))
        add(sc.block(_pick(rng, sc.BLOCK_COLORS), rng), None)
    else:  # two arms: left arm first, then the right arm
        c1 = _pick(rng, sc.BLOCK_COLORS)
        c2 = _pick(rng, sc.BLOCK_COLORS, [c1])
        b1 = add(sc.block(c1, rng), SIDE_Y[LEFT])
        bowl = add(sc.bowl(_pick(rng, sc.BOWL_COLORS), rng), (0.0, 0.3))
        b2 = add(sc.block(c2, rng), SIDE_Y[RIGHT])
        basket = add(sc.basket(_pick(rng, sc.BASKET_COLORS), rng), (-0.3, 0.0))
        stages += [Stage(LEFT, b1, bowl, "place"), Stage(RIGHT, b2, basket, "place")]
        add(sc.block(_pick(rng, sc.BLOCK_COLORS, [c1, c2]), rng), None)
    for _ in range(int(rng.integers(1, 3))):
        add(sc.distractor(rng), None)
    layout = sc.sample_layout(specs, rng, sides)
    return TaskInstance(task_id, _instruction(stages, specs), tuple(stages), specs, layout)
