"""The robot interface, shaped like LeRobot's ``Robot`` so a LeRobot user recognises it.

LeRobot's part: ``name``, ``observation_features`` / ``action_features`` (flat dicts: ``float`` for a number,
``(h, w, c)`` for an image), ``is_connected``, ``connect()``, ``get_observation() -> dict``,
``send_action(action) -> action actually sent``, ``disconnect()``.

What supervision needs and LeRobot lacks: ``hold()`` (stop moving, keep the pose), ``stop()`` (emergency: hold,
then refuse every action until ``connect()`` or ``reset()``), ``action_space`` (``"joint"`` or ``"ee"``: the
point-based executor can only drive end-effector targets) and ``cameras`` (name -> :class:`Camera`, whose ring
buffer the monitor reads).

Backends implement the underscored hooks; the public methods here keep the guards (connected? stopped? the right
keys? finite numbers?) in one place, so every backend refuses the same bad input with the same one-line error.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from vifailback_demo.errors import RobotConnectionError, RobotError, RobotStoppedError
from vifailback_demo.robot.camera import Camera

ActionSpace = Literal["joint", "ee"]
#: Default bound of one I/O call to a robot (seconds); every backend takes its own ``timeout_s``.
DEFAULT_TIMEOUT_S = 2.0


class Robot(ABC):
    """One robot. Use as a context manager: ``with robot: obs = robot.get_observation()``."""

    name: str = "robot"
    action_space: ActionSpace = "joint"

    def __init__(self) -> None:
        self._stopped = False
        self._lock = threading.RLock()  # one command on the link at a time; stop() also takes it, briefly

    # ---- features ------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def observation_features(self) -> dict[str, Any]:
        """Flat dict: state names -> ``float``, camera names -> ``(h, w, 3)``."""

    @property
    @abstractmethod
    def action_features(self) -> dict[str, Any]:
        """Flat dict: action names -> ``float``, in the order a policy's action vector uses."""

    @property
    def cameras(self) -> dict[str, Camera]:
        return {}

    @property
    def state_names(self) -> list[str]:
        return [k for k, v in self.observation_features.items() if v is float]

    @property
    def action_names(self) -> list[str]:
        return list(self.action_features)

    # ---- lifecycle -------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """No I/O here: ``stop()`` reads it and must never block."""

    @property
    def is_stopped(self) -> bool:
        return self._stopped

    def connect(self) -> None:
        """Open the link (a second call reconnects) and clear an emergency stop."""
        with self._lock:
            self._connect()
            self._stopped = False

    def disconnect(self) -> None:
        """Close the link; safe to call twice and after a failure."""
        with self._lock:
            self._disconnect()

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # ---- observe and act -------------------------------------------------------------------------------------
    def get_observation(self) -> dict[str, Any]:
        with self._lock:
            self._require_connected("get_observation()")
            return self._get_observation()

    def send_action(self, action: Mapping[str, Any] | np.ndarray | list[float]) -> dict[str, float]:
        """Send one action (a dict by feature name, or a vector in ``action_names`` order); return what was sent."""
        checked = self.action_dict(action)
        with self._lock:
            self._require_connected("send_action()")
            if self._stopped:
                raise RobotStoppedError(
                    f"{self.name}: action refused, the robot is emergency-stopped; call connect() or reset() first"
                )
            return self._send_action(checked)

    def hold(self) -> None:
        """Stop moving and keep the current pose (the supervisor's pause)."""
        with self._lock:
            self._require_connected("hold()")
            self._hold()

    def stop(self) -> None:
        """Emergency stop: hold, then refuse every action until ``connect()``/``reset()``. Never raises for a
        robot that is already stopped or disconnected: a stop must always be possible."""
        self._stopped = True  # first, without the lock: an action waiting on the lock is refused when it gets it
        with self._lock:
            if self.is_connected:
                self._stop()

    def reset(self) -> None:
        """Clear an emergency stop without reconnecting (backends may also reset their episode)."""
        with self._lock:
            self._require_connected("reset()")
            self._reset()
            self._stopped = False

    # ---- conversions used by policies and executors ----------------------------------------------------------
    def action_dict(self, action: Mapping[str, Any] | np.ndarray | list[float]) -> dict[str, float]:
        names = self.action_names
        if isinstance(action, Mapping):
            missing = [k for k in names if k not in action]
            extra = [k for k in action if k not in names]
            if missing or extra:
                raise RobotError(f"{self.name}: action keys must be {names}; missing {missing}, unexpected {extra[:5]}")
            values = [action[k] for k in names]
        else:
            values = list(np.asarray(action, dtype=np.float64).reshape(-1))
            if len(values) != len(names):
                raise RobotError(f"{self.name}: action must have {len(names)} numbers ({names}), got {len(values)}")
        out = {}
        for k, v in zip(names, values):
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise RobotError(f"{self.name}: action {k!r} must be a number, got {type(v).__name__}") from None
            if not math.isfinite(f):
                raise RobotError(f"{self.name}: action {k!r} must be finite, got {f}")
            out[k] = f
        return out

    def send_chunk_step(self, reply: Mapping[str, Any], step: int) -> dict[str, float]:
        """Send row ``step`` of a policy reply's ``actions`` [horizon, dim]. The simulated robot also reads its own
        extra keys (the built-in policy's scripted human hand); real robots send the action row only."""
        actions = np.asarray(reply["actions"], dtype=np.float64)
        if actions.ndim != 2 or not 0 <= step < actions.shape[0]:
            raise RobotError(f"{self.name}: step {step} is outside the action chunk of shape {actions.shape}")
        return self.send_action(actions[step])

    def policy_extras(self) -> dict[str, Any]:
        """Extra observation keys a matching built-in policy may read (the simulator's exact state); {} otherwise."""
        return {}

    def state_vector(self, observation: Mapping[str, Any]) -> np.ndarray:
        return np.array([float(observation[k]) for k in self.state_names], dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """What ``vifailback robot check`` prints: name, action space, features (images as their shape)."""
        return {
            "name": self.name,
            "action_space": self.action_space,
            "observation_features": {
                k: (list(v) if isinstance(v, tuple) else "float") for k, v in self.observation_features.items()
            },
            "action_features": {k: "float" for k in self.action_features},
            "cameras": list(self.cameras),
        }

    # ---- what a backend implements ---------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> None: ...

    @abstractmethod
    def _disconnect(self) -> None: ...

    @abstractmethod
    def _get_observation(self) -> dict[str, Any]: ...

    @abstractmethod
    def _send_action(self, action: dict[str, float]) -> dict[str, float]: ...

    @abstractmethod
    def _hold(self) -> None: ...

    def _stop(self) -> None:
        self._hold()

    def _reset(self) -> None:
        return None

    def _require_connected(self, what: str) -> None:
        if not self.is_connected:
            raise RobotConnectionError(f"{self.name}: {what} needs a connected robot; call connect() first")
