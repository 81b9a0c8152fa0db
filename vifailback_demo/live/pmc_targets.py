"""Point-based motion control, part 1: an accepted correction (symbols + command) -> end-effector waypoints.

Pure geometry, no robot I/O: :func:`plan_correction` reads the symbols (normalised 0-1000 on the keyframe) with a
:class:`~vifailback_demo.live.geometry.CameraCalibration` and the arms' poses, and returns a :class:`PMCPlan` that
``executors.PMCExecutor`` drives. Anything it cannot map without guessing raises :class:`CorrectionRefusedError`
with a one-line message. The rules (robot frame: +x forward, +y left, +z up; yaw counter-clockwise seen from above):

* **Which arm**: the command's gripper word; without one, the arm whose gripper is nearest (in the keyframe image)
  to the first symbol that acts (arrow start, rotation centre, ON/OFF, crosshair, dual crosshair, rewind).
* **Straight arrow**: each colour names an axis (red x, green y, blue z). The sign comes from the arrow's 2-D
  direction against the axis projected into the image at the gripper (the image Jacobian at its keyframe pose):
  one colour: the sign of their dot product, if the arrow is within 60 degrees of the axis either way; two colours:
  the 2x2 system ``J[:, axes] @ m = arrow`` (an axis contributing under 20% of the arrow reads as unknown); three
  colours: the command. An axis the arrow leaves unknown takes the command's word; a command word that contradicts
  the arrow is refused, as is a command moving along an axis that no arrow colour names. The magnitude is the
  command's "slightly" / "significantly" (``slight_m`` / ``significant_m``) or, without a word (or with
  ``magnitude="arrow"``), the arrow's length in metres: its ends lifted to the horizontal plane through the gripper
  for x and y, the image scale at the gripper for z, the 2x2 solution for two colours.
* **Rotating arrow**: yaw by ``rotate_rad``, counter-clockwise = +yaw (``sim/guidance.py``'s convention).
* **ON / OFF**: open / close the gripper after the motion (``open_gap`` / ``closed_gap``).
* **Crosshair** (no arrow): move above the marked point: its pixel at the robot's depth when given, else lifted to
  the plane ``table_z + mark_height_m`` (a mark on an object, not the table behind it), then ``hover_m`` above it.
* **Dual crosshair** (no arrow): carry: move by the displacement from p1 to p2 (both lifted to that plane).
* **Rewind** (no arrow): return the arm to its pose at the keyframe.
* **Lock**: hold the arm whose gripper it marks (within ``lock_radius`` of the image width); a lock elsewhere marks
  an object and needs no motion. Moving a locked arm is refused.
* With an arrow present, crosshairs, dual crosshairs and rewinds mark objects (as in the dataset's corrections) and
  do not move the arm a second time. Without any symbol, the command's own moves, rotation and grasp are executed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vifailback_demo.core.commands import AXIS_OF_DIRECTION, LowLevelCommand, parse_command
from vifailback_demo.core.symbols import (
    AXIS_OF_COLOR,
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    to_pixels,
)
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.geometry import AXES, CalibrationError, CameraCalibration

FIELDS = ("x", "y", "z", "yaw", "gap")
_AXIS_NAME = ("x", "y", "z")
_WORD = {
    (0, 1): "forward",
    (0, -1): "backward",
    (1, 1): "left",
    (1, -1): "right",
    (2, 1): "upward",
    (2, -1): "downward",
}


class CorrectionRefusedError(ViFailbackError, ValueError):
    """An executor cannot carry out this correction on this robot (unsupported robot or symbol combination)."""


@dataclass(frozen=True)
class PMCSettings:
    slight_m: float = 0.03
    significant_m: float = 0.08
    rotate_rad: float = 0.5
    magnitude: str = "command"  # "command": the command's word first, else the arrow; "arrow": the arrow's length
    hover_m: float = 0.09  # crosshair: fingertip this far above the marked point
    mark_height_m: float = 0.03  # height above the table of a point marked on an object (no depth)
    open_gap: float = 0.08
    closed_gap: float = 0.0
    min_clearance_m: float = 0.005  # never command the fingertip lower than this above the table
    max_move_m: float = 0.4  # a larger target move is refused (a misread symbol, not a correction)
    lock_radius: float = 0.12  # fraction of the image width
    sign_cos: float = 0.5  # one-colour arrow: |cos(arrow, axis)| needed to read a sign

    def __post_init__(self) -> None:
        if not 0 < self.slight_m <= self.significant_m or self.rotate_rad <= 0 or self.max_move_m <= 0:
            raise CorrectionRefusedError("PMC settings need 0 < slight_m <= significant_m, rotate_rad > 0")
        if self.magnitude not in ("command", "arrow"):
            raise CorrectionRefusedError(f"PMC magnitude must be 'command' or 'arrow', got {self.magnitude!r}")


@dataclass(frozen=True)
class ArmLayout:
    """Where each arm's x, y, z, yaw, gap sit in the robot's state vector (names ``<arm>.<field>`` or bare)."""

    arms: dict[str, dict[str, int]]
    names: tuple[str, ...]

    @classmethod
    def of(cls, state_names: list[str]) -> ArmLayout:
        arms: dict[str, dict[str, int]] = {}
        for i, name in enumerate(state_names):
            arm, _, f = name.rpartition(".")
            if f in FIELDS:
                arms.setdefault(arm, {})[f] = i
        arms = {a: fs for a, fs in arms.items() if all(k in fs for k in ("x", "y", "z"))}
        if not arms:
            raise CorrectionRefusedError(
                f"PMC needs end-effector state named '<arm>.x/.y/.z' (optionally .yaw, .gap); got {state_names[:6]}"
            )
        return cls(arms, tuple(state_names))

    def pose(self, state: np.ndarray, arm: str) -> np.ndarray:
        """(x, y, z, yaw, gap) of ``arm``; NaN for a field the robot lacks."""
        return np.array([float(state[self.arms[arm][f]]) if f in self.arms[arm] else math.nan for f in FIELDS])


@dataclass
class Waypoint:
    arm: str
    pose: np.ndarray  # (5,) target x, y, z, yaw, gap (NaN: a field the robot lacks)
    what: str


@dataclass
class PMCPlan:
    arm: str | None
    waypoints: list[Waypoint] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _groups(symbols: list[Any]) -> dict[type, list[Any]]:
    out: dict[type, list[Any]] = {}
    for s in symbols:
        out.setdefault(type(s), []).append(s)
    return out


def _one(values: list[str | None], what: str) -> str | None:
    found = {v for v in values if v is not None}
    if len(found) > 1:
        raise CorrectionRefusedError(f"the correction contradicts itself on the {what}: {sorted(found)}")
    return found.pop() if found else None


class _Planner:
    def __init__(self, cal: CameraCalibration, layout: ArmLayout, settings: PMCSettings) -> None:
        self.cal, self.layout, self.s = cal, layout, settings

    def nearest_arm(self, state: np.ndarray, pixel: Any) -> tuple[str | None, float]:
        best: tuple[str | None, float] = (None, math.inf)
        for arm in self.layout.arms:
            try:
                u, v = self.cal.project(self.layout.pose(state, arm)[:3])
            except CalibrationError:
                continue
            d = math.hypot(u - float(pixel[0]), v - float(pixel[1]))
            if d < best[1]:
                best = (arm, d)
        return best

    def choose_arm(self, command: LowLevelCommand, anchor: Any, ref: np.ndarray) -> str | None:
        if command.gripper is not None:
            name = command.gripper.split()[0]
            if name in self.layout.arms:
                return name
            if len(self.layout.arms) == 1:
                return next(iter(self.layout.arms))
            raise CorrectionRefusedError(
                f"the command names the {command.gripper}; robot arms: {list(self.layout.arms)}"
            )
        return None if anchor is None else self.nearest_arm(ref, anchor)[0]

    def arrow_delta(self, arrows: list[StraightArrow], command: LowLevelCommand, grip: np.ndarray) -> np.ndarray:
        words = {AXES[AXIS_OF_DIRECTION[d][0]]: (AXIS_OF_DIRECTION[d][1], m) for d, m in command.moves}
        J = self.cal.image_jacobian(grip)
        delta, used = np.zeros(3), set()
        for arrow in arrows:
            axes = list(dict.fromkeys(AXES[AXIS_OF_COLOR[c]] for c in arrow.colors))
            if used & set(axes):
                raise CorrectionRefusedError("two arrows move along the same axis; draw one arrow per axis")
            used |= set(axes)
            a = np.subtract(arrow.end, arrow.start).astype(np.float64)
            if np.linalg.norm(a) < 2.0:
                raise CorrectionRefusedError("an arrow is too short to read a direction from (under 2 pixels)")
            signs, metres = self.read_arrow(a, axes, J, arrow, grip)
            for ax, sign, m in zip(axes, signs, metres):
                said_sign, word = words.get(ax, (None, None))
                if sign is not None and said_sign is not None and sign != said_sign:
                    raise CorrectionRefusedError(
                        f"the {arrow.colors[axes.index(ax)]} arrow points {_WORD[(ax, sign)]} in the image but the "
                        f"command says {_WORD[(ax, said_sign)]}; fix one of them"
                    )
                sign = sign if sign is not None else said_sign
                if sign is None:
                    raise CorrectionRefusedError(
                        f"cannot tell the {_AXIS_NAME[ax]} direction from this arrow; say it in the command"
                    )
                word_m = {"slightly": self.s.slight_m, "significantly": self.s.significant_m}.get(word or "")
                size = word_m if word_m is not None and (self.s.magnitude == "command" or m is None) else m
                if size is None:
                    raise CorrectionRefusedError(
                        f"no magnitude for the {_AXIS_NAME[ax]} move: say 'slightly' or 'significantly'"
                    )
                delta[ax] = sign * size
        missing = [_AXIS_NAME[ax] for ax in words if ax not in used]
        if missing:
            raise CorrectionRefusedError(f"the command moves along {', '.join(missing)} but no arrow has that colour")
        return delta

    def read_arrow(
        self, a: np.ndarray, axes: list[int], J: np.ndarray, arrow: StraightArrow, grip: np.ndarray
    ) -> tuple[list[int | None], list[float | None]]:
        """Signs and metres per axis read from the arrow alone (None where it cannot tell)."""
        if len(axes) == 1:
            d = J[:, axes[0]]
            cos = float(a @ d / (np.linalg.norm(a) * np.linalg.norm(d)))
            sign = (1 if cos > 0 else -1) if abs(cos) >= self.s.sign_cos else None
            metres = abs(float(a @ d)) / float(d @ d)
            if axes[0] < 2:  # lift both ends to the horizontal plane through the gripper
                try:
                    ends = [self.cal.lift_to_plane(*p, z=float(grip[2])) for p in (arrow.start, arrow.end)]
                    metres = abs(float(ends[1][axes[0]] - ends[0][axes[0]]))
                except CalibrationError:
                    pass
            return [sign], [metres]
        if len(axes) == 2:
            M = J[:, axes]
            cols = np.linalg.norm(M, axis=0)
            sin = abs(float(M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0])) / float(cols[0] * cols[1])
            if sin < 0.2:  # the two axes look almost parallel in the image here
                return [None, None], [None, None]
            m = np.linalg.solve(M, a)
            share = np.abs(m) * cols / float(np.sum(np.abs(m) * cols))
            signs = [(1 if mi > 0 else -1) if sh >= 0.2 else None for mi, sh in zip(m, share)]
            return signs, [abs(float(mi)) for mi in m]
        return [None] * len(axes), [None] * len(axes)

    def lift(self, pixel: Any, depth: np.ndarray | None) -> np.ndarray:
        if depth is not None:
            h, w = depth.shape[:2]
            col = min(max(int(pixel[0] * w / self.cal.width), 0), w - 1)
            row = min(max(int(pixel[1] * h / self.cal.height), 0), h - 1)
            z = float(depth[row, col])
            if math.isfinite(z) and z > 0:
                return self.cal.point_at_depth(pixel[0], pixel[1], z)
        return self.cal.lift_to_plane(pixel[0], pixel[1], self.cal.table_z + self.s.mark_height_m)


def plan_correction(
    correction: Any,
    calibration: CameraCalibration,
    layout: ArmLayout,
    current: np.ndarray,
    keyframe: np.ndarray | None,
    settings: PMCSettings | None = None,
    *,
    depth: np.ndarray | None = None,
) -> PMCPlan:
    """The waypoints that carry ``correction`` out from the arms' ``current`` state vector; ``keyframe`` is the
    state vector at the keyframe (arrow signs and arm choice are read there; rewind returns there)."""
    s = settings or PMCSettings()
    p = _Planner(calibration, layout, s)
    text = correction.low_level if isinstance(correction.low_level, str) else ""
    command = parse_command(text) if text.strip() else LowLevelCommand()
    g = _groups([to_pixels(sym, calibration.width, calibration.height) for sym in correction.symbols])
    arrows, rotates, states = g.get(StraightArrow, []), g.get(RotatingArrow, []), g.get(GripperState, [])
    crosses, duals, rewinds = g.get(Crosshair, []), g.get(DualCrosshair, []), g.get(Rewind, [])
    ref = current if keyframe is None else keyframe
    anchors = [x.start for x in arrows] + [x.center for x in rotates] + [x.pos for x in states]
    anchors += [x.pos for x in crosses] + [x.p1 for x in duals] + [x.pos for x in rewinds]
    arm = p.choose_arm(command, anchors[0] if anchors else None, ref)
    plan = PMCPlan(arm)
    for lock in g.get(Lock, []):
        near, dist = p.nearest_arm(ref, lock.pos)
        if near is not None and dist <= s.lock_radius * calibration.width:
            plan.locked.append(near)
        else:
            plan.notes.append("a lock away from both grippers marks an object to keep still: nothing to move")
    if arm is None:
        if plan.locked or plan.notes:
            return plan
        raise CorrectionRefusedError("nothing to execute: no symbol or command names a gripper motion")
    if arm in plan.locked:
        raise CorrectionRefusedError(f"the correction both moves and locks the {arm} arm")
    start = layout.pose(current, arm)
    target = start.copy()
    if arrows:
        target[:3] += p.arrow_delta(arrows, command, layout.pose(ref, arm)[:3])
        for kind, items in (("crosshair", crosses), ("dual crosshair", duals), ("rewind", rewinds)):
            if items:
                plan.notes.append(f"the {kind} marks an object; the arrow gives the motion")
    elif crosses or duals or rewinds:
        if len(crosses) + len(duals) + len(rewinds) > 1:
            raise CorrectionRefusedError(
                "without an arrow, give one target: a crosshair, a dual crosshair or a rewind, not several"
            )
        if crosses:
            point = p.lift(crosses[0].pos, depth)
            target[:3] = (point[0], point[1], point[2] + s.hover_m)
        elif duals:
            p1, p2 = (
                calibration.lift_to_plane(*q, calibration.table_z + s.mark_height_m) for q in (duals[0].p1, duals[0].p2)
            )
            target[:2] += (p2 - p1)[:2]
        else:
            if keyframe is None:
                raise CorrectionRefusedError("rewind needs the robot's pose at the keyframe, which was not recorded")
            back = layout.pose(keyframe, arm)
            target = np.where(np.isnan(back), target, back)
        for d, _ in command.moves:
            axis, sign = AXES[AXIS_OF_DIRECTION[d][0]], AXIS_OF_DIRECTION[d][1]
            if sign * (target[axis] - start[axis]) < -0.02:
                raise CorrectionRefusedError(f"the command says {d} but the marked target lies the other way")
    elif command.moves:
        for d, m in command.moves:
            axis, sign = AXES[AXIS_OF_DIRECTION[d][0]], AXIS_OF_DIRECTION[d][1]
            target[axis] += sign * (s.significant_m if m == "significantly" else s.slight_m)
    rotation = _one([r.direction for r in rotates] + [command.rotation], "rotation direction")
    grasp = _one(["open" if x.text == "ON" else "close" for x in states] + [command.grasp], "gripper state")
    if rotation is not None:
        if math.isnan(target[3]):
            raise CorrectionRefusedError(f"the {arm or 'robot'} arm has no yaw to rotate")
        target[3] += s.rotate_rad if rotation == "counter-clockwise" else -s.rotate_rad
    target[2] = max(float(target[2]), calibration.table_z + s.min_clearance_m)
    moved = float(np.linalg.norm(target[:3] - start[:3]))
    if moved > s.max_move_m:
        raise CorrectionRefusedError(f"the target is {moved:.2f} m away (limit {s.max_move_m} m); check the symbols")
    if moved > 1e-9 or rotation is not None or (arrows or crosses or duals or rewinds):
        plan.waypoints.append(Waypoint(arm, target, "move"))
    if grasp is not None:
        if math.isnan(target[4]):
            raise CorrectionRefusedError(f"the {arm or 'robot'} arm has no gripper to {grasp}")
        final = target.copy()
        final[4] = s.open_gap if grasp == "open" else s.closed_gap
        plan.waypoints.append(Waypoint(arm, final, grasp))
    if not plan.waypoints:
        raise CorrectionRefusedError("nothing to execute: the correction has no move, rotation or grasp")
    return plan
