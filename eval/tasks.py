"""The 11 ViFailback-Bench task types: number, split and short name per tag (tags come from the core prompts)."""

from __future__ import annotations

from dataclasses import dataclass

from vifailback_demo.core.prompts import (
    ALL_TAGS,
    HARD_TAGS,
    LITE_TAGS,
    TAG_COT_AVOIDANCE,
    TAG_COT_CORRECTION,
    TAG_FAILURE_DETECTION,
    TAG_FAILURE_REASON,
    TAG_FAILURE_TYPE,
    TAG_HIGHLEVEL_AVOIDANCE,
    TAG_HIGHLEVEL_CORRECTION,
    TAG_KEYFRAME,
    TAG_LOWLEVEL_AVOIDANCE,
    TAG_LOWLEVEL_CORRECTION,
    TAG_SUBTASK,
)

LITE = "lite"
HARD = "hard"


@dataclass(frozen=True)
class TaskInfo:
    tag: str
    number: int  # the paper's task number (1-11)
    split: str  # "lite" or "hard"
    name: str  # short human name, used in tables and the chart


_NAMES: dict[str, str] = {
    TAG_FAILURE_DETECTION: "failure detection",
    TAG_KEYFRAME: "keyframe localisation",
    TAG_SUBTASK: "subtask localisation",
    TAG_FAILURE_TYPE: "failure type",
    TAG_LOWLEVEL_AVOIDANCE: "low-level avoidance",
    TAG_LOWLEVEL_CORRECTION: "low-level correction",
    TAG_COT_AVOIDANCE: "low-level avoidance (CoT + symbols)",
    TAG_COT_CORRECTION: "low-level correction (CoT + symbols)",
    TAG_FAILURE_REASON: "failure reason",
    TAG_HIGHLEVEL_AVOIDANCE: "high-level avoidance",
    TAG_HIGHLEVEL_CORRECTION: "high-level correction",
}

#: Tag -> task info, in the paper's order (Lite 1-6, then Hard 7-11).
TASKS: dict[str, TaskInfo] = {
    tag: TaskInfo(tag, number, LITE if tag in LITE_TAGS else HARD, _NAMES[tag])
    for number, tag in enumerate(ALL_TAGS, start=1)
}
COT_TAGS: tuple[str, ...] = (TAG_COT_AVOIDANCE, TAG_COT_CORRECTION)
FREE_TEXT_TAGS: tuple[str, ...] = tuple(t for t in HARD_TAGS if t not in COT_TAGS)


def split_of(tag: str) -> str:
    return TASKS[tag].split


def select_tags(spec: str | None) -> tuple[str, ...]:
    """Parse a ``--tasks`` value: comma-separated tags, task numbers 1-11, or ``lite`` / ``hard`` / ``all``.

    Raises ValueError with the accepted values when an entry is unknown.
    """
    if not spec or not spec.strip():
        return ALL_TAGS
    chosen: list[str] = []
    for raw in spec.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "all":
            picked: tuple[str, ...] = ALL_TAGS
        elif entry == LITE:
            picked = LITE_TAGS
        elif entry == HARD:
            picked = HARD_TAGS
        elif entry.isdigit() and 1 <= int(entry) <= len(ALL_TAGS):
            picked = (ALL_TAGS[int(entry) - 1],)
        elif entry in TASKS:
            picked = (entry,)
        else:
            raise ValueError(
                f"--tasks: unknown entry {raw.strip()!r}; expected 'lite', 'hard', 'all', a number 1-11 or one of "
                f"{list(ALL_TAGS)}"
            )
        chosen.extend(t for t in picked if t not in chosen)
    return tuple(t for t in ALL_TAGS if t in chosen)
