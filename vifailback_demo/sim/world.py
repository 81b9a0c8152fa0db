"""World state and its one-frame update: two arms, objects that can be grasped, carried, dropped and stacked.

The state is a handful of small numpy arrays (:class:`WorldState`), cheap to copy every frame, which is what the
renderer and the ground truth read. :meth:`World.step` moves each arm toward a commanded pose under speed limits,
closes or opens the fingers, attaches an object when the fingers close on it at the right place, and lets released
objects fall onto whatever is below them (table, container floor, another block, a pot rim). A human hand can be
moved in by a script and grab objects (human-intervention failures). Physics is deliberately kinematic: enough to
make the outcomes of good and bad grasps follow from the geometry, which keeps the ground truth exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vifailback_demo.sim.scene import ObjectSpec

LEFT, RIGHT, HAND = 0, 1, 2
ARM_NAMES = ("left", "right")
#: Widest finger gap (metres).
MAX_GAP = 0.08
#: Per-frame limits of an arm at 25 fps: 0.6 m/s, 3 rad/s, fingers fully open -> closed in 8 frames.
MAX_STEP_POS, MAX_STEP_YAW, MAX_STEP_GAP = 0.024, 0.12, 0.011
#: How precisely the fingertip must sit on the grasp point, and how well a block's faces must be aligned.
GRASP_TOL_XY, GRASP_TOL_Z, GRASP_TOL_YAW = 0.018, 0.02, math.radians(20)
GRAVITY_PER_FRAME = 9.81 / 25**2
#: Arm shoulders (robot frame) and their rest poses (x, y, z, yaw, gap).
SHOULDERS = np.array([[0.0, 0.30, 0.14], [0.0, -0.30, 0.14]])
HOME = np.array([[0.2, 0.2, 0.2, 0.0, MAX_GAP], [0.2, -0.2, 0.2, 0.0, MAX_GAP]])


def wrap_quarter(angle: float) -> float:
    """Angle difference modulo 90 degrees, in [-45, 45) degrees (a cube looks the same every quarter turn)."""
    q = math.pi / 2
    return (angle + q / 2) % q - q / 2


def wrap_pi(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


@dataclass
class WorldState:
    arms: np.ndarray  # (2, 5): x, y, z (fingertip), yaw, finger gap
    objects: np.ndarray  # (N, 4): x, y, z (base), yaw
    support: np.ndarray  # (N,): -1 table, j = resting on / inside object j
    holder: np.ndarray  # (N,): -1 free, LEFT / RIGHT arm, HAND
    last_holder: np.ndarray  # (N,): the arm that last carried the object (-1 never)
    hand: np.ndarray  # (6,): visible, x, y, z, yaw, reach (0 = flat palm, 1 = grabbing)

    def copy(self) -> WorldState:
        return WorldState(
            *(a.copy() for a in (self.arms, self.objects, self.support, self.holder, self.last_holder, self.hand))
        )

    def held_by(self, arm: int) -> int | None:
        idx = np.flatnonzero(self.holder == arm)
        return int(idx[0]) if idx.size else None


class World:
    """Kinematic tabletop; ``specs`` fixed, ``state`` changes every :meth:`step`."""

    def __init__(self, specs: list[ObjectSpec], layout: np.ndarray) -> None:
        n = len(specs)
        self.specs = specs
        objects = np.zeros((n, 4))
        objects[:, 0:2], objects[:, 3] = layout[:, 0:2], layout[:, 2]
        self.state = WorldState(
            arms=HOME.copy(),
            objects=objects,
            support=np.full(n, -1),
            holder=np.full(n, -1),
            last_holder=np.full(n, -1),
            hand=np.zeros(6),
        )
        self._grip_offset: dict[int, tuple[np.ndarray, float]] = {}
        self._fall_speed = np.zeros(n)

    # -- arms --------------------------------------------------------------------------------------------------

    def step(self, targets: np.ndarray) -> WorldState:
        """Advance one frame toward ``targets`` (2, 5); returns the new state (the same object, updated)."""
        s = self.state
        before = s.objects.copy()
        targets = np.asarray(targets, dtype=np.float64).reshape(2, 5)
        for arm in (LEFT, RIGHT):
            self._move_arm(arm, targets[arm])
        self._carry(before)
        self._fall()
        return s

    def _move_arm(self, arm: int, target: np.ndarray) -> None:
        s = self.state
        pose = s.arms[arm]
        delta = target[:3] - pose[:3]
        dist = float(np.linalg.norm(delta))
        if dist > MAX_STEP_POS:
            delta *= MAX_STEP_POS / dist
        pose[:3] += delta
        pose[2] = max(pose[2], 0.004)
        pose[3] += float(np.clip(wrap_pi(target[3] - pose[3]), -MAX_STEP_YAW, MAX_STEP_YAW))
        want_gap = float(np.clip(target[4], 0.0, MAX_GAP))
        new_gap = pose[4] + float(np.clip(want_gap - pose[4], -MAX_STEP_GAP, MAX_STEP_GAP))
        held = s.held_by(arm)
        if held is not None:
            width = self.specs[held].grasp_width
            if want_gap > width + 0.0005:  # any opening command lets go at once
                self._release(held)
            else:
                new_gap = max(new_gap, width)
        elif new_gap < pose[4]:
            obj = self._grasp_candidate(arm)
            if obj is not None and new_gap <= self.specs[obj].grasp_width <= pose[4] + 1e-9:
                new_gap = self.specs[obj].grasp_width
                self._attach(obj, arm)
        pose[4] = new_gap

    def _grasp_candidate(self, arm: int) -> int | None:
        s = self.state
        tip = s.arms[arm]
        for i, spec in enumerate(self.specs):
            if not spec.graspable or s.holder[i] != -1:
                continue
            x, y, z, yaw = s.objects[i]
            dx, dy = tip[0] - x, tip[1] - y
            local = (math.cos(-yaw) * dx - math.sin(-yaw) * dy, math.sin(-yaw) * dx + math.cos(-yaw) * dy)
            if max(abs(local[0]), abs(local[1])) > GRASP_TOL_XY:
                continue
            if abs(tip[2] - (z + spec.grasp_height)) > GRASP_TOL_Z:
                continue
            if spec.yaw_matters and abs(wrap_quarter(tip[3] - yaw)) > GRASP_TOL_YAW:
                continue
            return i
        return None

    def _attach(self, obj: int, holder: int) -> None:
        s = self.state
        anchor = s.arms[holder] if holder in (LEFT, RIGHT) else s.hand[1:5]
        offset = s.objects[obj, :3] - anchor[:3]
        self._grip_offset[obj] = (offset, float(s.objects[obj, 3] - anchor[3]))
        s.holder[obj] = holder
        if holder in (LEFT, RIGHT):
            s.last_holder[obj] = holder
        s.support[obj] = -1
        self._fall_speed[obj] = 0.0

    def _release(self, obj: int) -> None:
        self.state.holder[obj] = -1
        self._grip_offset.pop(obj, None)
        self._fall_speed[obj] = 0.0
        self._settle_target(obj)

    # -- human hand --------------------------------------------------------------------------------------------

    def set_hand(self, pose: np.ndarray | None) -> None:
        """Show the hand at ``pose`` (x, y, z, yaw, reach) or hide it (None)."""
        if pose is None:
            self.state.hand[:] = 0.0
        else:
            self.state.hand[0], self.state.hand[1:6] = 1.0, pose
        before = self.state.objects.copy()
        self._carry(before)

    def hand_grab(self, obj: int) -> None:
        self._attach(obj, HAND)

    def hand_release(self, obj: int) -> None:
        self._release(obj)

    # -- objects -----------------------------------------------------------------------------------------------

    def _carry(self, before: np.ndarray) -> None:
        """Held objects follow their holder; things resting on or in a moved object move with it."""
        s = self.state
        for obj, (offset, dyaw) in self._grip_offset.items():
            anchor = s.arms[s.holder[obj]] if s.holder[obj] in (LEFT, RIGHT) else s.hand[1:5]
            s.objects[obj, :3] = anchor[:3] + offset
            s.objects[obj, 3] = anchor[3] + dyaw
        delta = s.objects[:, :2] - before[:, :2]
        applied = np.zeros(len(self.specs), dtype=bool)
        for _ in range(2):  # two levels: a block on a block in a basket
            for i, sup in enumerate(s.support):
                if sup >= 0 and s.holder[i] == -1 and not applied[i] and (s.support[sup] == -1 or applied[sup]):
                    s.objects[i, :2] += delta[sup]
                    delta[i], applied[i] = delta[sup], True

    def _rest_height(self, obj: int) -> tuple[float, int]:
        """Where a free object comes to rest: (base z, supporting object or -1)."""
        s, spec = self.state, self.specs[obj]
        x, y = s.objects[obj, :2]
        best = (0.0, -1)
        for j, other in enumerate(self.specs):
            if j == obj or s.holder[j] != -1 or s.support[j] == obj:
                continue
            d = math.hypot(x - s.objects[j, 0], y - s.objects[j, 1])
            base = s.objects[j, 2]
            if spec.kind == "lid" and other.kind == "pot" and d < 0.03:
                z = base + other.height
            elif other.container and d < other.inner_radius - 0.3 * spec.radius:
                z = base + 0.006
            elif other.kind in ("block", "book", "plate", "sponge") and d < 0.75 * other.radius:
                z = base + other.height
            else:
                continue
            if z > best[0] and z <= s.objects[obj, 2] + 0.03:
                best = (z, j)
        return best

    def _settle_target(self, obj: int) -> None:
        """A dropped object that would land on a rim is nudged off it (no object balances on an edge)."""
        s, spec = self.state, self.specs[obj]
        _, sup = self._rest_height(obj)
        if sup >= 0:
            return
        for j, other in enumerate(self.specs):
            if j == obj or not (other.container or other.kind == "pot") or s.holder[j] != -1:
                continue
            v = s.objects[obj, :2] - s.objects[j, :2]
            d = float(np.linalg.norm(v))
            need = other.radius + spec.radius * 0.8
            if d < need:
                direction = v / d if d > 1e-6 else np.array([-1.0, 0.0])
                s.objects[obj, :2] = s.objects[j, :2] + direction * need

    def _fall(self) -> None:
        s = self.state
        for i in range(len(self.specs)):
            if s.holder[i] != -1 or (s.support[i] != -1 and self._fall_speed[i] == 0.0):
                continue
            rest, sup = self._rest_height(i)
            if s.objects[i, 2] <= rest + 1e-6:
                s.objects[i, 2] = rest
                s.support[i] = sup
                self._fall_speed[i] = 0.0
                continue
            self._fall_speed[i] += GRAVITY_PER_FRAME
            s.objects[i, 2] = max(rest, s.objects[i, 2] - self._fall_speed[i])
            if s.objects[i, 2] <= rest:
                s.support[i] = sup
                self._fall_speed[i] = 0.0
