"""The built-in policy of the simulated robot: the scripted expert as a chunked policy that fails like the dataset
and follows low-level commands.

Observation: ``{"state": [10], "images": {...}, "prompt": str}`` plus the ``"sim/..."`` keys of
:meth:`SimRobot.policy_extras` (the exact world state; images are not looked at). Reply: ``{"actions": [chunk, 10],
"sim/hand": [chunk, 6], "sim/mode": ..., "sim/failure": {...} | None, "policy_timing": {"infer_ms": ...}}``.

What it does depends on the prompt and on the episode (tracked by task, sim seed and frame; a frame that goes back
means the robot was reset):

* a low-level command naming a gripper and a move, rotation or grasp ("Move the right gripper to the left
  significantly") -> ``"command"``: a motion primitive of that gripper along the robot axes (forward/backward = x,
  left/right = y, up/down = z; "slightly" / "significantly" = ``slight`` / ``significant`` metres, a rotation =
  ``rotate`` radians, clockwise seen from above = yaw down), then a grasp, then hold. Asking again with the same
  command keeps the same goal (it does not move again).
* any other prompt is the task. An episode drawn to fail (rate ``failure_rate``, see ``sim_script.decide_variant``)
  replays the dataset's failing plan (``"failing"``) and never recovers by itself. A command that addresses the
  failure (``sim_script.addresses_failure``; every command when ``check_corrections`` is off) corrects it: from then
  on the task prompt runs the closed-loop expert (``"expert"``), which re-plans from the world state, so a right
  correction lets the task succeed and a wrong one does not. Episodes without a failure always run the expert.

External corrections: a failing episode is also corrected when someone else moves the arm the right way (the
live supervisor's point-based executor drives the robot directly and never sends a prompt; a teleoperator or a
person pushing the arm would too). At each task-prompt call in failing mode the policy compares the observed arms
with where its own last chunk would have put them after any number of its rows (a pause, a partly executed chunk
or a hold is therefore no deviation); an arm more than 1 cm / 0.1 rad / 5 mm of finger gap off every such pose
was moved by someone else (``sim_script.external_commands``). The displacement is written as the command that
describes it ("Move the right gripper downward significantly, and close the right gripper") and judged from the
pose it started at exactly like a prompt (the states alone do not tell how many of the policy's rows ran first, so
it is judged from the nearest and from the latest possible starting pose, and either may cancel the failure): the
failed stage's gripper, no axis moved the wrong way, real progress toward the recovery pose, no contradicting
rotation or grasp (``addresses_failure``; any displacement counts when ``check_corrections`` is off). If it addresses the failure, the failure is cancelled and the closed-loop expert
re-plans from the world as it is; if not, the failing plan carries on. ``sim/failure`` tells which happened
(``corrected_by``: ``"command"`` | ``"external"`` | None, and the judged ``external`` command).

A human hand that has started its script keeps going whatever the prompt (the person is not the robot's to stop).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vifailback_demo.core.commands import AXIS_OF_DIRECTION, LowLevelCommand, parse_command
from vifailback_demo.errors import PolicyError
from vifailback_demo.policy.sim_expert import Move, expert_chunk, move_frames, sample_moves
from vifailback_demo.policy.sim_script import (
    ALL_VARIANTS,
    FailureScript,
    addresses_failure,
    build_script,
    decide_variant,
    external_commands,
    predict_arms,
)
from vifailback_demo.robot.sim_robot import HAND_ROW, STATE_NAMES, build_scene
from vifailback_demo.sim.tasks import TaskInstance
from vifailback_demo.sim.world import LEFT, MAX_GAP, RIGHT, WorldState

POLICY_NAME = "vifailback-sim-expert"
ACTION_DIM = len(STATE_NAMES)
_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
#: Episodes whose task and failure script are kept (a script costs a few tens of milliseconds to build).
_CACHE_SIZE = 32


@dataclass
class _Episode:
    key: tuple[str, int]
    task: TaskInstance
    script: FailureScript | None
    frame: int = -1
    corrected: bool = False
    command: tuple[str, int, np.ndarray, str | None] | None = None  # prompt, arm, goal pose (5), grasp
    mode: str = ""
    corrected_by: str | None = None  # "command" | "external"
    external: str | None = None  # the displacement that was judged last, as a command
    #: The last reply's start: (frame, observed state, actions, hand rows), to tell own motion from someone else's.
    last: tuple[int, WorldState, np.ndarray, np.ndarray] | None = None


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


class SimPolicy:
    """The synthetic world's expert as a policy; see the module docstring for prompts, failures and corrections."""

    def __init__(
        self,
        chunk: int = 50,
        failure_rate: float = 0.0,
        seed: int = 0,
        *,
        variants: Sequence[str] | None = None,
        slight: float = 0.03,
        significant: float = 0.08,
        rotate: float = 0.5,
        check_corrections: bool = True,
    ) -> None:
        if chunk < 1:
            raise PolicyError(f"chunk must be at least 1 action, got {chunk}")
        if not 0.0 <= failure_rate <= 1.0:
            raise PolicyError(f"failure_rate must be between 0 and 1, got {failure_rate}")
        unknown = sorted(set(variants or ()) - set(ALL_VARIANTS))
        if unknown or (variants is not None and not variants):
            raise PolicyError(f"variants must be a non-empty subset of {list(ALL_VARIANTS)}; unknown: {unknown}")
        if not 0 < slight <= significant or rotate <= 0:
            raise PolicyError(f"need 0 < slight <= significant and rotate > 0, got {slight}, {significant}, {rotate}")
        self.chunk, self.failure_rate, self.seed = int(chunk), float(failure_rate), int(seed)
        self.variants = tuple(variants or ALL_VARIANTS)
        self.slight, self.significant, self.rotate = float(slight), float(significant), float(rotate)
        self.check_corrections = check_corrections
        self._cache: dict[tuple[str, int], tuple[TaskInstance, FailureScript | None]] = {}
        self._episode: _Episode | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "policy": POLICY_NAME,
            "action_dim": ACTION_DIM,
            "action_names": list(STATE_NAMES),
            "chunk": self.chunk,
            "failure_rate": self.failure_rate,
            "seed": self.seed,
        }

    def reset(self) -> None:
        """Forget the current episode (its corrections and command); the next infer starts it afresh."""
        self._episode = None

    # ---- episodes --------------------------------------------------------------------------------------------
    def _scene(self, task_id: str | None, sim_seed: int) -> tuple[TaskInstance, FailureScript | None]:
        task, camera, _ = build_scene(task_id, sim_seed, 640, 480)
        key = (task.task_id, int(sim_seed))
        if key not in self._cache:
            variant, rng = decide_variant(task, self.seed, sim_seed, self.failure_rate, self.variants)
            script = None if variant is None else build_script(task, variant, rng, camera)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (task, script)
        return self._cache[key]

    def episode_info(self, sim_seed: int, task: str | None = None) -> dict[str, Any] | None:
        """The failure this policy injects into episode ``(task, sim_seed)`` (task None: drawn from the seed, as
        ``SimRobot``), or None: variant, type, stage, subtask, avoid/start/correct frames, ground-truth correction."""
        _, script = self._scene(task, sim_seed)
        return None if script is None else dict(script.info)

    def _episode_for(self, task_id: str, sim_seed: int, frame: int) -> _Episode:
        ep = self._episode
        if ep is None or ep.key != (task_id, sim_seed) or frame < ep.frame:
            task, script = self._scene(task_id, sim_seed)
            ep = self._episode = _Episode((task_id, sim_seed), task, script)
        ep.frame = frame
        return ep

    # ---- inference -------------------------------------------------------------------------------------------
    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        task_id, sim_seed, frame, state = _read_sim_keys(observation)
        ep = self._episode_for(task_id, sim_seed, frame)
        if state.objects.shape[0] != len(ep.task.specs):
            raise PolicyError(
                f"observation has {state.objects.shape[0]} objects but task {task_id!r} with seed {sim_seed} has "
                f"{len(ep.task.specs)}; is it from the simulated robot?"
            )
        prompt = observation.get("prompt")
        prompt = prompt if isinstance(prompt, str) and prompt.strip() else ep.task.instruction
        command = self._as_command(prompt, ep.task)
        if command is None and ep.script is not None and not ep.corrected:
            self._judge_external(ep, frame, state)
        hand = np.full((self.chunk, len(HAND_ROW)), np.nan)
        if command is not None:
            actions = self._command_chunk(ep, prompt, command, state)
            mode = "command"
        elif ep.script is not None and not ep.corrected:
            actions, hand = ep.script.rows(frame, self.chunk)
            mode = "failing"
        else:
            actions = expert_chunk(ep.task, state, self.chunk)
            mode = "expert"
        if mode != "failing" and ep.script is not None and state.hand[0] > 0:
            hand = ep.script.hand_rows(frame, self.chunk)  # a hand already in the scene finishes its script
        ep.mode = mode
        ep.last = (frame, state, np.array(actions, dtype=np.float64), np.array(hand, dtype=np.float64))
        failure = None
        if ep.script is not None:
            failure = {
                **ep.script.info,
                "corrected": ep.corrected,
                "corrected_by": ep.corrected_by,
                "external": ep.external,
            }
        return {
            "actions": np.ascontiguousarray(actions, dtype=np.float64),
            "sim/hand": hand,
            "sim/mode": mode,
            "sim/failure": failure,
            "policy_timing": {"infer_ms": (time.perf_counter() - started) * 1000.0},
        }

    def _as_command(self, prompt: str, task: TaskInstance) -> LowLevelCommand | None:
        if _norm(prompt) == _norm(task.instruction):
            return None
        command = parse_command(prompt)
        return None if command.gripper is None or command.empty else command

    def _judge_external(self, ep: _Episode, frame: int, state: WorldState) -> None:
        """Cancel the failure if someone else moved an arm since the last chunk in a way that addresses it."""
        if ep.last is None or ep.script is None:
            return
        last_frame, last_state, actions, hand = ep.last
        rows = min(frame - last_frame, len(actions))
        if rows < 0:
            return
        predicted = predict_arms(ep.task, last_state, actions, hand, rows)
        for command, before in external_commands(state, predicted, frame - last_frame):
            ep.external = command.format()
            if not self.check_corrections or addresses_failure(ep.task, ep.script.injection, command, before):
                ep.corrected, ep.corrected_by = True, "external"
                return

    def _command_chunk(self, ep: _Episode, prompt: str, command: LowLevelCommand, state: WorldState) -> np.ndarray:
        if ep.mode != "command" or ep.command is None or ep.command[0] != prompt:  # a new command, not a re-ask
            arm = LEFT if command.gripper == "left gripper" else RIGHT
            goal = state.arms[arm].copy()
            for direction, magnitude in command.moves:
                axis, sign = AXIS_OF_DIRECTION[direction]
                goal[_AXIS_INDEX[axis]] += sign * (self.significant if magnitude == "significantly" else self.slight)
            if command.rotation is not None:
                # Yaw grows counter-clockwise seen from above (sim/guidance.py), so clockwise turns it down.
                goal[3] += self.rotate if command.rotation == "counter-clockwise" else -self.rotate
            ep.command = (prompt, arm, goal, command.grasp)
            if ep.script is not None and not ep.corrected:
                ep.corrected = not self.check_corrections or addresses_failure(
                    ep.task, ep.script.injection, command, state
                )
                ep.corrected_by = "command" if ep.corrected else None
        _, arm, goal, grasp = ep.command
        # Move with the fingers as they are now (a held object stays held), then grasp.
        target = goal.copy()
        target[4] = state.arms[arm, 4]
        moves = [Move("command", arm, target, move_frames(state.arms[arm], target, 6))]
        if grasp is not None:
            final = target.copy()
            final[4] = MAX_GAP if grasp == "open" else 0.0
            moves.append(Move("grasp", arm, final, move_frames(target, final, 10)))
        return sample_moves(state.arms, moves, self.chunk)


