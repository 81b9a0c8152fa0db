"""A robot's observation in the shape openpi policies read: ``{"state", "images", "prompt"}`` plus policy extras.

openpi's ALOHA clients send ``state`` as one vector, each camera under its policy name (``cam_high``, ...), images
resized with padding to 224x224 and transposed to CHW. Which of those a policy wants differs (our built-in policy
reads HWC at any size; pi0 wants CHW 224), so renaming, resizing and the layout are options here, and one function
serves the live loop and ``vifailback policy check`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from vifailback_demo.errors import RobotError
from vifailback_demo.robot.base import Robot

#: Robot camera name -> policy image key, for a single head camera (openpi's ALOHA name for it).
DEFAULT_IMAGE_MAP: Mapping[str, str] = {"head": "cam_high"}


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale to fit ``height`` x ``width`` keeping the aspect ratio, centred on black (openpi's image_tools)."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = min(height / h, width / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    # Area averaging when shrinking avoids aliasing; linear when growing.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = scaled
    return out


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else size
    if int(h) < 1 or int(w) < 1:
        raise RobotError(f"image size must be positive, got {size!r}")
    return int(h), int(w)


def policy_observation(
    robot: Robot,
    observation: Mapping[str, Any],
    prompt: str,
    *,
    image_map: Mapping[str, str] | None = None,
    size: int | tuple[int, int] | None = None,
    chw: bool = False,
) -> dict[str, Any]:
    """Build the policy observation from ``robot.get_observation()``.

    ``state`` is the robot's state values in ``robot.state_names`` order (float64); ``images`` maps each robot
    camera in ``image_map`` to its policy key, resized with padding to ``size`` (an int for a square, or
    ``(height, width)``) and transposed to CHW when ``chw``; then ``prompt`` and ``robot.policy_extras()``.
    """
    mapping = DEFAULT_IMAGE_MAP if image_map is None else image_map
    target = _size(size)
    images: dict[str, np.ndarray] = {}
    for camera, key in mapping.items():
        if camera not in observation:
            cams = [k for k, v in robot.observation_features.items() if isinstance(v, tuple)]
            raise RobotError(f"{robot.name}: the observation has no camera {camera!r}; its cameras are {cams}")
        image = np.asarray(observation[camera])
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise RobotError(
                f"{robot.name}: camera {camera!r} must give RGB uint8 (H, W, 3), got {image.dtype} {image.shape}"
            )
        if target is not None:
            image = resize_with_pad(image, *target)
        if chw:
            image = image.transpose(2, 0, 1)
        images[key] = np.ascontiguousarray(image)
    try:
        state = robot.state_vector(observation)
    except KeyError as exc:
        raise RobotError(f"{robot.name}: the observation lacks state value {exc.args[0]!r}") from None
    out: dict[str, Any] = {"state": state, "images": images, "prompt": str(prompt)}
    out.update(robot.policy_extras())
    return out
