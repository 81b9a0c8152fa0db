"""The head camera: a pinhole looking forward and down at the table from behind the two arms.

Robot frame (as in the paper): +x forward (away from the robot), +y left, +z up, metres; the table top is z = 0.
Because the camera faces +x, robot-left is image-left and both forward and up move a point up in the image, which
is why the symbols need axis colours. One pose serves several image sizes (:meth:`Camera.resized`), so the video
(smaller) and the JPEG frames (full size) show exactly the same view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Nominal camera placement; episodes add a small random jitter (see :func:`jittered_camera`).
DEFAULT_POSITION = (-0.30, 0.0, 0.70)
DEFAULT_TARGET = (0.42, 0.0, 0.0)
#: Focal length as a fraction of the image width (about 58 degrees horizontal field of view).
FOCAL_FRACTION = 0.9


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    position: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3): rows are the camera's right, down and forward axes in the robot frame
    focal: float

    @classmethod
    def look_at(cls, width: int, height: int, position=DEFAULT_POSITION, target=DEFAULT_TARGET) -> Camera:
        pos = np.asarray(position, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - pos
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, (0.0, 0.0, 1.0))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return cls(width, height, pos, np.stack([right, down, forward]), FOCAL_FRACTION * width)

    def resized(self, width: int, height: int) -> Camera:
        """The same pose with the intrinsics scaled to another image size."""
        return Camera(width, height, self.position, self.rotation, self.focal * width / self.width)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """Robot-frame points (N, 3) -> pixel coordinates (N, 2) as float."""
        c = (np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.position) @ self.rotation.T
        out = c[:, :2] * (self.focal / np.maximum(c[:, 2:3], 1e-3))
        out[:, 0] += self.width / 2
        out[:, 1] += self.height / 2
        return out

    def project_point(self, point) -> tuple[float, float]:
        u, v = self.project(np.asarray(point, dtype=np.float64)[None])[0]
        return float(u), float(v)

    def depth(self, point) -> float:
        """Distance along the viewing axis (bigger = farther); used for painter ordering and line widths."""
        return float(self.to_camera(np.asarray(point, dtype=np.float64)[None])[0, 2])

    def pixels_per_metre(self, point) -> float:
        return self.focal / max(self.depth(point), 1e-3)


def jittered_camera(width: int, height: int, rng: np.random.Generator, amount: float = 1.0) -> Camera:
    """The head camera with a few centimetres of position and aim noise (no two episodes look identical)."""
    pos = np.array(DEFAULT_POSITION) + rng.normal(0, 0.012, 3) * amount
    target = np.array(DEFAULT_TARGET) + rng.normal(0, 0.015, 3) * amount
    return Camera.look_at(width, height, pos, target)
