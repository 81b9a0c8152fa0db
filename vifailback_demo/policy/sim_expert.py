"""The closed-loop expert of the synthetic world: from the exact world state, the next chunk of arm targets.

Unlike the dataset's open-loop plan (``sim/plan.py``), every call starts from what the world looks like now: the
first unfinished stage, whether its object is held, where it lies, whether something sits in the target. So after a
correction (or a human) moved things, asking again continues sensibly. The plan is a list of :class:`Move` s
(approach, descend, close, lift, transport, lower, open, retreat, home, with the extra steps recovery needs: put a
wrong object back, clear the target, let go with the other arm), predicted to the end of the task assuming each
move works, then sampled frame by frame; the caller re-plans after executing part of it, which is what makes it
closed-loop.

Moves are eased with smoothstep at an average speed well under the arms' limits (peak 0.45 m/s against 0.6 m/s),
so the arm tracks each command exactly and the plan's predicted poses are the poses actually reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vifailback_demo.sim.plan import HOVER_CLEARANCE, carry_height, grasp_pose, interpolate, release_pose, smoothstep
from vifailback_demo.sim.tasks import Stage, TaskInstance
from vifailback_demo.sim.world import HAND, HOME, LEFT, MAX_GAP, RIGHT, WorldState, wrap_pi, wrap_quarter

#: Average speeds per frame of an eased move (smoothstep peaks at 1.5x): metres, radians, finger gap.
SPEED, YAW_SPEED, GAP_SPEED = 0.012, 0.06, 0.006
#: How exactly the fingertip must sit before closing without re-aligning first (well inside the grasp tolerance).
ALIGN_XY, ALIGN_Z, ALIGN_YAW = 0.004, 0.006, 0.05
#: Below this distance the arm re-aligns at its height; farther, it goes up and approaches from above.
NEAR_XY = 0.03
#: How close the closing fingers squeeze below the grasp width (as the dataset's expert).
SQUEEZE = 0.012


@dataclass(frozen=True)
class Move:
    name: str
    arm: int | None  # None: wait in place
    target: np.ndarray | None  # (5,) pose of ``arm``
    frames: int


def move_frames(start: np.ndarray, target: np.ndarray, min_frames: int) -> int:
    """Frames for an eased move from ``start`` to ``target`` at the average speeds above."""
    dist = float(np.linalg.norm(target[:3] - start[:3]))
    dyaw = abs(wrap_pi(float(target[3] - start[3])))
    dgap = abs(float(target[4] - start[4]))
    return max(min_frames, math.ceil(dist / SPEED), math.ceil(dyaw / YAW_SPEED), math.ceil(dgap / GAP_SPEED))


def sample_moves(start: np.ndarray, moves: list[Move], horizon: int) -> np.ndarray:
    """Per-frame commands [horizon, 10] for ``moves`` from the arms' poses ``start`` (2, 5); holds at the end."""
    command = np.array(start, dtype=np.float64).reshape(2, 5).copy()
    rows: list[np.ndarray] = []
    for move in moves:
        if len(rows) >= horizon:
            break
        if move.arm is None or move.target is None:
            rows.extend(command.reshape(-1).copy() for _ in range(move.frames))
            continue
        begin = command[move.arm].copy()
        for k in range(1, move.frames + 1):
            command[move.arm] = interpolate(begin, move.target, smoothstep(k / move.frames))
            rows.append(command.reshape(-1).copy())
    while len(rows) < horizon:
        rows.append(command.reshape(-1).copy())
    return np.array(rows[:horizon])


def first_open_stage(task: TaskInstance, state: WorldState) -> int | None:
    for i, stage in enumerate(task.stages):
        if not task.stage_done(state, stage):
            return i
    return None


def falling(state: WorldState, obj: int) -> bool:
    """A free object that rests on nothing yet is above the table: it is still falling."""
    return bool(state.holder[obj] == -1 and state.support[obj] == -1 and state.objects[obj, 2] > 1e-6)


