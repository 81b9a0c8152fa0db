"""What is on the table: object kinds, their look and size, and random layouts.

Objects are described once per episode by an immutable :class:`ObjectSpec` (shape, colour, size, how it is
grasped); where they are changes every frame and lives in the world state (``world.py``). Layouts are sampled
with rejection so footprints never overlap, and every graspable object stays within reach of its arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Named colours (RGB). Names appear in task sentences, so they must be plain words.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "orange": (236, 120, 30),
    "yellow": (230, 200, 40),
    "green": (60, 160, 70),
    "blue": (45, 90, 200),
    "purple": (130, 70, 170),
    "pink": (235, 130, 170),
    "white": (228, 228, 222),
    "grey": (150, 152, 158),
    "brown": (150, 100, 55),
}
BLOCK_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink")
CUP_COLORS = ("red", "blue", "green", "white", "yellow")
BOWL_COLORS = ("white", "blue", "yellow", "green")
BASKET_COLORS = ("blue", "brown", "green")
POT_COLORS = ("grey", "red", "blue")

#: Table area where objects may be placed (robot frame, metres).
TABLE_X = (0.24, 0.62)
TABLE_Y = (-0.34, 0.34)

BOX_KINDS = ("block", "sponge", "marker", "book")
ROUND_KINDS = ("cup", "bowl", "basket", "pot", "lid", "plate")


@dataclass(frozen=True)
class ObjectSpec:
    """Shape and look of one object. Box kinds use ``size`` = (sx, sy, sz); round kinds (r_bottom, r_top, h)."""

    name: str  # as written in task sentences, e.g. "orange block", "bowl", "blue basket"
    kind: str
    rgb: tuple[int, int, int]
    size: tuple[float, float, float]
    graspable: bool = False
    container: bool = False  # open top: other objects can rest inside
    sides: int = 14  # polygon sides of round kinds (4 = a square basket)

    @property
    def height(self) -> float:
        return self.size[2]

    @property
    def radius(self) -> float:
        """Footprint half-extent (for layout spacing and shadows)."""
        if self.kind in BOX_KINDS:
            return 0.5 * float(np.hypot(self.size[0], self.size[1]))
        return max(self.size[0], self.size[1])

    @property
    def inner_radius(self) -> float:
        """Half-width of the opening that things dropped into a container must land within."""
        r = min(self.size[0], self.size[1])
        return r * (0.70 if self.sides == 4 else 0.85)

    @property
    def grasp_width(self) -> float:
        """Finger gap at which the object is held (blocks: side length; cups: body; lid: its knob)."""
        if self.kind == "block":
            return self.size[1]
        if self.kind == "lid":
            return 0.024
        return 2 * self.size[1] * 0.92

    @property
    def grasp_height(self) -> float:
        """Height of the fingertip above the object's base when grasping."""
        if self.kind == "lid":
            return self.size[2] + 0.008
        if self.kind == "cup":
            return self.size[2] * 0.55
        return self.size[2] * 0.45

    @property
    def top(self) -> float:
        return self.size[2] + (0.022 if self.kind == "lid" else 0.0)

    @property
    def yaw_matters(self) -> bool:
        return self.kind == "block"


def block(color: str, rng: np.random.Generator) -> ObjectSpec:
    s = float(rng.uniform(0.038, 0.05))
    return ObjectSpec(f"{color} block", "block", COLORS[color], (s, s, s * rng.uniform(0.9, 1.2)), graspable=True)


def cup(color: str, rng: np.random.Generator) -> ObjectSpec:
    r = float(rng.uniform(0.026, 0.032))
    return ObjectSpec(f"{color} cup", "cup", COLORS[color], (r * 0.8, r, rng.uniform(0.08, 0.1)), True, True)


def bowl(color: str, rng: np.random.Generator) -> ObjectSpec:
    r = float(rng.uniform(0.075, 0.09))
    return ObjectSpec(
        "bowl" if color == "white" else f"{color} bowl", "bowl", COLORS[color], (r * 0.55, r, 0.05), container=True
    )


def basket(color: str, rng: np.random.Generator) -> ObjectSpec:
    r = float(rng.uniform(0.10, 0.115))
    return ObjectSpec(f"{color} basket", "basket", COLORS[color], (r * 0.92, r, 0.065), container=True, sides=4)


def pot(color: str, rng: np.random.Generator) -> ObjectSpec:
    r = float(rng.uniform(0.06, 0.07))
    return ObjectSpec(f"{color} pot", "pot", COLORS[color], (r, r, 0.075), container=True)


def lid(pot_spec: ObjectSpec) -> ObjectSpec:
    r = pot_spec.size[1] + 0.006
    return ObjectSpec("lid", "lid", (70, 72, 78), (r, r * 0.96, 0.012), graspable=True)


def distractor(rng: np.random.Generator) -> ObjectSpec:
    """Things that are only in the way: a sponge, a marker, a book, a plate."""
    kind = str(rng.choice(["sponge", "marker", "book", "plate"]))
    if kind == "sponge":
        return ObjectSpec("sponge", kind, (235, 210, 60), (0.09, 0.06, 0.03))
    if kind == "marker":
        return ObjectSpec("marker", kind, (30, 30, 30), (0.13, 0.018, 0.018))
    if kind == "book":
        return ObjectSpec("book", kind, COLORS[str(rng.choice(["red", "blue", "green"]))], (0.16, 0.11, 0.025))
    return ObjectSpec("plate", kind, (238, 238, 232), (0.08, 0.09, 0.014))


def sample_layout(
    specs: list[ObjectSpec],
    rng: np.random.Generator,
    y_ranges: list[tuple[float, float] | None],
    *,
    tries: int = 400,
) -> np.ndarray:
    """(N, 3) positions (x, y, yaw) with no overlapping footprints; ``y_ranges[i]`` restricts object i's side."""
    placed: list[tuple[float, float, float]] = []
    for spec, yr in zip(specs, y_ranges):
        lo, hi = yr or TABLE_Y
        margin = spec.radius
        for _ in range(tries):
            x = rng.uniform(TABLE_X[0] + margin * 0.5, TABLE_X[1] - margin * 0.3)
            y = rng.uniform(max(lo, TABLE_Y[0] + margin * 0.3), min(hi, TABLE_Y[1] - margin * 0.3))
            ok = all(np.hypot(x - px, y - py) > margin + pr + 0.025 for px, py, pr in placed)
            if ok:
                break
        else:
            # Dense scenes fall back to the least crowded spot found; the caller rejects unusable layouts.
            x, y = rng.uniform(*TABLE_X), rng.uniform(lo, hi)
        placed.append((x, y, margin))
    yaws = rng.uniform(-0.5, 0.5, len(specs))
    return np.array([[p[0], p[1], yaw] for p, yaw in zip(placed, yaws)], dtype=np.float64)
