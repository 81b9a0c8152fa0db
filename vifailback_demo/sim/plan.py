"""The scripted expert: a task becomes a list of timed segments, and segments become per-frame arm commands.

A segment moves one arm (or no arm: a pause) to a target pose (x, y, z, yaw, finger gap) over a number of frames
with smooth-step easing, and may run a human-hand script at the same time. Every segment belongs to one numbered
subtask. The expert plan of a stage is: approach (hover above the object), descend, close, lift, transport (above
the target), lower, open, retreat up, go home. Failure injection (``failures.py``) edits these segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from vifailback_demo.sim.scene import ObjectSpec
from vifailback_demo.sim.tasks import Stage, TaskInstance
from vifailback_demo.sim.world import HOME, MAX_GAP, wrap_quarter

FPS = 25
HOVER_CLEARANCE = 0.09


@dataclass
class HandScript:
    """A human hand reaches in, grabs ``obj``, moves it to ``dest`` (x, y) on the table, lets go and leaves."""

    obj: int
    dest: tuple[float, float]


@dataclass
class Segment:
    name: str
    arm: int | None  # None: no arm moves (a pause)
    target: np.ndarray | None
    frames: int
    subtask: int  # 1-based, over the whole task
    stage: int
    hand: HandScript | None = None
    start: int = -1  # first frame index produced (filled in by the simulation)
    end: int = -1  # last frame index produced

    def copy(self, **changes) -> Segment:
        return replace(self, **changes)


@dataclass
class Plan:
    segments: list[Segment]
    used_arm: dict[int, int] = field(default_factory=dict)  # stage -> arm actually used

    def find(self, name: str, stage: int) -> int:
        for i, seg in enumerate(self.segments):
            if seg.name == name and seg.stage == stage:
                return i
        raise KeyError(f"no segment {name!r} in stage {stage}")


def travel_frames(a: np.ndarray, b: np.ndarray, base: int, per_metre: float) -> int:
    return int(base + per_metre * float(np.linalg.norm(np.asarray(a[:3]) - np.asarray(b[:3]))))


def grasp_pose(spec: ObjectSpec, obj_pose: np.ndarray) -> np.ndarray:
    """Fingertip pose that grasps ``spec`` standing at ``obj_pose`` (x, y, z, yaw)."""
    yaw = wrap_quarter(float(obj_pose[3])) if spec.yaw_matters else 0.0
    return np.array([obj_pose[0], obj_pose[1], obj_pose[2] + spec.grasp_height, yaw, MAX_GAP])


def release_pose(spec: ObjectSpec, target: ObjectSpec, target_pose: np.ndarray, yaw: float) -> np.ndarray:
    """Fingertip pose that lets ``spec`` drop a little into / onto ``target``."""
    above = target.top + (0.018 if target.container else 0.008)
    return np.array([target_pose[0], target_pose[1], target_pose[2] + above + spec.grasp_height, yaw, 0.0])


def carry_height(task: TaskInstance, stage: Stage) -> float:
    tallest = max(s.top for s in task.specs)
    return tallest + task.specs[stage.obj].height + 0.07


def stage_segments(
    task: TaskInstance, index: int, stage: Stage, arm: int | None = None, obj: int | None = None
) -> list[Segment]:
    """The expert segments of one stage (``arm`` / ``obj`` overrides serve the planning failures)."""
    arm = stage.arm if arm is None else arm
    obj = stage.obj if obj is None else obj
    spec, tgt = task.specs[obj], task.specs[stage.target]
    sub = 4 * index
    grasp = grasp_pose(spec, np.r_[task.layout[obj, :2], 0.0, task.layout[obj, 2]])
    hover = grasp.copy()
    hover[2] = spec.top + HOVER_CLEARANCE
    closed = grasp.copy()
    closed[4] = max(spec.grasp_width - 0.012, 0.0)
    lift = closed.copy()
    lift[2] = carry_height(task, stage)
    rel = release_pose(spec, tgt, np.r_[task.layout[stage.target, :2], 0.0, 0.0], closed[3])
    rel[4] = closed[4]
    transport = rel.copy()
    transport[2] = lift[2]
    opened = rel.copy()
    opened[4] = MAX_GAP
    up = opened.copy()
    up[2] = lift[2]
    home = HOME[arm].copy()
    segments = [
        Segment("approach", arm, hover, travel_frames(home, hover, 24, 60), sub + 1, index),
        Segment("descend", arm, grasp, 20, sub + 1, index),
        Segment("close", arm, closed, 12, sub + 2, index),
        Segment("lift", arm, lift, 20, sub + 2, index),
        Segment("transport", arm, transport, travel_frames(lift, transport, 22, 60), sub + 3, index),
        Segment("lower", arm, rel, 16, sub + 3, index),
        Segment("open", arm, opened, 10, sub + 4, index),
        Segment("retreat", arm, up, 12, sub + 4, index),
        Segment("home", arm, home, travel_frames(up, home, 16, 40), sub + 4, index),
    ]
    # Two-stage tasks move a little faster so whole episodes stay within about 16 s, like the real clips.
    pace = 0.85 if len(task.stages) > 1 else 1.0
    for seg in segments:
        seg.frames = max(6, int(seg.frames * pace))
    return segments


def expert_plan(task: TaskInstance) -> Plan:
    segments = [Segment("idle", None, None, 10, 1, 0)]
    for i, stage in enumerate(task.stages):
        segments += stage_segments(task, i, stage)
    segments.append(Segment("end", None, None, 12, segments[-1].subtask, len(task.stages) - 1))
    return Plan(segments, {i: s.arm for i, s in enumerate(task.stages)})


def smoothstep(t: float) -> float:
    return t * t * (3 - 2 * t)


def interpolate(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Pose interpolation; yaw takes the short way round."""
    out = a + (b - a) * t
    dyaw = (b[3] - a[3] + math.pi) % (2 * math.pi) - math.pi
    out[3] = a[3] + dyaw * t
    return out


def split_segment(seg: Segment, fraction: float, start_pose: np.ndarray) -> tuple[Segment, Segment]:
    """Cut a move in two at ``fraction`` of the way (each half eased on its own)."""
    mid = interpolate(start_pose, seg.target, fraction)
    n1 = max(4, int(seg.frames * fraction))
    return seg.copy(name=seg.name + "_a", target=mid, frames=n1), seg.copy(
        name=seg.name + "_b", frames=max(4, seg.frames - n1)
    )


def pose_before(plan: Plan, index: int, arm: int) -> np.ndarray:
    """The commanded pose of ``arm`` just before segment ``index`` starts."""
    pose = HOME[arm].copy()
    for seg in plan.segments[:index]:
        if seg.arm == arm and seg.target is not None:
            pose = seg.target.copy()
    return pose