class _Planner:
    """Accumulates moves while predicting each arm's commanded pose after them."""

    def __init__(self, task: TaskInstance, state: WorldState) -> None:
        self.task, self.state = task, state
        self.pose = state.arms.copy()
        self.moves: list[Move] = []

    def go(self, name: str, arm: int, target: np.ndarray, min_frames: int = 6) -> None:
        target = np.asarray(target, dtype=np.float64).copy()
        self.moves.append(Move(name, arm, target, move_frames(self.pose[arm], target, min_frames)))
        self.pose[arm] = target

    def wait(self, frames: int) -> None:
        self.moves.append(Move("wait", None, None, frames))

    def _up(self, arm: int, z: float, gap: float) -> None:
        p = self.pose[arm].copy()
        if p[2] < z - 0.01:
            p[2], p[4] = z, gap
            self.go("up", arm, p)

    def pick(self, arm: int, obj: int) -> None:
        """Approach, align, descend and close on ``obj`` where it lies now."""
        spec, p = self.task.specs[obj], self.pose[arm]
        g = grasp_pose(spec, self.state.objects[obj])
        hover = g.copy()
        hover[2] = self.state.objects[obj, 2] + spec.top + HOVER_CLEARANCE
        xy = float(np.linalg.norm(p[:2] - g[:2]))
        yaw_err = abs(wrap_quarter(float(p[3] - g[3]))) if spec.yaw_matters else 0.0
        aligned = xy <= ALIGN_XY and abs(p[2] - g[2]) <= ALIGN_Z and yaw_err <= ALIGN_YAW
        if not (aligned and p[4] >= spec.grasp_width + 0.002):  # else: close right here (fingers still open enough)
            if xy > NEAR_XY:
                self._up(arm, float(hover[2]), MAX_GAP)
                self.go("approach", arm, hover, 10)
            else:
                align = g.copy()
                align[2] = max(float(p[2]), float(g[2]))
                self.go("align", arm, align, 4)
            self.go("descend", arm, g, 6)
        closed = g.copy()
        closed[4] = max(spec.grasp_width - SQUEEZE, 0.0)
        self.go("close", arm, closed, 10)

    def _carry_to(self, arm: int, obj: int, spot: np.ndarray, height: float) -> None:
        """Carry the held ``obj`` so the fingertip ends at ``spot`` (x, y, z), open, and retreat up."""
        spec, p = self.task.specs[obj], self.pose[arm]
        # A grasp within tolerance holds the object a little off the fingertip; aim the object, not the fingers.
        offset = np.zeros(2)
        if self.state.holder[obj] == arm:
            offset = self.state.objects[obj, :2] - self.state.arms[arm, :2]
        gap = min(float(p[4]), max(spec.grasp_width - SQUEEZE, 0.0))
        release = np.array([spot[0] - offset[0], spot[1] - offset[1], spot[2], p[3], gap])
        if np.linalg.norm(p[:2] - release[:2]) > 0.01:
            self._up(arm, height, gap)
            above = release.copy()
            above[2] = height
            self.go("transport", arm, above, 10)
        self.go("lower", arm, release, 8)
        opened = release.copy()
        opened[4] = MAX_GAP
        self.go("open", arm, opened, 8)
        opened[2] = height
        self.go("retreat", arm, opened, 6)

    def place(self, arm: int, stage: Stage) -> None:
        spec, target = self.task.specs[stage.obj], self.task.specs[stage.target]
        rel = release_pose(spec, target, self.state.objects[stage.target], float(self.pose[arm][3]))
        self._carry_to(arm, stage.obj, rel[:3], carry_height(self.task, stage))

    def put_back(self, arm: int, obj: int, height: float) -> None:
        """Set a held object down where it stood at the start (out of the way of the task)."""
        spot = self.task.layout[obj, :2]
        self._carry_to(arm, obj, np.array([spot[0], spot[1], self.task.specs[obj].grasp_height + 0.01]), height)

    def home(self, arm: int) -> None:
        if np.linalg.norm(self.pose[arm][:3] - HOME[arm, :3]) > 0.01 or self.pose[arm][4] < MAX_GAP - 0.005:
            self._up(arm, 0.15, MAX_GAP)
            self.go("home", arm, HOME[arm], 10)


def plan_moves(task: TaskInstance, state: WorldState) -> list[Move]:
    """The moves from ``state`` to the end of the task, assuming each one works."""
    p = _Planner(task, state)
    first = first_open_stage(task, state)
    if first is None:  # done: let go of anything still held, then both arms home
        for arm in (LEFT, RIGHT):
            if state.held_by(arm) is not None:
                p.go("let go", arm, np.r_[p.pose[arm][:4], MAX_GAP], 8)
            p.home(arm)
        return p.moves
    stage = task.stages[first]
    arm, obj = stage.arm, stage.obj
    other = RIGHT if arm == LEFT else LEFT
    if state.held_by(other) is not None:  # the wrong arm has something: drop it, the right arm takes over
        p.go("let go", other, np.r_[p.pose[other][:4], MAX_GAP], 8)
        p._up(other, 0.15, MAX_GAP)
    if falling(state, obj) or state.holder[obj] in (HAND, other):
        p._up(arm, float(state.objects[obj, 2]) + task.specs[obj].top + HOVER_CLEARANCE, float(p.pose[arm][4]))
        p.wait(8)  # wait for it to land or be let go; the next call plans from where it is
        return p.moves
    height = carry_height(task, stage)
    held = state.held_by(arm)
    if held is not None and held != obj:
        p.put_back(arm, held, height)
    if state.holder[obj] != arm:
        # Whatever sits in the target (a wrong object placed there) would end under ours: move it out first.
        for j in range(len(task.specs)):
            if j != obj and state.support[j] == stage.target and state.holder[j] == -1:
                p.pick(arm, j)
                p.put_back(arm, j, height)
        p.pick(arm, obj)
    p.place(arm, stage)
    p.home(arm)
    for later in task.stages[first + 1 :]:
        p.pick(later.arm, later.obj)
        p.place(later.arm, later)
        p.home(later.arm)
    return p.moves


def expert_chunk(task: TaskInstance, state: WorldState, horizon: int) -> np.ndarray:
    """The next ``horizon`` per-frame arm targets [horizon, 10] of the closed-loop expert."""
    return sample_moves(state.arms, plan_moves(task, state), horizon)
