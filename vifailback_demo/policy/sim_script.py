"""Injected failures of the built-in policy: the dataset's failing plans, replayed frame by frame, and the check
of whether a low-level correction addresses the failure.

A failing episode runs the exact plan that ``sim/failures.py`` makes for the dataset (all four failure types and
their variants), keyed by world frame: the action row for frame ``f`` is the command that moves the dataset's
rollout from frame ``f`` to ``f + 1``, and the human hand of intervention failures comes as ``"sim/hand"`` rows
(format: ``robot/sim_robot.HAND_ROW``). Executed row by row from the episode's first frame, the robot therefore
passes through the dataset's states, and the failure's keyframes (``avoid_frame``: just before the failure act;
``correct_frame``: the failure is visible) are exact. The policy carries on blindly, like the dataset's episodes.

External corrections (a motion controller, a teleoperator, a person pushing the arm): :func:`external_commands`
compares the observed arms with where the policy's own last chunk would have put them after any number of its rows
(:func:`predict_arms` replays the chunk in a copy of the world, so a pause or a partly executed chunk is not a
deviation). An arm more than ``EXTERNAL_POS`` / ``EXTERNAL_YAW`` / ``EXTERNAL_GAP`` off every such pose was moved by
someone else; that displacement is written as the low-level command that describes it (axes moved at least
``MIN_MOVE``, a rotation of at least ``MIN_ROTATE``, "open"/"close" for a gap change) and judged by
:func:`addresses_failure` from the pose it started at, exactly like a typed command.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vifailback_demo.core.commands import AXIS_OF_DIRECTION, LowLevelCommand, format_command, parse_command
from vifailback_demo.errors import PolicyError
from vifailback_demo.robot.sim_robot import HAND_ROW, apply_hand_row
from vifailback_demo.sim.camera import Camera
from vifailback_demo.sim.failures import TYPE_OF_VARIANT, VARIANTS, Injection, inject
from vifailback_demo.sim.groundtruth import compute
from vifailback_demo.sim.guidance import MIN_MOVE, MIN_ROTATE
from vifailback_demo.sim.plan import HOVER_CLEARANCE, grasp_pose, interpolate, release_pose, smoothstep
from vifailback_demo.sim.rollout import HAND_CARRY, HAND_REACH, hand_pose
from vifailback_demo.sim.tasks import TaskInstance, arm_word
from vifailback_demo.sim.world import (
    HOME,
    LEFT,
    MAX_STEP_GAP,
    MAX_STEP_POS,
    MAX_STEP_YAW,
    RIGHT,
    World,
    WorldState,
    wrap_pi,
)

ALL_VARIANTS: tuple[str, ...] = tuple(TYPE_OF_VARIANT)
#: Variants whose correction is "grasp the object again" / "go back above the object" / "release over the target".
_REGRASP = {"no_close", "weak_close", "offset_x", "offset_y", "offset_z", "wrong_yaw", "early_open", "place_offset"}
_REGRASP.add("hand_takes_object")
_HOVER = {"wrong_object", "skipped_subtask", "wrong_arm", "hand_moves_object"}
_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
_DIRECTION_OF_AXIS = {(0, 1): "forward", (0, -1): "backward", (1, 1): "left", (1, -1): "right"}
_DIRECTION_OF_AXIS.update({(2, 1): "upward", (2, -1): "downward"})
#: An arm farther than this from every pose its own chunk could have produced was moved by someone else
#: (metres, radians, finger gap in metres).
EXTERNAL_POS, EXTERNAL_YAW, EXTERNAL_GAP = 0.01, 0.1, 0.005


@dataclass
class FailureScript:
    injection: Injection
    commands: np.ndarray  # (T, 10): row f moves the world from frame f to frame f + 1
    hand: np.ndarray  # (T, 6): the hand row applied before that step (NaN: no hand)
    avoid_frame: int
    correct_frame: int
    info: dict[str, Any]  # msgpack-friendly summary (variant, type, keyframes, ground-truth correction ...)

    def rows(self, frame: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions and hand rows for frames ``frame .. frame + horizon - 1``; past the end, hold the last command."""
        idx = np.clip(np.arange(frame, frame + horizon), 0, len(self.commands) - 1)
        hand = self.hand[idx].copy()
        hand[np.arange(frame, frame + horizon) >= len(self.hand)] = np.nan
        return self.commands[idx].copy(), hand

    def hand_rows(self, frame: int, horizon: int) -> np.ndarray:
        return self.rows(frame, horizon)[1]


