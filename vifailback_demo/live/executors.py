"""The two ways an accepted correction is carried out: VSF (the policy follows the drawn keyframe and the command)
and PMC (the symbols become end-effector targets for a motion controller).

:class:`VSFExecutor` asks the policy ``chunks`` times with an observation whose head image is the keyframe with the
accepted symbols drawn on it (``SymbolRenderer``, resized to the camera's frame size) and whose prompt is the
accepted low-level command, and executes ``ctx.rows_per_chunk`` rows of each reply; then it returns and the
supervisor asks with the task prompt again. Any policy works (openpi client, the built-in one).

:class:`PMCExecutor` needs a robot with ``action_space="ee"`` whose state and actions are named ``<arm>.x/.y/.z``
(optionally ``.yaw``, ``.gap``), and a camera calibration (given, or the robot's own: ``SimRobot.camera_model``).
``pmc_targets.plan_correction`` maps the symbols to waypoints (the rules are in its docstring); here each waypoint
is approached in straight-line steps no larger than ``max_step_m`` / ``max_step_yaw`` / ``max_step_gap`` per
action (under the simulated arms' limits of 0.024 m, 0.12 rad, 0.011 m per frame), the other arms held where they
are, then held for ``settle_steps`` actions. Both check ``ctx.should_stop()`` before every robot action and return
early (``detail["stopped"]``) when it turns true.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vifailback_demo.core.commands import parse_command
from vifailback_demo.core.symbols import check_symbols
from vifailback_demo.live.base import Correction, ExecutionContext, ExecutionReport
from vifailback_demo.live.geometry import CameraCalibration
from vifailback_demo.live.pmc_targets import (
    FIELDS,
    ArmLayout,
    CorrectionRefusedError,
    PMCPlan,
    PMCSettings,
    plan_correction,
)
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.render.symbols_renderer import SymbolRenderer
from vifailback_demo.robot.base import Robot

__all__ = ["CorrectionRefusedError", "PMCExecutor", "VSFExecutor", "calibration_for", "make_executor"]


def _keyframe_ok(correction: Correction) -> None:
    image = correction.keyframe_image
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CorrectionRefusedError("the correction's keyframe image must be an RGB uint8 array (H, W, 3)")
    check_symbols(correction.symbols)


class VSFExecutor:
    """Visual-symbol following: the policy sees the drawn keyframe and the command for ``chunks`` chunks."""

    name = "vsf"

    def __init__(
        self,
        chunks: int = 2,
        *,
        image_map: Mapping[str, str] | None = None,
        size: int | tuple[int, int] | None = None,
        chw: bool = False,
        renderer: SymbolRenderer | None = None,
    ) -> None:
        if chunks < 1:
            raise CorrectionRefusedError(f"VSF needs at least 1 chunk, got {chunks}")
        self.chunks = int(chunks)
        self.image_map, self.size, self.chw = image_map, size, chw
        self.renderer = renderer or SymbolRenderer()

    def check(self, robot: Robot, correction: Correction) -> None:
        if not isinstance(correction.low_level, str) or not correction.low_level.strip():
            raise CorrectionRefusedError("VSF needs a low-level command: it is the policy's prompt")
        if parse_command(correction.low_level).empty:
            raise CorrectionRefusedError(f"VSF: no move, rotation or grasp in the command {correction.low_level!r:.80}")
        _keyframe_ok(correction)
        cameras = [k for k, v in robot.observation_features.items() if isinstance(v, tuple)]
        if not cameras:
            raise CorrectionRefusedError(f"VSF needs a camera image to replace; robot {robot.name!r} has none")

    def drawn_keyframe(self, correction: Correction, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The keyframe with the symbols drawn, resized to ``shape`` (the live camera frame's) when it differs."""
        drawn = self.renderer.render(correction.keyframe_image, correction.symbols, normalized=True)
        if shape is not None and drawn.shape[:2] != tuple(shape[:2]):
            drawn = cv2.resize(drawn, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_AREA)
        return drawn

    def execute(self, ctx: ExecutionContext, correction: Correction) -> ExecutionReport:
        robot, steps, stopped = ctx.robot, 0, False
        drawn: np.ndarray | None = None
        chunks_done = 0
        for _ in range(self.chunks):
            if ctx.should_stop():
                stopped = True
                break
            obs = dict(robot.get_observation())
            if ctx.image_key not in obs:
                raise CorrectionRefusedError(f"VSF: the robot's observation has no camera {ctx.image_key!r}")
            if drawn is None:
                drawn = self.drawn_keyframe(correction, np.shape(obs[ctx.image_key]))
            obs[ctx.image_key] = drawn
            image_map = self.image_map
            if image_map is None and ctx.image_key != "head":
                image_map = {ctx.image_key: "cam_high"}
            observation = policy_observation(
                robot, obs, correction.low_level, image_map=image_map, size=self.size, chw=self.chw
            )
            reply = ctx.policy.infer(observation)
            rows = min(int(ctx.rows_per_chunk), int(np.shape(reply["actions"])[0]))
            for i in range(rows):
                if ctx.should_stop():
                    stopped = True
                    break
                robot.send_chunk_step(reply, i)
                steps += 1
            chunks_done += 1
            if stopped:
                break
        detail = {"chunks": chunks_done, "prompt": correction.low_level, "stopped": stopped}
        return ExecutionReport(self.name, steps, detail)


