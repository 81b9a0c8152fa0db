"""Shaded 3-D primitives drawn with OpenCV polygons: boxes, round prisms (cups, bowls, baskets), limbs, shadows.

Every primitive is convex, so its camera-facing faces never overlap each other and need no sorting; objects are
ordered by depth by the caller. Faces are shaded with a Lambert term from one directional light, and shadows are
the hull of the object's points pushed along the light direction onto the table (z = 0), which makes height
readable: a lifted block's shadow separates from it. Coordinates go to OpenCV with 4 fractional bits (``shift``)
so slow motions stay smooth in the video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vifailback_demo.sim.camera import Camera

_SHIFT = 4
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA
# Corner indices of a box's faces (bottom 0-3, top 4-7), counter-clockwise seen from outside.
_BOX_FACES = ((0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7))


@dataclass(frozen=True)
class Light:
    direction: np.ndarray  # unit vector pointing toward the light
    ambient: float = 0.45
    diffuse: float = 0.6
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def shade(self, rgb, normal: np.ndarray | None = None, factor: float = 1.0) -> tuple[int, int, int]:
        lam = 1.0 if normal is None else self.ambient + self.diffuse * max(0.0, float(normal @ self.direction))
        return tuple(int(min(255, c * lam * factor * t)) for c, t in zip(rgb, self.tint))  # type: ignore[return-value]

    def ground_shadow(self, points: np.ndarray) -> np.ndarray:
        """Points pushed along the light onto z = 0."""
        d = self.direction
        t = points[:, 2:3] / max(d[2], 0.15)
        return np.concatenate([points[:, :2] - t * d[None, :2], np.zeros((len(points), 1))], axis=1)


def _fixed(pixels: np.ndarray) -> np.ndarray:
    scaled = pixels * _ONE
    if np.abs(scaled).max() > 60000:  # far off-screen: keep OpenCV's fixed-point maths from overflowing
        scaled = np.clip(scaled, -60000, 60000)
    return scaled.round().astype(np.int32)


def fill(canvas: np.ndarray, pixels: np.ndarray, color, *, aa: bool = True) -> None:
    cv2.fillConvexPoly(canvas, _fixed(pixels), color, _AA if aa else cv2.LINE_8, _SHIFT)


def polyline(canvas: np.ndarray, pixels: np.ndarray, color, thickness: int = 1, closed: bool = True) -> None:
    cv2.polylines(canvas, [_fixed(pixels)], closed, color, thickness, _AA, _SHIFT)


def line(canvas: np.ndarray, p0, p1, color, thickness: int) -> None:
    a, b = _fixed(np.array([p0, p1], dtype=np.float64))
    cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), color, max(1, int(thickness)), _AA, _SHIFT)


def disc(canvas: np.ndarray, center, radius: float, color) -> None:
    c = _fixed(np.array([center], dtype=np.float64))[0]
    cv2.circle(canvas, (int(c[0]), int(c[1])), max(1, int(radius * _ONE)), color, -1, _AA, _SHIFT)


def _rot(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_corners(base: np.ndarray, size, yaw: float) -> np.ndarray:
    """8 corners of a box whose bottom face is centred on ``base``."""
    sx, sy, sz = (float(v) / 2 for v in size)
    local = np.array(
        [
            [-sx, -sy, 0],
            [sx, -sy, 0],
            [sx, sy, 0],
            [-sx, sy, 0],
            [-sx, -sy, 2 * sz],
            [sx, -sy, 2 * sz],
            [sx, sy, 2 * sz],
            [-sx, sy, 2 * sz],
        ]
    )
    return local @ _rot(yaw).T + np.asarray(base, dtype=np.float64)


def _shades(light: Light, rgb, normals: np.ndarray, factor: float = 1.0) -> np.ndarray:
    lam = light.ambient + light.diffuse * np.clip(normals @ light.direction, 0.0, None)
    return np.minimum(255, np.asarray(rgb, np.float64)[None] * (lam * factor)[:, None] * np.asarray(light.tint)[None])


_FACES = np.array(_BOX_FACES)


def draw_box(canvas, cam: Camera, light: Light, base, size, yaw: float, rgb, *, edge: bool = True) -> None:
    corners = box_corners(np.asarray(base), size, yaw)
    pix = cam.project(corners)
    quads = corners[_FACES]  # (6, 4, 3)
    mids = quads.mean(axis=1)
    normals = mids - corners.mean(axis=0)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    facing = np.einsum("ij,ij->i", normals, cam.position[None] - mids) > 0
    colors = _shades(light, rgb, normals)
    for f in np.flatnonzero(facing):
        fp = pix[_FACES[f]]
        fill(canvas, fp, tuple(int(c) for c in colors[f]))
        if edge:
            polyline(canvas, fp, tuple(int(c * 0.7) for c in colors[f]))


def rings(base, r_bottom: float, r_top: float, height: float, yaw: float, sides: int) -> tuple[np.ndarray, np.ndarray]:
    phase = math.pi / sides if sides == 4 else 0.0
    ang = yaw + phase + np.arange(sides) * (2 * math.pi / sides)
    circle = np.stack([np.cos(ang), np.sin(ang), np.zeros(sides)], axis=1)
    base = np.asarray(base, dtype=np.float64)
    return base + r_bottom * circle, base + r_top * circle + np.array([0.0, 0.0, height])


def _side_faces(cam: Camera, bottom: np.ndarray, top: np.ndarray, r_bottom: float, r_top: float, height: float):
    """(pixel quads (n, 4, 2), outward normals (n, 3), faces-camera flags (n,)) for the sides of a round prism."""
    n = len(bottom)
    nxt = np.roll(np.arange(n), -1)
    pix = cam.project(np.concatenate([bottom, top]))
    pb, pt = pix[:n], pix[n:]
    quads = np.stack([pb, pb[nxt], pt[nxt], pt], axis=1)
    mids = (bottom + bottom[nxt] + top + top[nxt]) / 4
    radial = (bottom + bottom[nxt]) / 2 - bottom.mean(axis=0)
    slope = (r_bottom - r_top) / max(height, 1e-6)
    normals = np.concatenate([radial[:, :2], slope * np.linalg.norm(radial[:, :2], axis=1, keepdims=True)], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    facing = np.einsum("ij,ij->i", normals, cam.position[None] - mids) > 0
    return quads, normals, facing


def draw_round(
    canvas, cam: Camera, light: Light, base, size, yaw: float, rgb, sides: int, *, part: str = "all"
) -> None:
    """A closed (lid, plate) or open (cup, bowl, basket, pot) round prism.

    Open containers are drawn in two parts so contents can go between: ``part="inside"`` (opening, inner wall and
    floor), then the contents, then ``part="front"`` (the camera-facing outer wall and the rim).
    """
    r_b, r_t, h = (float(v) for v in size)
    bottom, top = rings(base, r_b, r_t, h, yaw, sides)
    up = np.array([0.0, 0.0, 1.0])
    quads, normals, facing = _side_faces(cam, bottom, top, r_b, r_t, h)
    if part == "inside":
        fill(canvas, cam.project(top), light.shade(rgb, up, 0.45))
        floor_b, _ = rings(np.asarray(base) + np.array([0.0, 0.0, 0.006]), r_b * 0.9, r_b * 0.9, 0.0, yaw, sides)
        fill(canvas, cam.project(floor_b), light.shade(rgb, up, 0.62))
        colors = _shades(light, rgb, -normals, 0.8)
        for f in np.flatnonzero(~facing):  # the far wall, seen from inside
            fill(canvas, quads[f], tuple(int(c) for c in colors[f]))
        return
    colors = _shades(light, rgb, normals)
    for f in np.flatnonzero(facing):
        fill(canvas, quads[f], tuple(int(c) for c in colors[f]))
    if part == "all":
        fill(canvas, cam.project(top), light.shade(rgb, up))
    else:
        polyline(canvas, cam.project(top), light.shade(rgb, up, 1.15), max(1, int(cam.width / 320)))


def limb(canvas, cam: Camera, p0, p1, radius_m: float, rgb, light: Light) -> None:
    """A cylinder-like link: a dark outline, the body, and a thin highlight toward the light."""
    a, b = cam.project(np.array([p0, p1], dtype=np.float64))
    mid = (np.asarray(p0) + np.asarray(p1)) / 2
    w = max(2.0, 2 * radius_m * cam.pixels_per_metre(mid))
    line(canvas, a, b, light.shade(rgb, None, 0.55), int(w + 2))
    line(canvas, a, b, light.shade(rgb, None, 1.0), int(w))
    off = np.array([-0.22 * w, -0.22 * w])
    line(canvas, a + off, b + off, light.shade(rgb, None, 1.45), max(1, int(w / 4)))


def shadow_polygon(cam: Camera, light: Light, points: np.ndarray) -> np.ndarray:
    """Image-space convex hull of the ground shadow of ``points`` (N, 3)."""
    ground = cam.project(light.ground_shadow(np.asarray(points, dtype=np.float64)))
    return cv2.convexHull(ground.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def shadow_limb(mask: np.ndarray, cam: Camera, light: Light, p0, p1, radius_m: float) -> None:
    g = cam.project(light.ground_shadow(np.array([p0, p1], dtype=np.float64)))
    mid = light.ground_shadow(np.array([(np.asarray(p0) + np.asarray(p1)) / 2]))[0]
    line(mask, g[0], g[1], 255, int(max(2.0, 2 * radius_m * cam.pixels_per_metre(mid))))
