"""The VQA records of one episode, for all 11 task tags (prompts from ``core/prompts.py``).

Successful episodes give the two questions that make sense without a failure (detection, and the CoT avoidance
answer "Successful"); failed ones give all 11. Lite records list options and the answer (one of them) and reply
"<letter>. <option>"; Hard records carry the reference answer as the assistant message; CoT answers come from
``format_cot_answer`` with symbols in the model's 0-1000 space. Keyframes are 1-based positions in ``images``.
"""

from __future__ import annotations

import numpy as np

from vifailback_demo.core import prompts as P
from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer
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
    records = [
        VQARecord.lite(
            P.TAG_FAILURE_DETECTION, task, images, ["Successful", "Failed"], "Successful" if ep.success else "Failed"
        )
    ]
    if ep.success or ep.truth is None:
        cot = format_cot_answer(success=True)
        records.append(VQARecord.build(P.hard_prompt(P.TAG_COT_AVOIDANCE, task), cot, images, P.TAG_COT_AVOIDANCE))
        return records
    g = ep.truth
    avoid_pos = keyframe_position(images, "avoid")
    correct_pos = keyframe_position(images, "correct")
    assert avoid_pos is not None and correct_pos is not None, "failed episodes always list both keyframes"
    n = len(images)
    others = [str(i) for i in range(1, n + 1) if i != avoid_pos]
    kf_opts = [
        str(avoid_pos),
        *(others[i] for i in sorted(rng.choice(len(others), size=min(3, len(others)), replace=False))),
    ]
    kf_opts.sort(key=int)
    subtasks = ep.task.subtasks
    records += [
        VQARecord.lite(P.TAG_KEYFRAME, task, images, kf_opts, str(avoid_pos)),
        VQARecord.lite(P.TAG_SUBTASK, task, images, subtasks, subtasks[g.failed_subtask - 1], subtasks=subtasks),
        VQARecord.lite(P.TAG_FAILURE_TYPE, task, images, list(FAILURE_TYPES), g.failure_type),
        VQARecord.lite(
            P.TAG_LOWLEVEL_AVOIDANCE,
            task,
            images,
            lowlevel_options(g.avoidance.low_level, rng),
            g.avoidance.low_level,
            keyframe=avoid_pos,
        ),
        VQARecord.lite(
            P.TAG_LOWLEVEL_CORRECTION,
            task,
            images,
            lowlevel_options(g.correction.low_level, rng),
            g.correction.low_level,
            keyframe=correct_pos,
        ),
    ]
    for mode, pos, guide in (("avoidance", avoid_pos, g.avoidance), ("correction", correct_pos, g.correction)):
        answer = format_cot_answer(
            success=False,
            keyframe=pos,
            failure_type=g.failure_type,
            low_level=guide.low_level,
            symbols=_normalized(ep, guide),
            mode=mode,
        )
        tag = P.COT_TAGS[mode]
        records.append(VQARecord.build(P.hard_prompt(tag, task), answer, images, tag))
    for tag, text in (
        (P.TAG_FAILURE_REASON, g.reason),
        (P.TAG_HIGHLEVEL_AVOIDANCE, g.high_level_avoidance),
        (P.TAG_HIGHLEVEL_CORRECTION, g.high_level_correction),
    ):
        records.append(VQARecord.build(P.hard_prompt(tag, task), text, images, tag))
    return records
