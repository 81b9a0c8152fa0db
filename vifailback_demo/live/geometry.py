"""Camera calibration for point-based motion control: image points <-> robot-base points.

A :class:`CameraCalibration` is a pinhole camera: intrinsics ``K`` (3x3, pixels) and the camera-to-base pose
``T_base_cam`` (4x4: a point in the camera frame, x right, y down, z along the optical axis, maps to the robot base
frame as ``T_base_cam @ [p, 1]``). It comes from the simulated robot (:meth:`CameraCalibration.from_sim`) or a JSON
or YAML file (:meth:`CameraCalibration.load`).

What PMC needs from it:

* :meth:`project`: base point -> pixel ``(u, v)``; :meth:`image_jacobian`: pixels per metre of a base-frame motion
  at a point (2x3), so :meth:`axis_direction_in_image` tells which way a robot axis points in the image *at the
  gripper* (perspective makes it differ across the image: near the image edge +x may lean sideways);
* :meth:`ray` and :meth:`lift_to_plane`: a pixel has no depth; the point is where its viewing ray meets a
  horizontal plane (the table, ``z = table_z``, or a plane through the gripper or an object's top). A point drawn
  "above the mug" has no depth of its own, so it is lifted to a plane, never given the raw depth of the pixel
  (which is the table behind it); :meth:`point_at_depth` is for a robot that does measure depth on the object.

Pixel convention: the continuous one of ``core.symbols.to_pixels`` (``u = x / 1000 * width``) and of the sim camera
(principal point at ``(width / 2, height / 2)``), so a normalised symbol point converts exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.symbols import NORMALIZED_MAX
from vifailback_demo.errors import ViFailbackError

AXES = {"x": 0, "y": 1, "z": 2}


class CalibrationError(ViFailbackError, ValueError):
    """A camera calibration is malformed, or a point cannot be mapped (behind the camera, ray parallel to a plane)."""


def _matrix(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"calibration {what}: expected numbers of shape {shape}, got {value!r:.80}") from None
    if m.shape != shape or not np.all(np.isfinite(m)):
        raise CalibrationError(f"calibration {what}: expected finite numbers of shape {shape}, got shape {m.shape}")
    return m


def axis_vector(axis: str | int) -> np.ndarray:
    index = AXES.get(axis, axis) if isinstance(axis, str) else int(axis)
    if index not in (0, 1, 2):
        raise CalibrationError(f"axis must be 'x', 'y', 'z' or 0-2, got {axis!r}")
    e = np.zeros(3)
    e[index] = 1.0
    return e


@dataclass(frozen=True)
class CameraCalibration:
    K: np.ndarray  # (3, 3) intrinsics, pixels
    T_base_cam: np.ndarray  # (4, 4) camera -> robot base
    width: int
    height: int
    table_z: float = 0.0  # height of the table top in the base frame

    def __post_init__(self) -> None:
        K = _matrix(self.K, (3, 3), "K")
        T = _matrix(self.T_base_cam, (4, 4), "T_base_cam")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[2, 2] - 1.0) > 1e-9 or np.any(K[2, :2]) or K[1, 0]:
            raise CalibrationError("calibration K: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
        R = T[:3, :3]
        if (
            not np.allclose(R @ R.T, np.eye(3), atol=1e-6)
            or np.linalg.det(R) < 0
            or not np.allclose(T[3], [0, 0, 0, 1])
        ):
            raise CalibrationError("calibration T_base_cam: expected a rigid transform (rotation + translation)")
        if int(self.width) < 1 or int(self.height) < 1:
            raise CalibrationError(f"calibration image size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_base_cam", T)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "table_z", float(self.table_z))

    # ---- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_pose(cls, K: Any, R: Any, t: Any, width: int, height: int, table_z: float = 0.0) -> CameraCalibration:
        """From the camera-to-base rotation ``R`` (columns: the camera's x, y, z axes in the base frame) and the
        camera position ``t`` in the base frame."""
        T = np.eye(4)
        T[:3, :3] = _matrix(R, (3, 3), "R")
        T[:3, 3] = _matrix(t, (3,), "t")
        return cls(np.asarray(K, dtype=np.float64), T, width, height, table_z)

    @classmethod
    def from_sim(cls, camera: Any, table_z: float = 0.0) -> CameraCalibration:
        """The simulated head camera (``sim.camera.Camera``: rows of ``rotation`` are its right, down and forward
        axes in the robot frame; the table top is z = 0)."""
        f = float(camera.focal)
        K = np.array([[f, 0.0, camera.width / 2], [0.0, f, camera.height / 2], [0.0, 0.0, 1.0]])
        return cls.from_pose(K, np.asarray(camera.rotation).T, camera.position, camera.width, camera.height, table_z)

    @classmethod
    def load(cls, path: str | Path) -> CameraCalibration:
        """Read JSON or YAML: ``width``, ``height``, ``K`` (3x3) or ``fx``/``fy``/``cx``/``cy``, and either
        ``T_base_cam`` (4x4) or ``R`` (3x3) + ``t`` (3); optional ``table_z`` (metres, default 0)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CalibrationError(f"cannot read calibration file {p}: {exc.strerror or exc}") from None
        try:
            if p.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:  # any parser error means a bad file
            raise CalibrationError(f"calibration file {p} is not valid {p.suffix or 'JSON'}: {exc}") from None
        if not isinstance(data, dict):
            raise CalibrationError(f"calibration file {p}: expected a mapping at the top level")
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "calibration") -> CameraCalibration:
        missing = [k for k in ("width", "height") if k not in data]
        if "K" in data:
            K = data["K"]
        elif all(k in data for k in ("fx", "fy", "cx", "cy")):
            K = [[data["fx"], 0, data["cx"]], [0, data["fy"], data["cy"]], [0, 0, 1]]
        else:
            K, missing = None, [*missing, "K (or fx, fy, cx, cy)"]
        if "T_base_cam" not in data and not ("R" in data and "t" in data):
            missing.append("T_base_cam (or R and t)")
        if missing:
            raise CalibrationError(f"{where}: missing {', '.join(missing)}")
        table_z = float(data.get("table_z", 0.0))
        if "T_base_cam" in data:
            return cls(np.asarray(_matrix(K, (3, 3), "K")), _matrix(data["T_base_cam"], (4, 4), "T_base_cam"),
                       data["width"], data["height"], table_z)  # fmt: skip
        return cls.from_pose(_matrix(K, (3, 3), "K"), data["R"], data["t"], data["width"], data["height"], table_z)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "T_base_cam": self.T_base_cam.tolist(),
            "table_z": self.table_z,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def resized(self, width: int, height: int) -> CameraCalibration:
        """The same camera at another image size (intrinsics scaled; the view is unchanged)."""
        S = np.diag([width / self.width, height / self.height, 1.0])
        return CameraCalibration(S @ self.K, self.T_base_cam, width, height, self.table_z)

    # ---- frames ----------------------------------------------------------------------------------------------
    @property
    def R(self) -> np.ndarray:
        return self.T_base_cam[:3, :3]

    @property
    def position(self) -> np.ndarray:
        return self.T_base_cam[:3, 3]

    def to_camera(self, point_base: Any) -> np.ndarray:
        p = _matrix(point_base, (3,), "point")
        return self.R.T @ (p - self.position)

    # ---- projection ------------------------------------------------------------------------------------------
    def project(self, point_base: Any) -> tuple[float, float]:
        """Base-frame point -> pixel ``(u, v)``; raises for a point at or behind the camera."""
        c = self.to_camera(point_base)
        if c[2] <= 1e-6:
            raise CalibrationError(f"point {np.round(point_base, 3).tolist()} is behind the camera")
        uvw = self.K @ (c / c[2])
        return float(uvw[0]), float(uvw[1])

    def image_jacobian(self, point_base: Any) -> np.ndarray:
        """(2, 3): pixels moved per metre of motion along base x, y, z at ``point_base`` (first order)."""
        X, Y, Z = self.to_camera(point_base)
        if Z <= 1e-6:
            raise CalibrationError(f"point {np.round(point_base, 3).tolist()} is behind the camera")
        fx, s, fy = self.K[0, 0], self.K[0, 1], self.K[1, 1]
        # d(u, v) / d(camera point) for u = (fx X + s Y) / Z + cx, v = fy Y / Z + cy
        J_cam = np.array([[fx / Z, s / Z, -(fx * X + s * Y) / Z**2], [0.0, fy / Z, -fy * Y / Z**2]])
        return J_cam @ self.R.T

    def axis_direction_in_image(self, point_base: Any, axis: str | int) -> np.ndarray:
        """Unit 2-D image direction (pixels, y down) in which a motion along +``axis`` at ``point_base`` moves."""
        v = self.image_jacobian(point_base) @ axis_vector(axis)
        n = float(np.linalg.norm(v))
        if n < 1e-9:
            raise CalibrationError(f"axis {axis!r} points straight along the viewing ray at this point")
        return v / n

    def pixels_per_metre(self, point_base: Any, axis: str | int) -> float:
        """Image length (pixels) of a short motion along ``axis`` at ``point_base``, per metre."""
        return float(np.linalg.norm(self.image_jacobian(point_base) @ axis_vector(axis)))

    # ---- back-projection -------------------------------------------------------------------------------------
    def ray(self, u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
        """The viewing ray of pixel ``(u, v)``: (origin = camera centre, unit direction), in the base frame."""
        d_cam = np.linalg.solve(self.K, np.array([float(u), float(v), 1.0]))
        d = self.R @ d_cam
        return self.position.copy(), d / np.linalg.norm(d)

    def lift_to_plane(self, u: float, v: float, z: float | None = None) -> np.ndarray:
        """Where the ray of pixel ``(u, v)`` meets the horizontal plane at height ``z`` (default: the table)."""
        height = self.table_z if z is None else float(z)
        origin, d = self.ray(u, v)
        if abs(d[2]) < 1e-9:
            raise CalibrationError(f"pixel ({u:.1f}, {v:.1f}) looks parallel to the plane z = {height:.3f}")
        s = (height - origin[2]) / d[2]
        if s <= 0:
            raise CalibrationError(
                f"pixel ({u:.1f}, {v:.1f}) does not look down onto the plane z = {height:.3f} (above the horizon?)"
            )
        return origin + s * d

    def point_at_depth(self, u: float, v: float, depth: float) -> np.ndarray:
        """The base point seen at pixel ``(u, v)`` at ``depth`` metres along the optical axis (a depth image)."""
        if not np.isfinite(depth) or depth <= 0:
            raise CalibrationError(f"depth must be a positive number of metres, got {depth}")
        c = np.linalg.solve(self.K, np.array([float(u), float(v), 1.0])) * float(depth)
        return self.R @ c + self.position

    # ---- normalised 0-1000 points ----------------------------------------------------------------------------
    def to_pixel(self, point: Any) -> tuple[float, float]:
        """Normalised 0-1000 point (model text) -> pixel of this calibration's image size."""
        return normalized_to_pixel(point, self.width, self.height)

    def to_normalized(self, pixel: Any) -> tuple[float, float]:
        return pixel_to_normalized(pixel, self.width, self.height)


def normalized_to_pixel(point: Any, width: int, height: int) -> tuple[float, float]:
    """``(x, y)`` in 0-1000 -> pixels (``x / 1000 * width``), as ``core.symbols.to_pixels``."""
    return float(point[0]) * width / NORMALIZED_MAX, float(point[1]) * height / NORMALIZED_MAX


def pixel_to_normalized(pixel: Any, width: int, height: int) -> tuple[float, float]:
    return float(pixel[0]) * NORMALIZED_MAX / width, float(pixel[1]) * NORMALIZED_MAX / height
