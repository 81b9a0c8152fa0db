"""Write the run summary as ``report.json``, ``report.csv``, ``report.md`` and a bar chart ``report.png``.

The chart is drawn with OpenCV (no plotting library needed). On the official bench the markdown also holds a
comparison with the paper's published numbers (:mod:`eval.paper`), which sit in ``report.json`` too.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from eval.paper import PAPER_RESULTS, PAPER_VIFAILBACK_8B_PER_TASK
from eval.tasks import LITE
from vifailback_demo.core.atomic import write_text_atomic
from vifailback_demo.core.dataset import write_json_atomic
from vifailback_demo.imageio import write_image_rgb

CSV_COLUMNS = ("task", "tag", "name", "split", "n", "expected", "score", "offline", "judge", "n_judged")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def paper_comparison(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": [{"model": m, "lite": lite, "hard": hard, "average": avg} for m, lite, hard, avg in PAPER_RESULTS],
        "vifailback_8b_per_task": dict(PAPER_VIFAILBACK_8B_PER_TASK),
        "this_run": {"lite": summary["lite"], "hard": summary["hard"], "average": summary["average"]},
        "note": "paper Hard numbers are GPT-4o judge scores; compare with hard_judge, not hard_offline",
    }


def csv_text(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for tag, t in summary["per_task"].items():
        lite = t["split"] == LITE
        writer.writerow(
            [t["number"], tag, t["name"], t["split"], t["n"], t["expected"], t["score"],
             t["accuracy"] if lite else t["offline"], None if lite else t["judge"], None if lite else t["n_judged"]]
        )  # fmt: skip
    counts = summary["counts"]
    writer.writerow(["", "LITE", "Lite", "lite", counts["lite"], "", summary["lite"], summary["lite"], "", ""])
    writer.writerow(
        ["", "HARD", f"Hard ({summary['hard_source']})", "hard", counts["hard"], "", summary["hard"],
         summary["hard_offline"], summary["hard_judge"], counts["judged"]]
    )  # fmt: skip
    writer.writerow(
        ["", "AVERAGE", "Average (item-weighted)", "", counts["lite"] + counts["hard"], "", summary["average"],
         summary["average_offline"], summary["average_judge"], ""]
    )  # fmt: skip
    return buf.getvalue()


def markdown_text(summary: dict[str, Any], meta: dict[str, Any], *, compare_paper: bool) -> str:
    counts = summary["counts"]
    lines = [
        "# ViFailback-Bench results",
        "",
        f"Bench `{meta.get('bench_name', '?')}`, model `{meta.get('model', '?')}`, "
        f"{counts['scored']}/{counts['expected']} items scored"
        + ("" if summary["complete"] else " (INCOMPLETE: rerun to finish)")
        + f". Hard headline source: **{summary['hard_source'] or '-'}**.",
        "",
        "| # | task | split | n | score | offline | judge (n) |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in summary["per_task"].values():
        if t["split"] == LITE:
            lines.append(f"| {t['number']} | {t['name']} | Lite | {t['n']} | {_fmt(t['score'])} | - | - |")
        else:
            lines.append(
                f"| {t['number']} | {t['name']} | Hard | {t['n']} | {_fmt(t['score'])} | {_fmt(t['offline'])} "
                f"({t['offline_metric']}) | {_fmt(t['judge'])} ({t['n_judged']}) |"
            )
    lines += [
        "",
        "| | Lite | Hard | Average |",
        "|---|---|---|---|",
        f"| headline | {_fmt(summary['lite'])} | {_fmt(summary['hard'])} | {_fmt(summary['average'])} |",
        f"| offline scorer | {_fmt(summary['lite'])} | {_fmt(summary['hard_offline'])} | "
        f"{_fmt(summary['average_offline'])} |",
        f"| LLM judge | {_fmt(summary['lite'])} | {_fmt(summary['hard_judge'])} | {_fmt(summary['average_judge'])} |",
    ]
    lines += _diagnostics_lines(summary.get("cot_diagnostics") or {})
    if compare_paper:
        lines += [
            "",
            "## Against the paper (arXiv 2512.02787)",
            "",
            "The paper's Hard numbers come from a GPT-4o judge with an unpublished prompt: compare them with the "
            "LLM-judge row, not with the offline scorer.",
            "",
            "| model | Lite | Hard | Average |",
            "|---|---|---|---|",
        ]
        lines += [f"| {m} (paper) | {lite:.2f} | {hard:.2f} | {avg:.2f} |" for m, lite, hard, avg in PAPER_RESULTS]
        lines.append(
            f"| **this run** | {_fmt(summary['lite'])} | {_fmt(summary['hard_judge'])} | "
            f"{_fmt(summary['average_judge'])} |"
        )
        lines += ["", "| # | task | ViFailback-8B (paper) | this run |", "|---|---|---|---|"]
        for tag, t in summary["per_task"].items():
            if tag in PAPER_VIFAILBACK_8B_PER_TASK:
                mine = t["score"] if t["split"] == LITE else t["judge"]
                lines.append(
                    f"| {t['number']} | {t['name']} | {PAPER_VIFAILBACK_8B_PER_TASK[tag]:.2f} | {_fmt(mine)} |"
                )
    return "\n".join(lines) + "\n"


_DIAGNOSTIC_RATES = (
    ("parseable", "parseable answers"),
    ("failure_detection", "success/failure right"),
    ("failure_type", "failure type right"),
    ("keyframe_exact", "keyframe exact"),
    ("keyframe_within_1", "keyframe within one image"),
    ("symbol_types_and_colours", "symbol types and arrow colours right"),
    ("keyframe_exact_when_type_right", "keyframe exact, among replies with the right type"),
    ("symbol_types_and_colours_when_type_right", "symbols right, among replies with the right type"),
)


def _diagnostics_lines(diag: dict[str, Any]) -> list[str]:
    """The CoT diagnostic rates and the failure-type confusion, when the run has CoT items."""
    if not diag.get("n"):
        return []
    lines = [
        "",
        f"## Chain-of-thought diagnostics ({diag['n']} items, {diag['n_failed_references']} failed references)",
        "",
        "Rates in percent; all but the first two count failed references only.",
        "",
        "| rate | % |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_fmt(diag.get(key))} |" for key, label in _DIAGNOSTIC_RATES]
    confusion = diag.get("failure_type_confusion") or {}
    predicted = sorted({p for row in confusion.values() for p in row})
    if confusion:
        lines += ["", "| reference \\ predicted | " + " | ".join(predicted) + " |", "|---" * (len(predicted) + 1) + "|"]
        for ref, row in confusion.items():
            lines.append(f"| {ref} | " + " | ".join(str(row.get(p, 0)) for p in predicted) + " |")
    return lines


_LITE_COLOR = (66, 133, 244)
_HARD_COLOR = (244, 160, 0)
_TOTAL_COLOR = (90, 90, 90)


def draw_chart(summary: dict[str, Any], *, width: int = 1100, height: int = 560) -> np.ndarray:
    """Bars per task (Lite blue, Hard orange) then Lite / Hard / Average (grey), 0-100 scale, as RGB uint8."""
    image = np.full((height, width, 3), 255, np.uint8)
    bars: list[tuple[str, float | None, tuple[int, int, int]]] = [
        (str(t["number"]), t["score"], _LITE_COLOR if t["split"] == LITE else _HARD_COLOR)
        for t in summary["per_task"].values()
    ]
    bars += [("Lite", summary["lite"], _TOTAL_COLOR), ("Hard", summary["hard"], _TOTAL_COLOR)]
    bars.append(("Avg", summary["average"], _TOTAL_COLOR))
    left, right, top, bottom = 60, 20, 60, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    font = cv2.FONT_HERSHEY_SIMPLEX
    title = f"ViFailback-Bench (Hard: {summary['hard_source'] or '-'})"
    cv2.putText(image, title, (left, 35), font, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    for level in range(0, 101, 20):
        y = top + plot_h - int(plot_h * level / 100)
        cv2.line(image, (left, y), (width - right, y), (220, 220, 220), 1)
        cv2.putText(image, str(level), (15, y + 5), font, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    slot = plot_w / max(1, len(bars))
    for i, (label, value, color) in enumerate(bars):
        x0 = int(left + i * slot + slot * 0.15)
        x1 = int(left + (i + 1) * slot - slot * 0.15)
        if value is not None:
            y = top + plot_h - int(plot_h * max(0.0, min(100.0, value)) / 100)
            cv2.rectangle(image, (x0, y), (x1, top + plot_h), color, -1)
            cv2.putText(image, f"{value:.1f}", (x0, y - 6), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        (tw, _), _ = cv2.getTextSize(label, font, 0.5, 1)
        cv2.putText(image, label, ((x0 + x1 - tw) // 2, top + plot_h + 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(image, (left, top + plot_h), (width - right, top + plot_h), (0, 0, 0), 1)
    legend = "numbers = task (1-6 Lite, blue; 7-11 Hard, orange)"
    cv2.putText(image, legend, (left, height - 20), font, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    return image


def write_reports(
    out_dir: str | os.PathLike, summary: dict[str, Any], meta: dict[str, Any], *, compare_paper: bool
) -> dict[str, Path]:
    out = Path(out_dir)
    report = {**summary, "meta": meta}
    if compare_paper:
        report["paper"] = paper_comparison(summary)
    paths = {
        "json": write_json_atomic(out / "report.json", report),
        "csv": out / "report.csv",
        "md": out / "report.md",
        "png": out / "report.png",
    }
    # No fsync for these: `python -m eval score` rewrites them from samples.jsonl (see vifailback_demo.core.atomic).
    write_text_atomic(paths["csv"], csv_text(summary))
    write_text_atomic(paths["md"], markdown_text(summary, meta, compare_paper=compare_paper))
    write_image_rgb(paths["png"], draw_chart(summary))
    return paths