def _read_sim_keys(obs: dict[str, Any]) -> tuple[str, int, int, WorldState]:
    """Task id, sim seed, frame and exact world state from the observation's ``"sim/..."`` keys."""
    try:
        task_id, seed, frame = str(obs["sim/task"]), int(obs["sim/seed"]), int(obs["sim/frame"])
        # Copies: decoded wire arrays are read-only views of the received frame.
        arms = np.array(obs["sim/arms"], dtype=np.float64).reshape(2, 5)
        objects = np.array(obs["sim/objects"], dtype=np.float64).reshape(-1, 4)
        n = objects.shape[0]
        ints = [np.array(obs[k], dtype=np.int64).reshape(n) for k in ("sim/support", "sim/holder", "sim/last_holder")]
        hand = np.array(obs["sim/hand_state"], dtype=np.float64).reshape(6)
    except KeyError as exc:
        raise PolicyError(
            f"the sim policy needs the simulated robot's state keys (SimRobot.policy_extras()); missing {exc.args[0]!r}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"the sim policy got malformed 'sim/...' observation keys: {exc}") from None
    if not (np.all(np.isfinite(arms)) and np.all(np.isfinite(objects))):
        raise PolicyError("the sim policy got non-finite arm or object poses")
    return task_id, seed, frame, WorldState(arms, objects, *ints, hand)
