"""The synthetic world as a live robot: end-effector targets in, head-camera frames and exact state out.

One :meth:`send_action` is one world step (1/25 s): the 10 numbers are both fingertips' targets
``[left x, y, z, yaw, gap, right x, y, z, yaw, gap]``, which the arms approach under the world's speed limits, the
same update the dataset generator and :class:`~vifailback_demo.sim.env.SimEnv` use. After every step the head camera
is rendered and pushed into ``cameras["head"]``, whose ring the live monitor reads.

Time passes only when the robot is stepped: :meth:`hold` moves nothing and advances nothing (the kinematic arms do
not drift, so "keep the pose" needs no command), and :meth:`tick` lets time pass at the held pose for a caller that
wants falling objects to land or the camera to keep delivering fresh frames during a pause.

The scene of ``(task, seed)`` is drawn exactly like ``SimEnv.reset`` and ``make_episode(seed, 0)`` (same random
stream), so ``SimRobot(seed=s)`` shows episode 0 of a dataset generated with seed ``s``. The built-in policy reads
the exact world state through :meth:`policy_extras` (keys under ``"sim/"``) and may drive a scripted human hand
through the extra reply key ``"sim/hand"``, which :meth:`send_chunk_step` applies (row format: :data:`HAND_ROW`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vifailback_demo.errors import RobotError, SimError
from vifailback_demo.robot.base import Robot
from vifailback_demo.robot.camera import DEFAULT_RING, Camera, PushCamera
from vifailback_demo.sim.camera import Camera as SimCamera
from vifailback_demo.sim.camera import jittered_camera
from vifailback_demo.sim.episode import episode_rng
from vifailback_demo.sim.render import Look, SceneRenderer, random_look
from vifailback_demo.sim.tasks import TASK_IDS, TaskInstance, build_task
from vifailback_demo.sim.world import ARM_NAMES, HAND, MAX_GAP, World, WorldState

#: Per-arm coordinates of the state and action vectors (fingertip position in metres, yaw in radians, finger gap).
ARM_FIELDS = ("x", "y", "z", "yaw", "gap")
STATE_NAMES = tuple(f"{arm}.{f}" for arm in ARM_NAMES for f in ARM_FIELDS)
#: One row of the ``"sim/hand"`` reply key, applied before the world step of the same action row. An all-NaN row
#: means "no hand": a visible hand lets go of what it holds and leaves. Otherwise the hand is shown at the pose
#: (x, y, z, yaw, reach: 0 flat palm .. 1 grabbing) and ``obj`` is the object it holds after this row (-1: none);
#: the robot grabs or releases to match. Rows state what should be, not events, so a re-planned chunk that repeats
#: or skips a row still leaves the world consistent.
HAND_ROW = ("x", "y", "z", "yaw", "reach", "obj")
FPS = 25


def build_scene(task: str | None, seed: int, width: int, height: int) -> tuple[TaskInstance, SimCamera, Look]:
    """Task instance, head camera and look of ``(task, seed)``; ``task=None`` draws the task from the seed.

    The draw order (task, scene, camera, look) is the dataset's, so scenes match ``make_episode(seed, 0)``.
    """
    rng = episode_rng(int(seed), 0)
    drawn = str(rng.choice(list(TASK_IDS)))  # drawn even when the task is given, to keep the stream aligned
    task_id = drawn if task is None else task
    if task_id not in TASK_IDS:
        raise SimError(f"unknown task {task_id!r}; expected one of {list(TASK_IDS)}")
    instance = build_task(task_id, rng)
    camera = jittered_camera(width, height, rng)
    return instance, camera, random_look(rng)


def apply_hand_row(world: World, row: np.ndarray) -> None:
    """Put the human hand where one ``"sim/hand"`` row says (see :data:`HAND_ROW`); raises SimError for a bad row.

    Shared by the robot and the policy's script builder, so a scripted failure replays exactly as it was planned.
    """
    row = np.asarray(row, dtype=np.float64)
    s = world.state
    if row.shape != (len(HAND_ROW),):
        raise SimError(f"a 'sim/hand' row needs {len(HAND_ROW)} numbers {HAND_ROW}, got shape {row.shape}")
    held = [int(i) for i in np.flatnonzero(s.holder == HAND)]
    if np.all(np.isnan(row)):
        if s.hand[0] > 0:  # only a visible hand has anything to do: drop what it holds and leave
            for obj in held:
                world.hand_release(obj)
            world.set_hand(None)
        return
    if not np.all(np.isfinite(row)):
        raise SimError(f"a 'sim/hand' row must be all numbers or all NaN, got {row.tolist()}")
    want = int(round(row[5]))
    if not -1 <= want < len(world.specs):
        raise SimError(f"'sim/hand' object {want} is not one of the {len(world.specs)} objects (or -1)")
    world.set_hand(row[:5])
    for obj in held:
        if obj != want:
            world.hand_release(obj)
    if want >= 0 and s.holder[want] != HAND:
        world.hand_grab(want)


class SimRobot(Robot):
    """The synthetic tabletop as a robot named ``"sim"`` with an end-effector action space and a head camera."""

    name = "sim"
    action_space = "ee"
    fps = FPS

    def __init__(
        self,
        task: str | None = None,
        seed: int = 0,
        *,
        width: int = 224,
        height: int = 224,
        ring_size: int = DEFAULT_RING,
    ) -> None:
        super().__init__()
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise SimError(f"image size must be even and at least 64x48, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self._camera = PushCamera("head", ring_size=ring_size)
        self._connected = False
        self._pending_hand: np.ndarray | None = None
        self._task_arg, self._seed = task, int(seed)
        self._start_episode()

    # ---- episodes --------------------------------------------------------------------------------------------
    def new_episode(self, task: str | None = None, seed: int | None = None) -> None:
        """Start another episode: ``task`` None draws the task from the seed; ``seed`` None keeps the current one.
        Clears an emergency stop like :meth:`reset`."""
        with self._lock:
            if task is not None and task not in TASK_IDS:
                raise SimError(f"unknown task {task!r}; expected one of {list(TASK_IDS)}")
            self._task_arg = task
            if seed is not None:
                self._seed = int(seed)
            if self.is_connected:
                self.reset()  # rebuilds through _reset and clears the stop
            else:
                self._start_episode()

    def _start_episode(self) -> None:
        self._task, self._camera_model, look = build_scene(self._task_arg, self._seed, self.width, self.height)
        self._world = World(self._task.specs, self._task.layout)
        self._renderer = SceneRenderer(self._camera_model, look, self._task.specs)
        self._frame = 0
        self._render()

    def _render(self) -> None:
        # A fresh array per frame: observations and ring frames handed out earlier are never written to again.
        self._image = self._renderer.render(self._world.state)
        if self._camera.is_connected:
            self._camera.push(self._image)

    # ---- features --------------------------------------------------------------------------------------------
    @property
    def observation_features(self) -> dict[str, Any]:
        features: dict[str, Any] = {k: float for k in STATE_NAMES}
        features["head"] = (self.height, self.width, 3)
        return features

    @property
    def action_features(self) -> dict[str, Any]:
        return {k: float for k in STATE_NAMES}

    @property
    def cameras(self) -> dict[str, Camera]:
        return {"head": self._camera}

    @property
    def is_connected(self) -> bool:
        return self._connected

    # ---- exact state (tests, the oracle diagnoser, the built-in policy) --------------------------------------
    @property
    def task(self) -> TaskInstance:
        return self._task

    @property
    def task_id(self) -> str:
        return self._task.task_id

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def instruction(self) -> str:
        return self._task.instruction

    @property
    def frame(self) -> int:
        """World steps since the episode started (frame 0 is the initial scene)."""
        return self._frame

    @property
    def world_state(self) -> WorldState:
        with self._lock:
            return self._world.state.copy()

    @property
    def success(self) -> bool:
        with self._lock:
            return self._task.success(self._world.state)

    @property
    def camera_model(self) -> SimCamera:
        """Intrinsics and pose of the head camera at the robot's image size (``project``, ``depth`` ...)."""
        return self._camera_model

    @property
    def image(self) -> np.ndarray:
        """The newest rendered head frame (also the newest frame in the ring when the camera is connected)."""
        return self._image

    def policy_extras(self) -> dict[str, Any]:
        """The exact world state for the built-in policy, as msgpack-friendly numbers and numpy arrays."""
        with self._lock:
            s = self._world.state
            return {
                "sim/task": self._task.task_id,
                "sim/seed": self._seed,
                "sim/frame": self._frame,
                "sim/arms": s.arms.copy(),
                "sim/objects": s.objects.copy(),
                "sim/support": s.support.astype(np.int64),
                "sim/holder": s.holder.astype(np.int64),
                "sim/last_holder": s.last_holder.astype(np.int64),
                "sim/hand_state": s.hand.copy(),
                "sim/success": bool(self._task.success(s)),
            }

    # ---- acting ----------------------------------------------------------------------------------------------
    def send_chunk_step(self, reply: Mapping[str, Any], step: int) -> dict[str, float]:
        """Row ``step`` of ``reply["actions"]``, with row ``step`` of ``reply["sim/hand"]`` (if any) applied first."""
        row = None
        rows = np.shape(reply["actions"])[0] if np.ndim(reply["actions"]) == 2 else None
        if "sim/hand" in reply and rows is not None:  # bad actions are reported by the base class
            hand = np.asarray(reply["sim/hand"], dtype=np.float64)
            if hand.shape != (rows, len(HAND_ROW)):
                raise RobotError(
                    f"{self.name}: 'sim/hand' must be [{rows}, {len(HAND_ROW)}] like the actions, got shape {hand.shape}"
                )
            if 0 <= step < rows:
                row = hand[step]
        with self._lock:  # the lock is re-entrant: send_action below takes it again
            self._pending_hand = row
            try:
                return super().send_chunk_step(reply, step)
            finally:
                self._pending_hand = None

    def tick(self, frames: int = 1) -> None:
        """Let ``frames`` steps of time pass with both arms holding their pose (allowed while stopped: it moves
        nothing the arms could hit). Objects in the air keep falling and the camera gets new frames."""
        with self._lock:
            self._require_connected("tick()")
            for _ in range(int(frames)):
                self._step(self._world.state.arms.copy())

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        targets = np.array([action[k] for k in STATE_NAMES], dtype=np.float64).reshape(2, 5)
        if self._pending_hand is not None:
            self._apply_hand(self._pending_hand)
        self._step(targets)
        # What the arms were actually asked for: the world clamps the gap to the fingers' range and z above the table.
        sent = dict(action)
        for arm in ARM_NAMES:
            sent[f"{arm}.gap"] = float(np.clip(sent[f"{arm}.gap"], 0.0, MAX_GAP))
            sent[f"{arm}.z"] = max(sent[f"{arm}.z"], 0.004)
        return sent

    def _step(self, targets: np.ndarray) -> None:
        self._world.step(targets)
        self._frame += 1
        self._render()

    def _apply_hand(self, row: np.ndarray) -> None:
        try:
            apply_hand_row(self._world, row)
        except SimError as exc:
            raise RobotError(f"{self.name}: {exc}") from None

    def _hold(self) -> None:
        # Nothing to command: the simulated arms stay exactly where they are until the next action or tick().
        return None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        # A reconnect keeps the world as it is (a real robot does not teleport when its cable is replugged).
        self._camera.connect()
        self._connected = True
        self._camera.push(self._image)

    def _disconnect(self) -> None:
        self._connected = False
        self._camera.disconnect()

    def _get_observation(self) -> dict[str, Any]:
        arms = self._world.state.arms.reshape(-1)
        obs: dict[str, Any] = {k: float(v) for k, v in zip(STATE_NAMES, arms)}
        obs["head"] = self._image
        return obs

    def _reset(self) -> None:
        """Restart the current episode (same task and seed) from its first frame."""
        self._start_episode()
