"""Low-level commands and symbols computed from geometry, in the official vocabulary.

A motion from the fingertip's pose to where it should be becomes a sentence ("Move the right gripper to the left
significantly and downward slightly, rotate the right gripper clockwise, and close the right gripper.") and
symbols: one straight arrow from the gripper toward the goal whose colours name the axes in sentence order (red x,
green y, blue z), a rotating arrow, an ON/OFF label. Axes are listed largest motion first; motions under
``MIN_MOVE`` are left out; ``SIGNIFICANT`` separates "slightly" from "significantly".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vifailback_demo.core.symbols import GripperState, RotatingArrow, StraightArrow, Symbol
from vifailback_demo.sim.camera import Camera
from vifailback_demo.sim.world import wrap_pi

MIN_MOVE, SIGNIFICANT, MIN_ROTATE = 0.012, 0.05, math.radians(8)
AXIS_COLOR = ("red", "green", "blue")
_WORDS = {
    (0, 1): "forward",
    (0, -1): "backward",
    (1, 1): "to the left",
    (1, -1): "to the right",
    (2, 1): "upward",
    (2, -1): "downward",
}


@dataclass
class Guidance:
    low_level: str
    symbols: list[Symbol] = field(default_factory=list)  # pixel coordinates (ints)
    axes: list[tuple[int, int]] = field(default_factory=list)  # (axis, sign) in sentence order
    target: np.ndarray | None = None  # where the fingertip should go (robot frame)


def clamp_point(cam: Camera, p) -> tuple[int, int]:
    return (int(min(max(round(p[0]), 0), cam.width - 1)), int(min(max(round(p[1]), 0), cam.height - 1)))


def motion_terms(delta: np.ndarray) -> list[tuple[int, int, str]]:
    """(axis, sign, magnitude word) for each axis moved more than MIN_MOVE, largest first."""
    order = sorted(range(3), key=lambda a: -abs(delta[a]))
    return [
        (a, 1 if delta[a] > 0 else -1, "significantly" if abs(delta[a]) >= SIGNIFICANT else "slightly")
        for a in order
        if abs(delta[a]) >= MIN_MOVE
    ]


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        text = parts[0]
    else:
        text = ", ".join(parts[:-1]) + ", and " + parts[-1]
    return text[0].upper() + text[1:] + "."


def arrow(cam: Camera, tip: np.ndarray, delta: np.ndarray, colors: list[str]) -> StraightArrow:
    """From the gripper toward ``tip + delta`` in the image, at least 7% of the width long, kept in the frame."""
    start = np.array(cam.project_point(tip))
    end = np.array(cam.project_point(tip + delta))
    v = end - start
    length = float(np.linalg.norm(v))
    if length < 1e-6:
        v, length = np.array([0.0, -1.0]), 1.0
    want = min(max(length, 0.07 * cam.width), 0.3 * cam.width)
    v = v / length * want
    # Shrink (never turn) the arrow so its end stays inside the image.
    for axis, size in ((0, cam.width - 1), (1, cam.height - 1)):
        if start[axis] + v[axis] > size and v[axis] > 0:
            v *= max((size - start[axis]) / v[axis], 0.2)
        if start[axis] + v[axis] < 0 and v[axis] < 0:
            v *= max(-start[axis] / v[axis], 0.2)
    s = clamp_point(cam, start)
    e = clamp_point(cam, (s[0] + v[0], s[1] + v[1]))
    return StraightArrow(s, e, tuple(colors))


def gripper_command(
    cam: Camera,
    arm_name: str,
    tip_pose: np.ndarray,
    target: np.ndarray | None,
    *,
    rotate: bool = False,
    grasp: str | None = None,
) -> Guidance:
    """Sentence and symbols that take the gripper at ``tip_pose`` to ``target`` (x, y, z, yaw) and then grasp."""
    gripper = f"{arm_name} gripper"
    parts: list[str] = []
    symbols: list[Symbol] = []
    axes: list[tuple[int, int]] = []
    tip = np.asarray(tip_pose[:3], dtype=np.float64)
    if target is not None:
        delta = np.asarray(target[:3], dtype=np.float64) - tip
        terms = motion_terms(delta)
        if terms:
            words = " and ".join(f"{_WORDS[(a, s)]} {m}" for a, s, m in terms)
            parts.append(f"move the {gripper} {words}")
            masked = np.zeros(3)
            for a, s, _ in terms:
                masked[a] = delta[a]
                axes.append((a, s))
            symbols.append(arrow(cam, tip, masked, [AXIS_COLOR[a] for a, _, _ in terms]))
        if rotate:
            dyaw = wrap_pi(float(target[3] - tip_pose[3]))
            if abs(dyaw) >= MIN_ROTATE:
                # Yaw grows counter-clockwise seen from above, and the head camera looks down on the table.
                direction = "counter-clockwise" if dyaw > 0 else "clockwise"
                parts.append(f"rotate the {gripper} {direction}")
                u, v = cam.project_point(tip + np.array([0.0, 0.0, 0.06]))
                symbols.append(RotatingArrow(clamp_point(cam, (u, v)), direction))
    if grasp is not None:
        parts.append(f"{grasp} the {gripper}")
        u, v = cam.project_point(tip)
        symbols.append(
            GripperState(
                clamp_point(cam, (u + 0.06 * cam.width, v - 0.02 * cam.height)), "ON" if grasp == "open" else "OFF"
            )
        )
    if not parts:  # already there: hold still (never an empty command)
        parts.append(f"move the {gripper} upward slightly")
        axes.append((2, 1))
        symbols.append(arrow(cam, tip, np.array([0.0, 0.0, 0.02]), ["blue"]))
    return Guidance(_join(parts), symbols, axes, None if target is None else np.asarray(target, dtype=np.float64))
