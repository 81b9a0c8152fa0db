"""Aggregate per-sample results into the run summary: per task, Lite, Hard and the item-weighted Average.

As the paper computes them: Lite = share of correct Lite items (all Lite tasks pooled), Hard = mean sample score
over all Hard items, Average = Lite and Hard weighted by their item counts. Hard exists twice and the two are never
mixed: ``hard_judge`` (LLM judge; only when every Hard sample has a judgement) and ``hard_offline`` (structured
score for CoT tasks, ROUGE-L for free text). The headline ``hard`` / ``average`` take the judge version when it is
complete and the offline one otherwise; ``hard_source`` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eval.cot_diagnostics import cot_diagnostics
from eval.paper import weighted_average
from eval.tasks import COT_TAGS, HARD, LITE, TASKS


def _pct(values: Sequence[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), 2) if values else None


def summarize(
    samples: Iterable[dict[str, Any]],
    judgements: dict[str, dict[str, Any]],
    *,
    expected: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The summary dict of ``report.json``. ``expected`` (id -> tag of the selected bench items) restricts the
    samples to the selection and counts what is missing."""
    wanted = set(expected) if expected is not None else None
    rows = [s for s in samples if wanted is None or s["id"] in wanted]
    per_task: dict[str, dict[str, Any]] = {}
    lite_scores: list[float] = []
    hard_offline: list[float] = []
    hard_judge: list[float] = []
    expected_per_tag: dict[str, int] = {}
    for tag in (expected or {}).values():
        expected_per_tag[tag] = expected_per_tag.get(tag, 0) + 1
    for tag, info in TASKS.items():
        task_rows = [s for s in rows if s["tag"] == tag]
        if not task_rows and tag not in expected_per_tag:
            continue
        offline = [float(s["offline"]["score"]) for s in task_rows]
        judged = [float(judgements[s["id"]]["score"]) for s in task_rows if s["id"] in judgements]
        entry: dict[str, Any] = {
            "number": info.number,
            "name": info.name,
            "split": info.split,
            "n": len(task_rows),
            "expected": expected_per_tag.get(tag, len(task_rows)),
        }
        if info.split == LITE:
            entry.update(metric="accuracy", accuracy=_pct(offline), score=_pct(offline))
            lite_scores.extend(offline)
        else:
            metric = "structured" if tag in COT_TAGS else "rouge_l_f1"
            entry.update(offline_metric=metric, offline=_pct(offline), judge=_pct(judged), n_judged=len(judged))
            hard_offline.extend(offline)
            hard_judge.extend(judged)
        per_task[tag] = entry
    n_lite, n_hard = len(lite_scores), len(hard_offline)
    lite = _pct(lite_scores)
    hard_off = _pct(hard_offline)
    judge_complete = n_hard > 0 and len(hard_judge) == n_hard
    hard_jud = _pct(hard_judge) if judge_complete else None
    source = "judge" if judge_complete else ("offline" if n_hard else None)
    for entry in per_task.values():
        if entry["split"] == HARD:
            entry["score"] = entry["judge"] if source == "judge" else entry["offline"]
    avg_off = weighted_average(lite, n_lite, hard_off, n_hard)
    avg_jud = weighted_average(lite, n_lite, hard_jud, n_hard) if judge_complete else None
    n_expected = len(wanted) if wanted is not None else len(rows)
    return {
        "lite": lite,
        "hard": hard_jud if source == "judge" else hard_off,
        "average": round(avg_jud if source == "judge" else avg_off, 2) if (avg_off is not None) else None,
        "hard_source": source,
        "hard_offline": hard_off,
        "hard_judge": hard_jud,
        "average_offline": round(avg_off, 2) if avg_off is not None else None,
        "average_judge": round(avg_jud, 2) if avg_jud is not None else None,
        "counts": {
            "expected": n_expected,
            "scored": len(rows),
            "missing": n_expected - len(rows),
            "lite": n_lite,
            "hard": n_hard,
            "judged": len(hard_judge),
        },
        "complete": len(rows) == n_expected,
        "per_task": per_task,
        "cot_diagnostics": cot_diagnostics(rows),
    }
