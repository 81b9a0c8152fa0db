"""Drive any LeRobot robot (SO-100/101, Koch, LeKiwi, ...) through this project's :class:`Robot` interface.

The wrapped object is duck-typed: anything with LeRobot's ``Robot`` API (``observation_features``,
``action_features``, ``is_connected``, ``connect(calibrate=...)``, ``get_observation()``, ``send_action()``,
``disconnect()``) works, so the project never imports lerobot (which needs Python >= 3.12 and pins torch).

Every call into the wrapped robot runs on a short-lived worker thread and is awaited with a deadline: a call that
overruns raises :class:`RobotTimeoutError` instead of freezing the supervisor. Python cannot kill a thread, so
the overrunning call itself may keep running (a serial read waiting for a motor, say); until it returns, further
calls are refused at once with :class:`RobotTimeoutError` rather than sent into a bus that is mid-transaction.

Cameras: each image feature ``(h, w, 3)`` becomes a :class:`PushCamera` fed from every ``get_observation()``,
rather than an adapter that reads the robot's own ``cameras`` dict. LeRobot's ``get_observation()`` already
reads those cameras; a second reader would compete with it for frames, and would give the monitor images that
are not the ones the policy saw with that state. Robots whose images do not come from a local ``cameras`` dict
(LeKiwi's client gets them over the network) work the same way. The cost: frames arrive at the control loop's
rate, and when the loop stops the cameras go stale — which ``read_latest`` reports, as it should.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from vifailback_demo.errors import (
    CameraError,
    RobotConnectionError,
    RobotError,
    RobotProtocolError,
    RobotTimeoutError,
    ViFailbackError,
)
from vifailback_demo.robot.base import DEFAULT_TIMEOUT_S, ActionSpace, Robot
from vifailback_demo.robot.camera import Camera, PushCamera

T = TypeVar("T")
REQUIRED = (
    "observation_features",
    "action_features",
    "is_connected",
    "connect",
    "get_observation",
    "send_action",
    "disconnect",
)
_METHODS = ("connect", "get_observation", "send_action", "disconnect")
#: Connecting opens the motor bus and warms up cameras (LeRobot reads a few frames): seconds, not milliseconds.
DEFAULT_CONNECT_TIMEOUT_S = 30.0


def _has(obj: object, attr: str) -> bool:
    """Whether ``obj`` has ``attr`` without evaluating it: a property such as ``is_connected`` may do I/O."""
    try:
        inspect.getattr_static(obj, attr)
        return True
    except AttributeError:
        return hasattr(type(obj), "__getattr__") and hasattr(obj, attr)  # a proxy object that resolves names late


def _takes(fn: Callable[..., Any], param: str) -> bool:
    """Whether ``fn`` accepts keyword ``param`` (LeRobot before 0.2 had a plain ``connect()``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True  # a builtin or C method we cannot inspect: assume the current API
    return any(p.name == param or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class LeRobotRobot(Robot):
    """A LeRobot-API robot behind this project's :class:`Robot` (guards, hold, stop, cameras, action space).

    ``hold()`` sends the current joint positions as the action: every action name must be a state name
    (``"shoulder_pan.pos"``) or a velocity (``"x.vel"``, held at 0); otherwise hold is unsupported and says so.
    ``calibrate`` defaults to False, unlike LeRobot: calibration asks questions on the keyboard, which a
    supervisor's worker thread cannot answer; an uncalibrated robot is refused instead (run ``lerobot-calibrate``).
    """

    def __init__(
        self,
        robot: Any,
        *,
        action_space: ActionSpace = "joint",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        calibrate: bool = False,
        camera_timeout_s: float = 2.0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        kind = type(robot).__name__
        missing = [a for a in REQUIRED if not _has(robot, a)]
        missing += [a for a in _METHODS if a not in missing and not callable(getattr(robot, a, None))]
        if missing:
            raise RobotError(
                f"{kind} does not have LeRobot's Robot API: missing {', '.join(missing)} (needs {', '.join(REQUIRED)})"
            )
        if action_space not in ("joint", "ee"):
            raise RobotError(f"action_space must be 'joint' or 'ee', got {action_space!r}")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise RobotError(
                f"timeouts must be positive, got timeout_s={timeout_s}, connect_timeout_s={connect_timeout_s}"
            )
        self.robot = robot
        self.name = name or str(getattr(robot, "name", "") or kind)
        self.action_space = action_space
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.calibrate_on_connect = calibrate
        self._calibrate_now = calibrate
        self._busy: str | None = None  # the wrapped call in flight (or overrunning), if any
        self._busy_lock = threading.Lock()
        self.last_stop_error: str | None = None  # why the best-effort hold of the last stop() failed, if it did
        self._connected = False  # ours, not the wrapped robot's: reading that may block, and stop() must not
        self._obs_features = self._features("observation_features")
        self._act_features = self._features("action_features")
        self._cameras: dict[str, PushCamera] = {
            key: PushCamera(key, timeout_s=camera_timeout_s)
            for key, shape in self._obs_features.items()
            if isinstance(shape, tuple) and len(shape) == 3 and shape[2] == 3
        }

    # ---- the bounded call ----------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T], timeout_s: float | None = None) -> T:
        """Run ``fn`` (a call into the wrapped robot) on a worker thread; wait at most the timeout."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        with self._busy_lock:
            if self._busy is not None:
                raise RobotTimeoutError(
                    f"{self.name}: {what} not sent: the wrapped robot's {self._busy} has not returned yet"
                )
            self._busy = what
        done = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            finally:
                with self._busy_lock:
                    self._busy = None
                done.set()

        threading.Thread(target=run, name=f"lerobot-{what}", daemon=True).start()
        if not done.wait(timeout):
            raise RobotTimeoutError(
                f"{self.name}: {what} did not return within {timeout:g} s (the call may still be running in the robot)"
            )
        if "error" in box:
            raise _translate(self.name, what, box["error"])
        return box["value"]

    def _features(self, attr: str) -> dict[str, Any]:
        features = self._call(attr, lambda: getattr(self.robot, attr))
        if not isinstance(features, Mapping) or not all(isinstance(k, str) for k in features):
            raise RobotProtocolError(f"{self.name}: {attr} must be a flat dict of names, got {type(features).__name__}")
        return dict(features)

    # ---- features and cameras ---------------------------------------------------------------------------------
    @property
    def observation_features(self) -> dict[str, Any]:
        return dict(self._obs_features)

    @property
    def action_features(self) -> dict[str, Any]:
        return dict(self._act_features)

    @property
    def cameras(self) -> dict[str, Camera]:
        return dict(self._cameras)

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self, calibrate: bool | None = None) -> None:
        """Connect (``calibrate`` forwarded to the wrapped ``connect``; default: the constructor's choice)."""
        self._calibrate_now = self.calibrate_on_connect if calibrate is None else calibrate
        try:
            super().connect()
        finally:
            self._calibrate_now = self.calibrate_on_connect  # this call's choice only; reconnects use the default

    def calibrate(self) -> None:
        """The wrapped robot's ``calibrate()`` (interactive in LeRobot: run it where a keyboard is attached)."""
        self._call("calibrate()", self._optional("calibrate"), self.connect_timeout_s)

    def configure(self) -> None:
        """The wrapped robot's ``configure()`` (motor settings LeRobot applies on connect)."""
        self._call("configure()", self._optional("configure"), self.connect_timeout_s)

    def _optional(self, method: str) -> Callable[[], Any]:
        fn = getattr(self.robot, method, None)
        if not callable(fn):
            raise RobotError(f"{self.name}: the wrapped {type(self.robot).__name__} has no {method}() method")
        return fn

    # ---- Robot hooks ----------------------------------------------------------------------------------------
    def _connect(self) -> None:
        if self._call("is_connected", lambda: bool(self.robot.is_connected)):
            self._disconnect()  # our contract: a second connect() reconnects (LeRobot refuses a second connect)
        kwargs = {"calibrate": self._calibrate_now} if _takes(self.robot.connect, "calibrate") else {}
        self._call("connect()", lambda: self.robot.connect(**kwargs), self.connect_timeout_s)
        if _has(self.robot, "is_calibrated") and not self._call(
            "is_calibrated", lambda: bool(self.robot.is_calibrated)
        ):
            self._call("disconnect()", self.robot.disconnect)
            raise RobotError(
                f"{self.name}: the robot is not calibrated; run lerobot-calibrate first (or connect(calibrate=True)"
                " where a keyboard can answer its questions)"
            )
        for cam in self._cameras.values():
            cam.connect()
        self._connected = True

    def _disconnect(self) -> None:
        self._connected = False
        for cam in self._cameras.values():
            cam.disconnect()
        if self._call("is_connected", lambda: bool(self.robot.is_connected)):
            self._call("disconnect()", self.robot.disconnect, self.connect_timeout_s)

    def _get_observation(self) -> dict[str, Any]:
        obs = self._call("get_observation()", self.robot.get_observation)
        if not isinstance(obs, Mapping):
            raise RobotProtocolError(f"{self.name}: get_observation() must return a dict, got {type(obs).__name__}")
        for key, cam in self._cameras.items():
            if key not in obs:
                raise RobotProtocolError(f"{self.name}: the observation lacks camera {key!r} its features promise")
            try:
                cam.push(obs[key])
            except CameraError:
                image = np.asarray(obs[key])
                raise RobotProtocolError(
                    f"{self.name}: camera {key!r} must be RGB uint8 {self._obs_features[key]}, got {image.dtype} "
                    f"{image.shape}"
                ) from None
        return dict(obs)

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        sent = self._call("send_action()", lambda: self.robot.send_action(dict(action)))
        if sent is None:
            return dict(action)  # some robots return nothing; then what we asked for is all we know
        if not isinstance(sent, Mapping):
            raise RobotProtocolError(f"{self.name}: send_action() must return a dict, got {type(sent).__name__}")
        try:
            return {str(k): float(v) for k, v in sent.items()}
        except (TypeError, ValueError):
            raise RobotProtocolError(f"{self.name}: send_action() returned non-numbers: {dict(sent)!r:.200}") from None

    def hold_action(self, observation: Mapping[str, Any]) -> dict[str, float]:
        """The action that keeps the robot where ``observation`` says it is (see the class doc)."""
        self._check_holdable()
        states = set(self.state_names)
        missing = [k for k in self.action_names if k in states and k not in observation]
        if missing:
            raise RobotProtocolError(f"{self.name}: cannot hold, the observation lacks {missing[:5]}")
        return self.action_dict({k: (observation[k] if k in states else 0.0) for k in self.action_names})

    def _check_holdable(self) -> None:
        states = set(self.state_names)
        unsupported = [k for k in self.action_names if k not in states and not k.endswith(".vel")]
        if unsupported:
            raise RobotError(
                f"{self.name}: hold is unsupported: actions {unsupported[:5]} are neither observed states nor"
                " velocities, so there is no 'stay here' action to send"
            )

    def _hold(self) -> None:
        self._check_holdable()  # before any I/O: an unsupported robot is refused without moving
        self._send_action(self.hold_action(self._get_observation()))

    def _stop(self) -> None:
        # Best effort: the robot may be the thing that failed. Base stop() refuses actions from now on regardless.
        try:
            self._hold()
        except ViFailbackError as exc:
            self.last_stop_error = str(exc)
        else:
            self.last_stop_error = None


def _translate(name: str, what: str, exc: BaseException) -> BaseException:
    """The wrapped robot's exception as one of ours (LeRobot's DeviceNotConnectedError is a ConnectionError)."""
    if isinstance(exc, ViFailbackError) or not isinstance(exc, Exception):
        return exc
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    message = f"{name}: {what} failed: {type(exc).__name__}: {text}"
    if isinstance(exc, ConnectionError):
        err: RobotError = RobotConnectionError(message)
    elif isinstance(exc, TimeoutError):
        err = RobotTimeoutError(message)
    else:
        err = RobotError(message)
    err.__cause__ = exc
    return err