def decide_variant(
    task: TaskInstance, policy_seed: int, sim_seed: int, failure_rate: float, variants: Sequence[str]
) -> tuple[str | None, np.random.Generator]:
    """Whether this episode fails and how: deterministic in (policy seed, sim seed, task). Failure types are
    uniform (over those with an allowed variant), then variants within the type, as in the dataset."""
    rng = np.random.default_rng([int(policy_seed), int(sim_seed), zlib.crc32(task.task_id.encode())])
    if rng.random() >= failure_rate:
        return None, rng
    allowed = set(variants)
    if any(not task.specs[s.obj].yaw_matters for s in task.stages):
        allowed.discard("wrong_yaw")  # a round object has no wrong orientation
    by_type = {t: [v for v in vs if v in allowed] for t, vs in VARIANTS.items()}
    types = [t for t, vs in by_type.items() if vs]
    if not types:
        return None, rng
    options = by_type[str(rng.choice(types))]
    return str(rng.choice(options)), rng


def build_script(task: TaskInstance, variant: str, rng: np.random.Generator, camera: Camera) -> FailureScript:
    """The failing plan of ``variant`` run through a world exactly as the robot will run it (same hand rows)."""
    inj = inject(task, variant, rng)
    world = World(task.specs, task.layout)
    states = [world.state.copy()]
    commands: list[np.ndarray] = []
    hands: list[np.ndarray] = []
    command = HOME.copy()
    for seg in inj.plan.segments:
        seg.start = len(states)
        begin = command.copy()
        begin[:, 4] = world.state.arms[:, 4]  # as rollout(): fingers blocked by a held object start from there
        grab_at = None
        for k in range(1, seg.frames + 1):
            t = k / seg.frames
            if seg.arm is not None and seg.target is not None:
                command[seg.arm] = interpolate(begin[seg.arm], seg.target, smoothstep(t))
            row = np.full(len(HAND_ROW), np.nan)
            if seg.hand is not None and k < seg.frames:  # the last frame of a hand script hides the hand
                obj = seg.hand.obj
                if grab_at is None:
                    grab_at = world.state.objects[obj, :3].copy()
                pose, _ = hand_pose(seg.hand, t, grab_at, task.specs[obj].top)
                row = np.r_[pose, obj if HAND_REACH <= t < HAND_CARRY else -1]
            apply_hand_row(world, row)
            world.step(command)
            states.append(world.state.copy())
            commands.append(command.reshape(-1).copy())
            hands.append(row)
        seg.end = len(states) - 1
    truth = compute(task, inj, states, camera)
    info = {
        "variant": variant,
        "type": inj.failure_type,
        "stage": inj.stage,
        "subtask": inj.failed_subtask,
        "avoid_frame": truth.avoid_frame,
        "start_frame": truth.avoid_frame + 1,
        "correct_frame": truth.correct_frame,
        "correction": truth.correction.low_level,
        "high_level_correction": truth.high_level_correction,
        "reason": truth.reason,
    }
    return FailureScript(inj, np.array(commands), np.array(hands), truth.avoid_frame, truth.correct_frame, info)


def correction_goal(task: TaskInstance, inj: Injection, state: WorldState) -> tuple[int, np.ndarray, str | None]:
    """Where the failed stage's arm should go now to recover (as the ground truth's correction, but read from the
    current state): (arm, pose, grasp word or None)."""
    stage = task.stages[inj.stage]
    arm, obj, spec = stage.arm, stage.obj, task.specs[stage.obj]
    if inj.variant in _REGRASP:
        grasp = "close" if state.arms[arm, 4] > spec.grasp_width + 0.03 else "open"
        return arm, grasp_pose(spec, state.objects[obj]), grasp
    if inj.variant in _HOVER:
        hover = grasp_pose(spec, state.objects[obj])
        hover[2] = state.objects[obj, 2] + spec.top + HOVER_CLEARANCE
        return arm, hover, None
    if inj.variant == "hand_moves_container":
        target = task.specs[stage.target]
        return arm, release_pose(spec, target, state.objects[stage.target], float(state.arms[arm, 3])), None
    raise PolicyError(f"no correction known for failure variant {inj.variant!r}")


def addresses_failure(task: TaskInstance, inj: Injection, command: LowLevelCommand, state: WorldState) -> bool:
    """Does ``command`` point the right gripper the right way? At least one move must make real progress toward
    the recovery pose and none may go the wrong way along an axis that needs moving; a rotation or grasp word must
    not contradict what is needed. Already there, a matching grasp or rotation alone is enough."""
    arm, goal, grasp = correction_goal(task, inj, state)
    if command.gripper != f"{arm_word(arm)} gripper":
        return False
    delta = goal[:3] - state.arms[arm, :3]
    progress = False
    for direction, _ in command.moves:
        axis, sign = AXIS_OF_DIRECTION[direction]
        along = sign * float(delta[_AXIS_INDEX[axis]])
        if along <= -MIN_MOVE:
            return False
        progress = progress or along >= MIN_MOVE
    if grasp is not None and command.grasp is not None and command.grasp != grasp:
        return False
    dyaw = wrap_pi(float(goal[3] - state.arms[arm, 3]))
    rotation_ok = abs(dyaw) >= MIN_ROTATE and command.rotation == ("counter-clockwise" if dyaw > 0 else "clockwise")
    if command.rotation is not None and abs(dyaw) >= MIN_ROTATE and not rotation_ok:
        return False
    if np.max(np.abs(delta)) >= MIN_MOVE:
        return progress
    return grasp is None or command.grasp == grasp or rotation_ok


