"""The simulator's oracle diagnoser: a ``VLMBackend`` that reads the world's exact state instead of the pixels.

It lets the live loop and the executors be measured apart from any model. Given the frames a check took from the
head camera's ring, it answers in the official ``<Think>/<Answer>`` format of the correction mode (what
:func:`~vifailback_demo.core.answer.parse_answer` and the diagnoser read):

* **Detection.** The failure injected by the built-in policy (same choice as :class:`SimPolicy`: policy seed, failure
  rate, variants) is reported once it is visible in the frames the model was given, i.e. the newest given frame is
  at or after the failure's ``correct_frame`` (+ ``reaction_frames``), *and* the robot is still on the failing
  plan: both arms are where the failing rollout has them at the current frame. A correction that took the arms off
  that plan (the policy then runs its closed-loop expert) is not re-reported; a rejected or wrong one, after which
  the policy returns to the failing plan, is. Anything else (no failure injected, not yet visible, recovering,
  task done) answers "Successful" (the task succeeded, or no failure so far).
* **Answer.** "Failed" with the failure type, the keyframe (the newest given frame: the one closest to the state
  the correction starts from), and the low-level correction and symbols computed from the *current* world state
  with the dataset's conventions (``sim/guidance.py``: arrow from the gripper, axis colours in sentence order, ON/OFF
  for the grasp; crosshair, dual crosshair, lock and rewind as ``sim/groundtruth.py`` places them), so a late
  detection still gets a command that addresses the failure (``sim_script.addresses_failure`` holds for it). The
  control loop keeps acting until the answer is read, so the command must stay right for the next
  ``robust_frames`` of the failing plan; where the grasp word would flip (a gripper opening past the regrasp
  threshold), it is left out (the policy's expert grasps anyway once the failure is corrected).

Frames are mapped to robot frames through the camera ring (the ring holds the very arrays the robot rendered; a
copied frame is matched by its pixels); frames it cannot place count as the robot's current frame.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.commands import parse_command
from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    Symbol,
    symbols_to_normalized,
)
from vifailback_demo.errors import BackendError
from vifailback_demo.models.backend import GenerationResult, GenerationSettings, TextCallback, check_frames
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.policy.sim_script import addresses_failure, build_script, correction_goal, decide_variant
from vifailback_demo.robot.sim_robot import SimRobot, build_scene
from vifailback_demo.sim.camera import Camera
from vifailback_demo.sim.failures import Injection
from vifailback_demo.sim.guidance import Guidance, clamp_point, gripper_command
from vifailback_demo.sim.rollout import rollout
from vifailback_demo.sim.tasks import TaskInstance, arm_word
from vifailback_demo.sim.world import WorldState, wrap_pi

ORACLE_NAME = "sim-oracle"
#: Variants whose correction grasps the object again (as ``sim/groundtruth.py``: arrow, rotation, ON/OFF, crosshair).
REGRASP = frozenset(
    ("no_close", "weak_close", "offset_x", "offset_y", "offset_z", "wrong_yaw", "early_open", "place_offset")
) | {"hand_takes_object"}
#: How close both arms must be to the failing rollout to count as "still on the failing plan" (m, gap m, rad).
TRACK_POS, TRACK_GAP, TRACK_YAW = 0.015, 0.015, 0.1
_OK_THINK = (
    "First, I need to determine if the task was successful. {state}\n"
    "No failure occurred, so no keyframe, failure type, low-level command or visual prompt is needed."
)
_OK_ANSWER = (
    '"success detection": "Successful",\n"keyframe": "None",\n"low level commands": "None",\n"visual prompts": ""'
)


@dataclass
class OracleVerdict:
    """What one oracle call decided (kept in :attr:`SimOracleBackend.last` for logs and tests)."""

    status: str  # "successful" (task done) | "running" (no failure visible so far) | "failed"
    robot_frame: int  # robot frame of the newest given image
    current_frame: int  # robot frame when the oracle read the world
    frames: list[int | None]  # robot frame of each given image (None: not found in the camera ring)
    variant: str | None = None
    failure_type: str | None = None
    keyframe: int | None = None  # 1-based among the given images
    low_level: str | None = None
    symbols: list[Symbol] = field(default_factory=list)  # normalised 0-1000
    reason: str = ""


@dataclass
class _Truth:
    task: TaskInstance
    injection: Injection
    info: dict[str, Any]
    states: list[WorldState]  # every frame of the failing rollout (what the robot goes through while on plan)
    arms: np.ndarray  # (T, 2, 5): both arms at every frame of the failing rollout


def _center(cam: Camera, task: TaskInstance, state: WorldState, obj: int) -> tuple[int, int]:
    """Where ``sim/groundtruth.py`` marks an object: a little above its base centre."""
    x, y, z, _ = state.objects[obj]
    return clamp_point(cam, cam.project_point((x, y, z + task.specs[obj].top * 0.6)))


def correction_guidance(
    task: TaskInstance, inj: Injection, state: WorldState, cam: Camera, *, with_grasp: bool = True
) -> Guidance:
    """Sentence and symbols (pixels of ``cam``) that correct ``inj`` from ``state``, with the dataset's symbols
    (``with_grasp=False`` leaves the grasp word and its ON/OFF out)."""
    arm, goal, grasp = correction_goal(task, inj, state)
    grasp = grasp if with_grasp else None
    stage = task.stages[inj.stage]
    v = inj.variant
    g = gripper_command(
        cam,
        arm_word(arm),
        state.arms[arm],
        goal,
        rotate=v in REGRASP and task.specs[stage.obj].yaw_matters,
        grasp=grasp,
    )
    if v in REGRASP or v in ("skipped_subtask", "hand_moves_object"):
        g.symbols.append(Crosshair(_center(cam, task, state, stage.obj)))
    elif v == "wrong_object":
        wrong = int(inj.params["wrong_object"])
        g.symbols += [Rewind(_center(cam, task, state, wrong)), Crosshair(_center(cam, task, state, stage.obj))]
    elif v == "wrong_arm":
        wrong_arm = int(inj.params["wrong_arm"])
        tip = clamp_point(cam, cam.project_point(state.arms[wrong_arm, :3]))
        g.symbols += [Rewind(_center(cam, task, state, stage.obj)), Lock(tip)]
    elif v == "hand_moves_container":
        g.symbols.append(DualCrosshair(_center(cam, task, state, stage.obj), _center(cam, task, state, stage.target)))
    return g


def ring_frames(robot: SimRobot, frames: Sequence[np.ndarray]) -> tuple[list[int | None], int]:
    """(robot frame of each image, or None where the head camera's ring does not hold it; the current frame).

    The ring holds the very arrays the robot rendered, so an image is found by identity (a copy by its pixels,
    newest first); ring index ``i`` is robot frame ``now - (newest index - i)``, as the robot pushes one frame per
    step (a reconnect pushes the current frame again, which shifts older frames by one).
    """
    camera = robot.cameras.get("head")
    with robot._lock:  # the robot steps, renders and pushes under this lock: ring and frame counter agree
        ring = camera.ring.recent() if camera is not None else []
        now = robot.frame
    if not ring:
        return [None] * len(frames), now
    newest = ring[-1].index
    by_id = {id(f.image): f.index for f in ring}
    out: list[int | None] = []
    for image in frames:
        index = by_id.get(id(image))
        if index is None:
            shape = getattr(image, "shape", None)
            match = (f.index for f in reversed(ring) if f.image.shape == shape and np.array_equal(f.image, image))
            index = next(match, None)
        out.append(None if index is None else now - (newest - index))
    return out, now


class SimOracleBackend:
    """An exact diagnoser for :class:`SimRobot` driven by :class:`SimPolicy` (see the module docstring).

    ``policy``: the built-in policy that drives the robot, or one built with the same ``seed``, ``failure_rate`` and
    ``variants`` (only its choice of failures is read, never its private state), so the oracle also works when the
    policy runs behind a websocket. Without one, no failure is ever injected as far as the oracle knows: it only
    tells success. ``reaction_frames``: frames a failure must have been visible before it is reported.
    ``robust_frames``: how far along the failing plan the answer must stay right (see :meth:`_robust_guidance`).
    ``delay_s``: a simulated model latency (sleeps in ``generate``).
    """

    def __init__(
        self,
        robot: SimRobot,
        policy: SimPolicy | None = None,
        *,
        reaction_frames: int = 0,
        robust_frames: int = 25,
        delay_s: float = 0.0,
        mode: str = "correction",
        name: str = ORACLE_NAME,
    ) -> None:
        if min(reaction_frames, robust_frames, delay_s) < 0:
            raise BackendError(
                f"{name}: reaction_frames, robust_frames and delay_s must be >= 0, got "
                f"{reaction_frames}, {robust_frames}, {delay_s}"
            )
        if mode not in ("avoidance", "correction"):
            raise BackendError(f"{name}: mode must be 'avoidance' or 'correction', got {mode!r}")
        self.robot, self.policy = robot, policy
        self.reaction_frames, self.robust_frames = int(reaction_frames), int(robust_frames)
        self.delay_s, self.mode, self.name = float(delay_s), mode, name
        self.calls = 0
        self.last: OracleVerdict | None = None
        self._truths: dict[tuple[str, int], _Truth | None] = {}
        self.truth(robot.task_id, robot.seed)  # built now (tens of ms), not during the first check

    @classmethod
    def from_metadata(cls, robot: SimRobot, metadata: Mapping[str, Any], **kw: Any) -> SimOracleBackend:
        """An oracle for the built-in policy behind a server, from the metadata it sends (``failure_rate``,
        ``seed``, and ``variants`` when present)."""
        policy = SimPolicy(
            failure_rate=float(metadata.get("failure_rate", 0.0)),
            seed=int(metadata.get("seed", 0)),
            variants=metadata.get("variants"),
        )
        return cls(robot, policy, **kw)

    # ---- ground truth ----------------------------------------------------------------------------------------
    def truth(self, task_id: str, seed: int) -> _Truth | None:
        """The injected failure of episode ``(task_id, seed)`` and its failing rollout (None: no failure)."""
        key = (task_id, int(seed))
        if key not in self._truths:
            self._truths[key] = self._build_truth(task_id, int(seed))
        return self._truths[key]

    def _build_truth(self, task_id: str, seed: int) -> _Truth | None:
        p = self.policy
        if p is None:
            return None
        # The policy's own decision, made with the same public functions and the same random stream.
        task, camera, _ = build_scene(task_id, seed, 640, 480)
        variant, rng = decide_variant(task, p.seed, seed, p.failure_rate, p.variants)
        if variant is None:
            return None
        script = build_script(task, variant, rng, camera)
        states = rollout(task, script.injection.plan)
        return _Truth(task, script.injection, dict(script.info), states, np.array([s.arms for s in states]))

    @staticmethod
    def on_plan(truth: _Truth, arms: np.ndarray, frame: int) -> bool:
        """Are both arms where the failing rollout has them at ``frame`` (the last rollout pose after its end)?"""
        ref = truth.arms[min(max(frame, 0), len(truth.arms) - 1)]
        d = np.abs(np.asarray(arms) - ref)
        yaw = max(abs(wrap_pi(float(a))) for a in np.asarray(arms)[:, 3] - ref[:, 3])
        return bool(d[:, :3].max() <= TRACK_POS and d[:, 4].max() <= TRACK_GAP and yaw <= TRACK_YAW)

    # ---- frames ----------------------------------------------------------------------------------------------
    def robot_frames(self, frames: Sequence[np.ndarray]) -> tuple[list[int | None], int]:
        return ring_frames(self.robot, frames)

    # ---- the decision ----------------------------------------------------------------------------------------
    def verdict(self, frames: Sequence[np.ndarray]) -> OracleVerdict:
        """Decide what the given frames show (no text); see the module docstring for the rule."""
        robot = self.robot
        with robot._lock:  # frame counter and world state of the same instant (the loop may be stepping)
            mapped, now = self.robot_frames(frames)
            state = robot.world_state
        newest = mapped[-1] if mapped and mapped[-1] is not None else now
        if robot.task.success(state):
            return OracleVerdict("successful", newest, now, mapped, reason="the task is done")
        truth = self.truth(robot.task_id, robot.seed)
        if truth is None:
            return OracleVerdict("running", newest, now, mapped, reason="no failure injected in this episode")
        info = truth.info
        base = {"variant": info["variant"], "failure_type": info["type"]}
        visible = int(info["correct_frame"]) + self.reaction_frames
        if newest < visible:
            return OracleVerdict("running", newest, now, mapped, **base, reason=f"failure visible from frame {visible}")
        if not self.on_plan(truth, state.arms, now):
            return OracleVerdict("running", newest, now, mapped, **base, reason="off the failing plan (recovering)")
        cam = robot.camera_model
        guide = self._robust_guidance(truth, state, now, cam)
        symbols = symbols_to_normalized(guide.symbols, cam.width, cam.height)
        return OracleVerdict(
            "failed", newest, now, mapped, **base, keyframe=len(frames), low_level=guide.low_level, symbols=symbols,
            reason=str(info.get("reason", "")),
        )  # fmt: skip

    def _robust_guidance(self, truth: _Truth, state: WorldState, now: int, cam: Camera) -> Guidance:
        """The correction from ``state``; if it would stop addressing the failure while the robot carries on along
        the failing plan for ``robust_frames`` more frames (the loop acts until the answer is read: a gripper
        opening past the regrasp threshold flips "open" to "close"), the same without its grasp word, if that one
        holds; else the first."""
        candidates = [correction_guidance(truth.task, truth.injection, state, cam)]
        if any(isinstance(s, GripperState) for s in candidates[0].symbols):
            candidates.append(correction_guidance(truth.task, truth.injection, state, cam, with_grasp=False))
        last = len(truth.states) - 1
        ahead = [state] + [truth.states[min(f, last)] for f in range(now + 1, now + self.robust_frames + 1)]
        for guide in candidates:
            command = parse_command(guide.low_level)
            if all(addresses_failure(truth.task, truth.injection, command, s) for s in ahead):
                return guide
        return candidates[0]

    def answer(self, verdict: OracleVerdict) -> str:
        """The official-format text of a verdict."""
        if verdict.status != "failed":
            state = (
                "The provided data indicates the task was completed successfully."
                if verdict.status == "successful"
                else "The task is still in progress and the provided data shows no failure so far."
            )
            return f"<Think>\n{_OK_THINK.format(state=state)}\n</Think>\n<Answer>\n{_OK_ANSWER}\n</Answer>"
        return format_cot_answer(
            success=False,
            keyframe=verdict.keyframe,
            failure_type=verdict.failure_type,
            low_level=verdict.low_level,
            symbols=verdict.symbols,
            mode=self.mode,
        )

    # ---- VLMBackend ------------------------------------------------------------------------------------------
    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        check_frames(frames)
        start = time.perf_counter()
        verdict = self.verdict(frames)
        text = self.answer(verdict)
        self.calls += 1
        self.last = verdict
        if self.delay_s:
            time.sleep(self.delay_s)
        if on_text is not None:
            for line in text.splitlines(keepends=True):
                on_text(line)
        extra = {"oracle": {k: getattr(verdict, k) for k in ("status", "robot_frame", "current_frame", "variant")}}
        return GenerationResult(
            text=text, timings={"generate": time.perf_counter() - start}, model=self.name, extra=extra
        )
