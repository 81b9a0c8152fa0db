"""Exact ground truth of a failed episode: keyframes, failure subtask and type, reason, and the avoidance and
correction guidance (low-level sentence, symbols, high-level advice) computed from the world states.

Avoidance is read at the avoid keyframe (what the robot should do instead of the failure act); correction at the
correct keyframe (how to recover from what the failure left behind). Symbols are in pixels of the camera image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifailback_demo.core.symbols import Crosshair, DualCrosshair, Lock, Rewind
from vifailback_demo.sim.camera import Camera
from vifailback_demo.sim.failures import Injection
from vifailback_demo.sim.guidance import Guidance, clamp_point, gripper_command
from vifailback_demo.sim.plan import HOVER_CLEARANCE, grasp_pose, release_pose
from vifailback_demo.sim.tasks import TaskInstance, arm_word
from vifailback_demo.sim.world import WorldState


@dataclass
class GroundTruth:
    avoid_frame: int
    correct_frame: int
    failed_subtask: int
    failure_type: str
    variant: str
    reason: str
    avoidance: Guidance
    correction: Guidance
    high_level_avoidance: str
    high_level_correction: str


def _center(cam: Camera, task: TaskInstance, state: WorldState, i: int) -> tuple[int, int]:
    x, y, z, _ = state.objects[i]
    return clamp_point(cam, cam.project_point((x, y, z + task.specs[i].top * 0.6)))


def compute(task: TaskInstance, inj: Injection, states: list[WorldState], cam: Camera) -> GroundTruth:
    segs = inj.plan.segments
    a, c = segs[inj.avoid_segment].end, segs[inj.correct_segment].end
    sa, sc_ = states[a], states[c]
    stage = task.stages[inj.stage]
    arm, obj, tgt = stage.arm, stage.obj, stage.target
    arm_name = arm_word(arm)
    spec, tspec = task.specs[obj], task.specs[tgt]
    o_name, t_name = spec.name, tspec.name
    v = inj.variant

    def grasp_at(state: WorldState, i: int = obj) -> np.ndarray:
        return grasp_pose(task.specs[i], state.objects[i])

    def hover_at(state: WorldState, i: int = obj) -> np.ndarray:
        p = grasp_at(state, i)
        p[2] = state.objects[i, 2] + task.specs[i].top + HOVER_CLEARANCE
        return p

    def release_at(state: WorldState) -> np.ndarray:
        return release_pose(spec, tspec, state.objects[tgt], float(state.arms[arm, 3]))

    def cmd(state: WorldState, target, **kw) -> Guidance:
        return gripper_command(cam, arm_name, state.arms[arm], target, **kw)

    def regrasp(state: WorldState, **kw) -> Guidance:
        opened = state.arms[arm, 4] > spec.grasp_width + 0.03
        g = cmd(state, grasp_at(state), rotate=spec.yaw_matters, grasp="close" if opened else "open")
        g.symbols.append(Crosshair(_center(cam, task, state, obj)))
        return g

    def to_container(state: WorldState) -> Guidance:
        g = cmd(state, release_at(state))
        g.symbols.append(DualCrosshair(_center(cam, task, state, obj), _center(cam, task, state, tgt)))
        return g

    subtask = task.subtasks[inj.failed_subtask - 1].split(". ", 1)[1].rstrip(".").lower()
    if v in ("no_close", "weak_close"):
        avoid = cmd(sa, None, grasp="close")
        corr = regrasp(sc_)
        how = "did not close" if v == "no_close" else "closed too little to hold it"
        reason = f"While trying to {subtask}, the {arm_name} gripper {how}, so the arm lifted without the {o_name}."
        hl_a = f"Close the {arm_name} gripper firmly on the {o_name} before lifting the {arm_name} arm."
        hl_c = f"Move the {arm_name} arm back down to the {o_name}, grasp it firmly, then continue to the {t_name}."
    elif v in ("offset_x", "offset_y", "offset_z", "wrong_yaw"):
        avoid = cmd(sa, grasp_at(sa), rotate=v == "wrong_yaw")
        avoid.symbols.append(
            DualCrosshair(clamp_point(cam, cam.project_point(sa.arms[arm, :3])), _center(cam, task, sa, obj))
        )
        corr = regrasp(sc_)
        what = {"offset_z": "too high above", "wrong_yaw": "with the wrong orientation for"}.get(v, "beside")
        reason = f"The {arm_name} gripper was aligned {what} the {o_name} and closed on nothing, so the {o_name} was not grasped."
        hl_a = f"Align the {arm_name} gripper precisely with the {o_name} before closing it."
        hl_c = f"Re-align the {arm_name} gripper with the {o_name}, grasp it again, then place it as instructed."
    elif v in ("early_open", "place_offset"):
        avoid = to_container(sa)
        corr = regrasp(sc_)
        where = "on the way to" if v == "early_open" else "beside"
        reason = f"The {arm_name} gripper opened {where} the {t_name}, so the {o_name} fell onto the table instead."
        if v == "early_open":
            hl_a = f"Keep the {arm_name} gripper closed until the {o_name} is right above the {t_name}."
        else:
            hl_a = f"Align the {o_name} with the {t_name} before releasing it."
        hl_c = f"Pick up the {o_name} from the table again and release it only above the {t_name}."
    elif v == "wrong_object":
        wrong = inj.params["wrong_object"]
        w_name = task.specs[wrong].name
        avoid = cmd(sa, hover_at(sa))
        avoid.symbols += [Crosshair(_center(cam, task, sa, obj)), Lock(_center(cam, task, sa, wrong))]
        corr = cmd(sc_, hover_at(sc_))
        corr.symbols += [Rewind(_center(cam, task, sc_, wrong)), Crosshair(_center(cam, task, sc_, obj))]
        reason = f"The robot picked the {w_name} instead of the {o_name}, so the wrong object ended up at the {t_name}."
        hl_a = f"Select the {o_name}, not the {w_name}, as the object to grasp."
        hl_c = f"Return the {w_name} to where it was, then grasp the {o_name} and finish the task."
    elif v == "skipped_subtask":
        avoid = cmd(sa, hover_at(sa))
        avoid.symbols.append(Crosshair(_center(cam, task, sa, obj)))
        corr = cmd(sc_, hover_at(sc_))
        corr.symbols.append(Crosshair(_center(cam, task, sc_, obj)))
        reason = f"The robot skipped approaching and grasping the {o_name} and moved the empty gripper to the {t_name}."
        hl_a = f"Do not skip a subtask: first approach and grasp the {o_name}, then move to the {t_name}."
        hl_c = f"Go back to the skipped subtasks: approach and grasp the {o_name}, then place it at the {t_name}."
    elif v == "wrong_arm":
        wrong = inj.params["wrong_arm"]
        avoid = cmd(sa, hover_at(sa))
        avoid.symbols += [
            Crosshair(_center(cam, task, sa, obj)),
            Lock(clamp_point(cam, cam.project_point(sa.arms[wrong, :3]))),
        ]
        corr = cmd(sc_, hover_at(sc_))
        corr.symbols += [
            Rewind(_center(cam, task, sc_, obj)),
            Lock(clamp_point(cam, cam.project_point(sc_.arms[wrong, :3]))),
        ]
        reason = f"The task asks for the {arm_name} arm, but the {arm_word(wrong)} arm handled the {o_name}."
        hl_a = f"Keep the {arm_word(wrong)} arm still and use the {arm_name} arm to grasp the {o_name}."
        hl_c = f"Put the {o_name} back, keep the {arm_word(wrong)} arm still, and redo the subtask with the {arm_name} arm."
    elif v == "hand_moves_object":
        avoid = cmd(sa, grasp_at(sa), grasp="close")
        avoid.symbols.append(Lock(_center(cam, task, sa, obj)))
        corr = cmd(sc_, hover_at(sc_))
        corr.symbols.append(Crosshair(_center(cam, task, sc_, obj)))
        reason = (
            f"A human hand moved the {o_name} away while the {arm_name} arm was approaching it, so the grasp missed."
        )
        hl_a = f"Grasp the {o_name} quickly while it is still in place, before anyone moves it."
        hl_c = f"Find the {o_name} at its new position, approach it with the {arm_name} arm, and grasp it again."
    elif v in ("hand_takes_object", "hand_moves_container"):
        avoid = to_container(sa)
        moved = obj if v == "hand_takes_object" else tgt
        avoid.symbols.append(Lock(_center(cam, task, sa, moved)))
        if v == "hand_takes_object":
            corr = regrasp(sc_)
            reason = (
                f"A human hand took the {o_name} out of the {arm_name} gripper while it was carried to the {t_name}."
            )
            hl_c = f"Pick up the {o_name} again from where the person put it and carry it to the {t_name}."
        else:
            corr = to_container(sc_)
            reason = f"A human hand moved the {t_name} while the {arm_name} arm was carrying the {o_name} to it."
            hl_c = f"Move the {arm_name} arm to the {t_name}'s new position and release the {o_name} there."
        hl_a = f"Move the {o_name} to the {t_name} quickly and keep it held firmly while a person is near."
    else:
        raise ValueError(f"unknown variant {v!r}")
    return GroundTruth(a, c, inj.failed_subtask, inj.failure_type, v, reason, avoid, corr, hl_a, hl_c)