def pose_at(history: Mapping[int, np.ndarray], step: int) -> np.ndarray | None:
    """The state recorded at ``step``, else the latest one before it (a loop may record only at chunk starts)."""
    if step in history:
        return history[step]
    earlier = [k for k in history if k <= step]
    return history[max(earlier)] if earlier else None


def calibration_for(robot: Robot, given: CameraCalibration | str | Path | None = None) -> CameraCalibration:
    """The calibration given (object or file), else the robot's own (``calibration`` or the sim's ``camera_model``)."""
    if isinstance(given, CameraCalibration):
        return given
    if given is not None:
        return CameraCalibration.load(given)
    own = getattr(robot, "calibration", None)
    if isinstance(own, CameraCalibration):
        return own
    camera = getattr(robot, "camera_model", None)
    if camera is not None and all(hasattr(camera, k) for k in ("focal", "rotation", "position", "width")):
        return CameraCalibration.from_sim(camera)
    raise CorrectionRefusedError(
        f"PMC needs a camera calibration (intrinsics + camera-to-base pose) for robot {robot.name!r}; pass a file"
    )


class PMCExecutor:
    """Point-based motion control: symbols -> end-effector waypoints -> interpolated ``send_action`` steps."""

    name = "pmc"

    def __init__(
        self,
        calibration: CameraCalibration | str | Path | None = None,
        slight_m: float = 0.03,
        significant_m: float = 0.08,
        *,
        rotate_rad: float = 0.5,
        max_step_m: float = 0.015,
        max_step_yaw: float = 0.08,
        max_step_gap: float = 0.008,
        settle_steps: int = 3,
        settings: PMCSettings | None = None,
    ) -> None:
        if min(max_step_m, max_step_yaw, max_step_gap) <= 0 or settle_steps < 0:
            raise CorrectionRefusedError("PMC step limits must be positive and settle_steps at least 0")
        self.calibration = calibration
        base = settings or PMCSettings()
        self.settings = replace(base, slight_m=slight_m, significant_m=significant_m, rotate_rad=rotate_rad)
        self.max_step = (float(max_step_m), float(max_step_yaw), float(max_step_gap))
        self.settle_steps = int(settle_steps)

    # ---- checks ----------------------------------------------------------------------------------------------
    def _layout(self, robot: Robot) -> ArmLayout:
        if robot.action_space != "ee":
            raise CorrectionRefusedError(
                f"PMC drives end-effector targets; robot {robot.name!r} takes {robot.action_space!r} actions: use VSF"
            )
        missing = [k for k in robot.action_names if k not in robot.state_names]
        if missing:
            raise CorrectionRefusedError(
                f"PMC needs end-effector actions that mirror the state; {robot.name!r} also takes {missing[:4]}"
            )
        return ArmLayout.of(robot.state_names)

    def plan(self, robot: Robot, correction: Correction, ctx: ExecutionContext | None = None) -> PMCPlan:
        """The waypoints for ``correction`` from the robot's current state (raises CorrectionRefusedError)."""
        layout = self._layout(robot)
        _keyframe_ok(correction)
        calibration = calibration_for(robot, self.calibration)
        obs = robot.get_observation()
        current = robot.state_vector(obs)
        keyframe = None
        if ctx is None:
            keyframe = current  # a check has no history: validate with the current pose standing in
        elif 1 <= correction.keyframe <= len(ctx.frame_steps):
            keyframe = pose_at(ctx.pose_history, ctx.frame_steps[correction.keyframe - 1])
        depth = obs.get(f"{ctx.image_key if ctx else 'head'}_depth")
        depth = np.asarray(depth, dtype=np.float64) if depth is not None else None
        return plan_correction(correction, calibration, layout, current, keyframe, self.settings, depth=depth)

    def check(self, robot: Robot, correction: Correction) -> None:
        self.plan(robot, correction)

    # ---- control ---------------------------------------------------------------------------------------------
    def _steps_to(self, start: np.ndarray, target: np.ndarray) -> int:
        d = np.nan_to_num(np.abs(target - start))
        d[3] = abs(math.remainder(float(np.nan_to_num(target[3] - start[3])), 2 * math.pi))
        pos, yaw, gap = self.max_step
        return max(1, math.ceil(max(float(np.linalg.norm(d[:3])) / pos, d[3] / yaw, d[4] / gap) - 1e-9))

    def execute(self, ctx: ExecutionContext, correction: Correction) -> ExecutionReport:
        robot = ctx.robot
        plan = self.plan(robot, correction, ctx)
        layout = ArmLayout.of(robot.state_names)
        obs = robot.get_observation()
        command = {k: float(obs[k]) for k in robot.action_names}  # everything holds where it is
        steps, stopped = 0, False

        def send() -> bool:
            nonlocal steps
            if ctx.should_stop():
                return False
            robot.send_action(command)
            steps += 1
            return True

        for wp in plan.waypoints:
            names = {f: robot.state_names[i] for f, i in layout.arms[wp.arm].items()}
            start = np.array([command[names[f]] if f in names else math.nan for f in FIELDS])
            delta = wp.pose - start
            delta[3] = math.remainder(float(delta[3]), 2 * math.pi) if not math.isnan(delta[3]) else math.nan
            n = self._steps_to(start, wp.pose)
            for k in range(1, n + 1):
                pose = start + delta * (k / n)
                for f, name in names.items():
                    command[name] = float(pose[FIELDS.index(f)])
                if not send():
                    stopped = True
                    break
            if stopped:
                break
        for _ in range(self.settle_steps if plan.waypoints and not stopped else 0):
            if not send():
                stopped = True
                break
        final = robot.state_vector(robot.get_observation())
        detail: dict[str, Any] = {
            "arm": plan.arm,
            "targets": [{"arm": w.arm, "what": w.what, "pose": _json_pose(w.pose)} for w in plan.waypoints],
            "locked": plan.locked,
            "notes": plan.notes,
            "stopped": stopped,
        }
        if plan.waypoints and plan.arm is not None and not stopped:
            reached = layout.pose(final, plan.arm)[:3]
            detail["final_error_m"] = float(np.linalg.norm(reached - plan.waypoints[-1].pose[:3]))
        return ExecutionReport(self.name, steps, detail)


def _json_pose(pose: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 4) for v in pose]


def make_executor(name: str, **options: Any) -> VSFExecutor | PMCExecutor:
    """``"vsf"`` or ``"pmc"`` with its options (the CLI's ``--executor``)."""
    kinds = {"vsf": VSFExecutor, "pmc": PMCExecutor}
    if name not in kinds:
        raise CorrectionRefusedError(f"unknown executor {name!r}; expected 'vsf' or 'pmc'")
    return kinds[name](**options)