def _world_at(task: TaskInstance, state: WorldState) -> World:
    """A world in ``state``, held objects attached with their current offsets."""
    world = World(task.specs, task.layout)
    world.state = state.copy()
    for obj in np.flatnonzero(state.holder != -1):
        holder = int(state.holder[obj])
        world.state.holder[obj] = -1
        world._attach(int(obj), holder)  # recomputes the grip offset from the poses as they are now
    return world


def predict_arms(task: TaskInstance, state: WorldState, actions: np.ndarray, hand: np.ndarray, rows: int) -> np.ndarray:
    """Arm poses (rows + 1, 2, 5) after executing 0 .. ``rows`` rows of a chunk from ``state``, as the robot would."""
    world = _world_at(task, state)
    out = [world.state.arms.copy()]
    for i in range(min(int(rows), len(actions))):
        apply_hand_row(world, hand[i])
        world.step(np.asarray(actions[i], dtype=np.float64).reshape(2, 5))
        out.append(world.state.arms.copy())
    return np.array(out)


def displacement_command(arm: int, delta: np.ndarray) -> LowLevelCommand | None:
    """The low-level command that describes moving ``arm`` by ``delta`` (x, y, z, yaw, gap), or None if too small."""
    moves = [
        (_DIRECTION_OF_AXIS[(a, 1 if delta[a] > 0 else -1)], "significantly" if abs(delta[a]) >= 0.05 else "slightly")
        for a in sorted(range(3), key=lambda a: -abs(delta[a]))
        if abs(delta[a]) >= MIN_MOVE
    ]
    dyaw = wrap_pi(float(delta[3]))
    rotation = None if abs(dyaw) < MIN_ROTATE else ("counter-clockwise" if dyaw > 0 else "clockwise")
    grasp = None if abs(delta[4]) < EXTERNAL_GAP else ("open" if delta[4] > 0 else "close")
    if not (moves or rotation or grasp):
        return None
    return parse_command(format_command(f"{arm_word(arm)} gripper", moves, rotation, grasp))


def _frames_needed(dev: np.ndarray) -> np.ndarray:
    """Fewest world frames that could produce each deviation (..., 2, 5) under the arms' speed limits."""
    pos = np.linalg.norm(dev[..., :3], axis=-1) / MAX_STEP_POS
    yaw = np.abs((dev[..., 3] + np.pi) % (2 * np.pi) - np.pi) / MAX_STEP_YAW
    gap = np.abs(dev[..., 4]) / MAX_STEP_GAP
    return np.ceil(np.max(np.maximum(np.maximum(pos, yaw), gap), axis=-1) - 1e-9)


def external_commands(
    observed: WorldState, predicted: np.ndarray, elapsed: int
) -> list[tuple[LowLevelCommand, WorldState]]:
    """Displacements by someone else since the policy's last chunk, as (command, state it started from).

    ``predicted`` is :func:`predict_arms` after 0 .. R of its rows; ``elapsed`` the world frames since then. []
    when the arms sit on (within the tolerances of) a pose the chunk itself could have produced. Otherwise the
    states alone do not say how many of its rows ran before the other mover took over, so the displacement is read
    from two starting poses: the nearest one (the smallest displacement that explains the observation) and the
    latest one from which the arms could still have reached where they are in the frames left (the client ran its
    rows first). The nearest alone misreads a correction that retraces the chunk's own path (moving back down after
    a lift reads as no move); the latest alone adds the chunk's unexecuted motion, reversed, to the correction."""
    dev = observed.arms[None] - predicted
    pos = np.linalg.norm(dev[..., :3], axis=-1)
    yaw = np.abs((dev[..., 3] + np.pi) % (2 * np.pi) - np.pi)
    gap = np.abs(dev[..., 4])
    ok = (pos <= EXTERNAL_POS) & (yaw <= EXTERNAL_YAW) & (gap <= EXTERNAL_GAP)
    if np.any(np.all(ok, axis=1)):
        return []
    starts = [int(np.argmin((pos / EXTERNAL_POS + yaw / EXTERNAL_YAW + gap / EXTERNAL_GAP).sum(axis=1)))]
    feasible = np.flatnonzero(_frames_needed(dev) <= int(elapsed) - np.arange(len(predicted)))
    if feasible.size and int(feasible[-1]) != starts[0]:
        starts.append(int(feasible[-1]))
    out = []
    for r in starts:
        for arm in (LEFT, RIGHT):
            if ok[r, arm]:
                continue
            command = displacement_command(arm, dev[r, arm])
            if command is not None:
                before = observed.copy()
                before.arms = predicted[r].copy()
                out.append((command, before))
    return out
