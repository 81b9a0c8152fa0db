"""Prompt builders for the 11 ViFailback-Bench task types (one module owns every prompt).

The chain-of-thought avoidance prompt is the official one (``reference/example_vifailback_infer.json``), word for
word; the correction variant changes only what the keyframe and the command mean. Only the tag
``cot_avoidance_code_qa`` is public; the other tags and their wording are this project's and
must stay stable, because VQA files, the tiny model and the bench are built from them. Snapshot tests pin them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Mode = Literal["avoidance", "correction"]
MODES: tuple[str, ...] = ("avoidance", "correction")

TAG_COT_AVOIDANCE = "cot_avoidance_code_qa"
TAG_COT_CORRECTION = "cot_correction_code_qa"
TAG_FAILURE_REASON = "failure_reason_qa"
TAG_HIGHLEVEL_AVOIDANCE = "highlevel_avoidance_qa"
TAG_HIGHLEVEL_CORRECTION = "highlevel_correction_qa"
TAG_FAILURE_DETECTION = "failure_detection_qa"
TAG_KEYFRAME = "keyframe_localization_qa"
TAG_SUBTASK = "subtask_localization_qa"
TAG_FAILURE_TYPE = "failure_type_qa"
TAG_LOWLEVEL_AVOIDANCE = "lowlevel_avoidance_qa"
TAG_LOWLEVEL_CORRECTION = "lowlevel_correction_qa"

LITE_TAGS: tuple[str, ...] = (
    TAG_FAILURE_DETECTION,
    TAG_KEYFRAME,
    TAG_SUBTASK,
    TAG_FAILURE_TYPE,
    TAG_LOWLEVEL_AVOIDANCE,
    TAG_LOWLEVEL_CORRECTION,
)
HARD_TAGS: tuple[str, ...] = (
    TAG_COT_AVOIDANCE,
    TAG_COT_CORRECTION,
    TAG_FAILURE_REASON,
    TAG_HIGHLEVEL_AVOIDANCE,
    TAG_HIGHLEVEL_CORRECTION,
)
ALL_TAGS: tuple[str, ...] = LITE_TAGS + HARD_TAGS
COT_TAGS: dict[str, str] = {"avoidance": TAG_COT_AVOIDANCE, "correction": TAG_COT_CORRECTION}

FAILURE_TYPE_DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "gripper state",
        "The gripper does not close or open properly or its level of closure or opening is insufficient.",
    ),
    ("gripper 6d-pose", "The end-effector fails to reach its correct position or orientation."),
    ("task planning", "A subtask is skipped or the wrong target object is selected."),
    ("human intervention", "Human interference makes the task impossible to complete."),
)

IMAGE_TOKEN = "<image>"

_INTRO = (
    "These images are captured by the head camera of the dual-arm robot in chronological order.\n"
    "The task is to: '{task}'.\n\n"
)

_COT_STEPS = {
    "avoidance": (
        "2. If the task execution is failed, perform **Failure Localization**: Identify the numerical position(1-N) "
        "of the key image frame just before the failure began.\n",
        "4. Then, provide a **Low-Level Avoidance Command**: This command must be a clear natural language "
        "instruction to help the robot avoid the failure. It must include the following elements:\n",
    ),
    "correction": (
        "2. If the task execution is failed, perform **Failure Localization**: Identify the numerical position(1-N) "
        "of the key image frame from which the robot should start to correct the failure.\n",
        "4. Then, provide a **Low-Level Correction Command**: This command must be a clear natural language "
        "instruction to help the robot correct the failure. It must include the following elements:\n",
    ),
}


def _failure_type_lines() -> str:
    return "".join(f"   - '{name}': {text}\n" for name, text in FAILURE_TYPE_DEFINITIONS)


def _check_task(task: str) -> str:
    task = (task or "").strip()
    if not task:
        raise ValueError("task instruction is empty; expected a sentence like 'Use the right arm to ...'")
    return task


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    return mode


def cot_prompt(task: str, mode: str = "avoidance") -> str:
    """The chain-of-thought + symbol-code prompt (Hard tasks 7 and 8), without image tokens."""
    task, mode = _check_task(task), _check_mode(mode)
    step2, step4 = _COT_STEPS[mode]
    return (
        _INTRO.format(task=task) + "Please provide a complete analysis of the robot's execution.\n\n"
        "Your analysis should follow these steps in your reasoning:\n"
        "1. First, determine if the task was completed successfully (Your answer must be only one of the three "
        "options: ['Successful' or 'Failed']).\n"
        + step2
        + "3. Next, perform **Failure Classification**: Choose one of the following failure types. The types are "
        "defined as follows:\n"
        + _failure_type_lines()
        + step4
        + "   - **Target Gripper**: Specify either 'left gripper' or 'right gripper'.\n"
        "   - **Specific Action**: Choose one or more from:\n"
        "     - Move: Direction must be one of [upward, downward, left, right, forward, backward], optionally with a "
        "magnitude [slightly, significantly].\n"
        "     - Rotate: Direction must be one of [clockwise, counter-clockwise].\n"
        "     - Grasp: State must be one of [open, close].\n"
        "5. Finally, generate the **Visual Prompt Instructions** based on the low-level command.\n\n"
        "When generating the visual prompts, you must follow these drawing rules:\n"
        "1. Use **Straight Arrows** to indicate movement direction:\n"
        "   - The color indicates which axis the movement is related to: Red for x-axis, green for y-axis, and blue "
        "for z-axis.\n"
        "   - The spatial orientation of the arrow indicates positive/negative direction.\n"
        "   - Arrows with multiple color segments mean movement along multiple axes.\n"
        "2. Use **Rotating Arrows** to indicate rotation direction.\n"
        "3. Use **ON/OFF** text to indicate the gripper state ('ON' for open, 'OFF' for close).\n"
        "4. Use **Dual Crosshairs** to indicate that the object at the first crosshair should be aligned with the "
        "position of the second crosshair.\n"
        "5. Use a **Crosshair** to indicate the correct target object.\n"
        "6. Use a **Lock** icon to indicate that the selected object should remain stationary.\n"
        "7. Use a **Rewind** icon to indicate that the selected object should return to its previous position or "
        "state.\n\n"
        "Present your response using the following format:\n"
        "- Your step-by-step reasoning must be enclosed in <Think></Think> tags.\n"
        "- Your final answer must be enclosed in <Answer></Answer> tags.\n"
        "- The answer block should contain the 'success detection' status, the 'keyframe', the 'low level "
        "commands', and the 'visual prompts'."
    )


def option_letter(index: int) -> str:
    if not 0 <= index < 26:
        raise ValueError(f"option index must be 0-25, got {index}")
    return chr(ord("A") + index)


def format_options(options: Sequence[str]) -> str:
    """``A. first\\nB. second`` (the mapping the Lite scorer inverts)."""
    if len(options) < 2:
        raise ValueError(f"a closed-ended question needs at least 2 options, got {len(options)}")
    return "\n".join(f"{option_letter(i)}. {opt}" for i, opt in enumerate(options))


_LITE_QUESTIONS = {
    TAG_FAILURE_DETECTION: "Was the task completed successfully?",
    TAG_KEYFRAME: "Which image is the key frame just before the failure began? Answer with its numerical "
    "position (1-N).",
    TAG_SUBTASK: "The task consists of the following subtasks:\n{subtasks}\nIn which subtask did the failure occur?",
    TAG_FAILURE_TYPE: "The task execution failed. Which type of failure occurred? The types are defined as "
    "follows:\n{failure_types}",
    TAG_LOWLEVEL_AVOIDANCE: "The key frame just before the failure began is image number {keyframe}. Which low-level "
    "command should the robot follow at that moment to avoid the failure?",
    TAG_LOWLEVEL_CORRECTION: "The robot should start to correct the failure at image number {keyframe}. Which "
    "low-level command should the robot follow at that moment to correct the failure?",
}

_HARD_QUESTIONS = {
    TAG_FAILURE_REASON: "The task execution failed. Explain the reason for the failure: what went wrong, in which "
    "subtask, and why the task could not be completed.",
    TAG_HIGHLEVEL_AVOIDANCE: "The task execution failed. Give high-level guidance, at the level of the task plan, that "
    "would have helped the robot avoid this failure.",
    TAG_HIGHLEVEL_CORRECTION: "The task execution failed. Give high-level guidance, at the level of the task plan, that "
    "helps the robot correct this failure and complete the task.",
}


def lite_prompt(
    tag: str,
    task: str,
    options: Sequence[str],
    *,
    keyframe: int | None = None,
    subtasks: Sequence[str] | None = None,
) -> str:
    """A closed-ended (Lite) prompt that lists the options and asks for one of them."""
    if tag not in _LITE_QUESTIONS:
        raise ValueError(f"Lite tag: expected one of {list(LITE_TAGS)}, got {tag!r}")
    if tag in (TAG_LOWLEVEL_AVOIDANCE, TAG_LOWLEVEL_CORRECTION) and keyframe is None:
        raise ValueError(f"{tag} needs the keyframe (1-based image number)")
    if tag == TAG_SUBTASK and not subtasks:
        raise ValueError(f"{tag} needs the numbered subtasks")
    question = _LITE_QUESTIONS[tag].format(
        keyframe=keyframe,
        subtasks="\n".join(subtasks or ()),
        failure_types=_failure_type_lines().rstrip("\n"),
    )
    return (
        _INTRO.format(task=_check_task(task))
        + question
        + "\n\nOptions:\n"
        + format_options(options)
        + "\n\nAnswer with the letter and the text of exactly one option, for example 'A. "
        + options[0]
        + "'."
    )


def hard_prompt(tag: str, task: str) -> str:
    """An open-ended (Hard) prompt; the CoT tags delegate to :func:`cot_prompt`."""
    if tag == TAG_COT_AVOIDANCE:
        return cot_prompt(task, "avoidance")
    if tag == TAG_COT_CORRECTION:
        return cot_prompt(task, "correction")
    if tag not in _HARD_QUESTIONS:
        raise ValueError(f"Hard tag: expected one of {list(HARD_TAGS)}, got {tag!r}")
    return _INTRO.format(task=_check_task(task)) + _HARD_QUESTIONS[tag] + " Answer in one to three sentences."


def with_image_tokens(prompt: str, num_images: int) -> str:
    """The ShareGPT user turn: one ``<image>`` per image, all at the start (the official layout)."""
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    return IMAGE_TOKEN * num_images + prompt


def strip_image_tokens(content: str) -> tuple[str, int]:
    """Inverse of :func:`with_image_tokens`: (prompt text, number of ``<image>`` tokens removed)."""
    count = content.count(IMAGE_TOKEN)
    return content.replace(IMAGE_TOKEN, ""), count
