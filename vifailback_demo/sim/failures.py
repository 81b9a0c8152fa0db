"""Failure injection: the four official failure types, several variants each, as edits of the expert plan.

Each variant names the segment whose *last* frame is the avoid keyframe (the state just before the failure act:
the close at a wrong pose, the missing close, the early open, the wrong arm or object starting to move, the hand
coming in) and the segment whose last frame is the correct keyframe (the failure is visible and recovery should
start). After the failure the robot carries on blindly with the rest of that stage, as a policy would; later
stages are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vifailback_demo.sim import scene as sc
from vifailback_demo.sim.plan import HandScript, Plan, Segment, expert_plan, pose_before, split_segment, stage_segments
from vifailback_demo.sim.tasks import TaskInstance
from vifailback_demo.sim.world import LEFT, MAX_GAP, RIGHT

VARIANTS: dict[str, tuple[str, ...]] = {
    "gripper state": ("no_close", "early_open", "weak_close"),
    "gripper 6d-pose": ("offset_x", "offset_y", "offset_z", "wrong_yaw", "place_offset"),
    "task planning": ("wrong_object", "skipped_subtask", "wrong_arm"),
    "human intervention": ("hand_moves_object", "hand_takes_object", "hand_moves_container"),
}
TYPE_OF_VARIANT = {v: t for t, vs in VARIANTS.items() for v in vs}
#: Share of successful episodes, as in the real data (657 of 5,202).
SUCCESS_RATE = 0.13


@dataclass
class Injection:
    variant: str
    failure_type: str
    stage: int
    plan: Plan
    avoid_segment: int  # index into plan.segments
    correct_segment: int
    params: dict = field(default_factory=dict)

    @property
    def failed_subtask(self) -> int:
        return self.params["subtask"]


def choose_variant(task: TaskInstance, rng: np.random.Generator) -> str | None:
    """None for a success (about 13%), else a variant, uniform over types then variants."""
    if rng.random() < SUCCESS_RATE:
        return None
    ftype = str(rng.choice(list(VARIANTS)))
    options = list(VARIANTS[ftype])
    if any(not task.specs[s.obj].yaw_matters for s in task.stages) and "wrong_yaw" in options:
        options.remove("wrong_yaw")
    return str(rng.choice(options))


def _free_spot(
    task: TaskInstance, rng: np.random.Generator, avoid: np.ndarray, min_dist: float, side: tuple[float, float] | None
) -> tuple[float, float]:
    lo, hi = side or sc.TABLE_Y
    best, best_d = (float(avoid[0]), float(avoid[1])), -1.0
    for _ in range(80):
        x, y = rng.uniform(0.26, 0.55), rng.uniform(max(lo, -0.3), min(hi, 0.3))
        if math.hypot(x - avoid[0], y - avoid[1]) < min_dist:
            continue
        clearance = min(math.hypot(x - p[0], y - p[1]) - s.radius for s, p in zip(task.specs, task.layout))
        if clearance > best_d:
            best, best_d = (float(x), float(y)), clearance
        if clearance > 0.08:
            break
    return best


def inject(task: TaskInstance, variant: str, rng: np.random.Generator) -> Injection:
    """The failing plan for ``variant`` in a random stage of ``task``."""
    expert = expert_plan(task)
    stage_i = int(rng.integers(len(task.stages)))
    stage = task.stages[stage_i]
    segs = [s for s in expert.segments if s.stage < stage_i or s.name == "idle"]
    before = len(segs)
    mine = stage_segments(task, stage_i, stage)
    names = [s.name for s in mine]
    sub = 4 * stage_i
    params: dict = {"subtask": sub + 1}
    used_arm = {i: s.arm for i, s in enumerate(task.stages)}

    def at(name: str) -> int:
        return names.index(name)

    def start_pose(name: str) -> np.ndarray:
        i = at(name)
        return mine[i - 1].target.copy() if i > 0 else pose_before(Plan(segs), len(segs), stage.arm)

    avoid_name, correct_name = "descend", "lift"
    if variant in ("no_close", "weak_close"):
        close = mine[at("close")]
        gap = MAX_GAP if variant == "no_close" else task.specs[stage.obj].grasp_width + 0.024
        close.target = close.target.copy()
        close.target[4] = gap
        for s in mine[at("lift") :]:
            s.target = s.target.copy()
            s.target[4] = max(s.target[4], gap) if s.name not in ("open", "retreat", "home") else s.target[4]
        params["subtask"] = sub + 2
    elif variant in ("offset_x", "offset_y", "offset_z", "wrong_yaw"):
        offset = np.zeros(5)
        if variant == "offset_z":
            offset[2] = rng.uniform(0.045, 0.07)
        elif variant == "wrong_yaw":
            offset[3] = rng.choice([-1, 1]) * rng.uniform(0.45, 0.7)
        else:
            offset[0 if variant == "offset_x" else 1] = rng.choice([-1, 1]) * rng.uniform(0.035, 0.07)
        for s in mine[: at("lift") + 1]:
            s.target = s.target + offset
        params["offset"] = offset.tolist()
    elif variant == "early_open":
        i = at("transport")
        a, b = split_segment(mine[i], float(rng.uniform(0.3, 0.6)), start_pose("transport"))
        drop = a.target.copy()
        drop[4] = MAX_GAP
        rest = [
            a,
            Segment("open_early", stage.arm, drop, 10, sub + 3, stage_i),
            Segment("drop_wait", None, None, 10, sub + 3, stage_i),
            b,
        ]
        mine = mine[:i] + rest + mine[i + 1 :]
        for s in mine[i + 3 :]:
            s.target = s.target.copy()
            s.target[4] = MAX_GAP
        avoid_name, correct_name, params["subtask"] = "transport_a", "drop_wait", sub + 3
    elif variant == "place_offset":
        tgt = task.specs[stage.target]
        ang = rng.uniform(0, 2 * math.pi)
        dist = tgt.radius + task.specs[stage.obj].radius + rng.uniform(0.03, 0.05)
        shift = np.array([math.cos(ang) * dist, math.sin(ang) * dist, 0.0, 0.0, 0.0])
        for s in mine[at("transport") : at("retreat") + 1]:
            s.target = s.target + shift
        mine.insert(at("open") + 1, Segment("drop_wait", None, None, 10, sub + 4, stage_i))
        avoid_name, correct_name, params["subtask"] = "lower", "drop_wait", sub + 3
        params["offset"] = shift.tolist()
    elif variant in ("wrong_object", "skipped_subtask", "wrong_arm"):
        if variant == "wrong_object":
            kind = task.specs[stage.obj].kind
            others = [i for i, s in enumerate(task.specs) if s.graspable and i not in {st.obj for st in task.stages}]
            same = [i for i in others if task.specs[i].kind == kind] or others
            params["wrong_object"] = int(same[0])
            mine = stage_segments(task, stage_i, stage, obj=params["wrong_object"])
            correct_name = "retreat"
        elif variant == "wrong_arm":
            params["wrong_arm"] = RIGHT if stage.arm == LEFT else LEFT
            used_arm[stage_i] = params["wrong_arm"]
            mine = stage_segments(task, stage_i, stage, arm=params["wrong_arm"])
            correct_name = "retreat"
        else:
            mine = mine[at("transport") :]
            mine[0] = mine[0].copy(frames=40, subtask=sub + 1)
            for s in mine:
                s.target = s.target.copy()
                s.target[4] = MAX_GAP
            correct_name = "open"
        avoid_name = None  # the frame before the stage starts
    elif variant in ("hand_moves_object", "hand_takes_object", "hand_moves_container"):
        if variant == "hand_moves_object":
            dest = _free_spot(task, rng, task.layout[stage.obj], 0.1, None)
            mine.insert(
                at("approach") + 1, Segment("human", None, None, 60, sub + 1, stage_i, HandScript(stage.obj, dest))
            )
            avoid_name = "approach"
        else:
            i = at("transport")
            a, b = split_segment(mine[i], float(rng.uniform(0.3, 0.6)), start_pose("transport"))
            moved = stage.obj if variant == "hand_takes_object" else stage.target
            dest = _free_spot(task, rng, task.layout[moved], 0.14, None)
            human = Segment("human", None, None, 60, sub + 3, stage_i, HandScript(moved, dest))
            mine = [*mine[:i], a, human, b, *mine[i + 1 :]]
            avoid_name, params["subtask"] = "transport_a", sub + 3
        correct_name = "human"
        params["hand_dest"] = list(dest)
    else:
        raise ValueError(f"unknown failure variant {variant!r}")
    names = [s.name for s in mine]
    segments = segs + mine + [Segment("end", None, None, 12, mine[-1].subtask, stage_i)]
    avoid_seg = before - 1 if avoid_name is None else before + names.index(avoid_name)
    correct_seg = before + names.index(correct_name)
    plan = Plan(segments, used_arm)
    return Injection(variant, TYPE_OF_VARIANT[variant], stage_i, plan, avoid_seg, correct_seg, params)
