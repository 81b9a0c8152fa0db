"""Score one sample offline, by task: Lite exact match, CoT structured score, free-text reference overlap.

Each result is a dict with ``metric`` and ``score`` in [0, 1] plus the scorer's details; it is stored with the
sample in ``samples.jsonl`` and aggregated later (score each sample, then aggregate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.lite import score_lite
from eval.overlap import score_free_text
from eval.structured import score_cot
from eval.tasks import COT_TAGS, LITE, TASKS


def score_offline(
    tag: str, reply: str | None, reference: str, options: Sequence[str] | None = None, answer: str | None = None
) -> dict[str, Any]:
    if TASKS[tag].split == LITE:
        if options is None or answer is None:
            raise ValueError(f"Lite tag {tag}: scoring needs the options and the answer")
        return {"metric": "exact_match", **score_lite(reply, options, answer)}
    if tag in COT_TAGS:
        return {"metric": "structured", **score_cot(reply, reference)}
    return score_free_text(reply, reference)


def score_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """Re-score a stored sample line (the scorers may have changed since it was written)."""
    return score_offline(
        sample["tag"], sample.get("prediction"), sample["reference"], sample.get("options"), sample.get("answer")
    )
