"""The VQA records of one episode, for all 11 task tags (pairs built by :mod:`vifailback_demo.core.vqa_pairs`).

Successful episodes give the two questions that make sense without a failure (detection, and the CoT avoidance
answer "Successful"); failed ones give all 11. Lite records list options and the answer (one of them) and reply
"<letter>. <option>"; Hard records carry the reference answer as the assistant message; CoT answers come from
``format_cot_answer`` with symbols in the model's 0-1000 space. Keyframes are 1-based positions in ``images``.
"""

from __future__ import annotations

import numpy as np

from vifailback_demo.core import vqa_pairs as V
from vifailback_demo.core.commands import swap_words
from vifailback_demo.core.dataset import VQARecord, keyframe_position
from vifailback_demo.core.symbols import symbols_to_normalized
from vifailback_demo.sim.episode import Episode
from vifailback_demo.sim.guidance import Guidance

_SWAPS = (
    ("to the left", "to the right"),
    ("forward", "backward"),
    ("upward", "downward"),
    ("counter-clockwise", "clockwise"),
    ("open the", "close the"),
    ("slightly", "significantly"),
    ("left gripper", "right gripper"),
)


def lowlevel_options(correct: str, rng: np.random.Generator, count: int = 4) -> list[str]:
    """The correct command plus wrong ones made by flipping a direction, rotation, grasp, magnitude or gripper."""
    wrong: list[str] = []
    for a, b in _SWAPS:
        if a in correct or b in correct:
            cand = swap_words(correct, a, b)
            if cand != correct and cand not in wrong:
                wrong.append(cand)
    for a, b in _SWAPS[:3]:
        if len(wrong) >= count - 1:
            break
        extra = swap_words(swap_words(correct, *_SWAPS[6]), a, b)
        if extra != correct and extra not in wrong:
            wrong.append(extra)
    picks = [wrong[i] for i in sorted(rng.choice(len(wrong), size=min(count - 1, len(wrong)), replace=False))]
    options = [correct, *picks]
    rng.shuffle(options)
    return options


def _normalized(ep: Episode, g: Guidance):
    return symbols_to_normalized(g.symbols, ep.camera.width, ep.camera.height)


def episode_records(ep: Episode, images: list[str], rng: np.random.Generator) -> list[VQARecord]:
    task = ep.task.instruction
    records = [V.detection_pair(task, images, ep.success)]
    if ep.success or ep.truth is None:
        records.append(V.cot_pair(task, images, "avoidance", success=True))
        return records
    g = ep.truth
    avoid_pos = keyframe_position(images, "avoid")
    correct_pos = keyframe_position(images, "correct")
    assert avoid_pos is not None and correct_pos is not None, "failed episodes always list both keyframes"
    others = [i for i in range(1, len(images) + 1) if i != avoid_pos]
    picks = [others[i] for i in sorted(rng.choice(len(others), size=min(3, len(others)), replace=False))]
    records += [
        V.keyframe_pair(task, images, V.keyframe_options(avoid_pos, picks), avoid_pos),
        V.subtask_pair(task, images, ep.task.subtasks, g.failed_subtask),
        V.failure_type_pair(task, images, g.failure_type),
        V.lowlevel_pair(
            task, images, "avoidance", lowlevel_options(g.avoidance.low_level, rng), g.avoidance.low_level, avoid_pos
        ),
        V.lowlevel_pair(
            task,
            images,
            "correction",
            lowlevel_options(g.correction.low_level, rng),
            g.correction.low_level,
            correct_pos,
        ),
    ]
    for mode, pos, guide in (("avoidance", avoid_pos, g.avoidance), ("correction", correct_pos, g.correction)):
        records.append(
            V.cot_pair(
                task,
                images,
                mode,
                success=False,
                keyframe=pos,
                failure_type=g.failure_type,
                low_level=guide.low_level,
                symbols=_normalized(ep, guide),
            )
        )
    records.append(V.failure_reason_pair(task, images, g.reason))
    records.append(V.highlevel_pair(task, images, "avoidance", g.high_level_avoidance))
    records.append(V.highlevel_pair(task, images, "correction", g.high_level_correction))
    return records
