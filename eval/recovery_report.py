"""Scores of ``python -m eval recovery``: per-episode summary, then ``report.json`` and ``report.md``.

Definitions (ground truth from the simulator):

* a **check** is one diagnoser call; its frame is the robot frame of the newest image it saw;
* a **false alarm** is a check that said "Failed" before the injected failure started (``start_frame``), or in an
  episode without an injected failure;
* the **detection delay** of a failing episode is the frame of the first check that said "Failed" at or after the
  failure started, minus ``start_frame`` (None when never detected);
* an **intervention** is one executed correction; an episode is **recovered** when a failure was injected, at
  least one correction was executed and the supervised run succeeded.

``report.json`` keeps the shape the issue asks for (``unsupervised`` / ``supervised`` / ``by_failure_type``, rates
as fractions in [0, 1]) plus a few more keys; ``report.md`` is a table like the paper's Table 4.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.core.dataset import write_json_atomic

SAMPLES_FILE = "samples.jsonl"
NO_FAILURE = "none"


def episode_summary(line: dict[str, Any]) -> dict[str, Any]:
    """The scored facts of one episode line (see the module docstring)."""
    sup = line["supervised"]
    start = line.get("start_frame")
    failed = [c for c in sup.get("checks", []) if c.get("failed")]
    false_alarms = [c for c in failed if not line["failure"] or c["frame"] < start]
    hits = [c["frame"] for c in failed if line["failure"] and c["frame"] >= start]
    interventions = len(sup.get("executions", []))
    return {
        "unsupervised_success": bool(line["unsupervised"]["success"]),
        "supervised_success": bool(sup["success"]),
        "checks": len(sup.get("checks", [])),
        "interventions": interventions,
        "false_alarms": len(false_alarms),
        "detection_delay_frames": (min(hits) - start) if hits else None,
        "recovered": bool(line["failure"] and sup["success"] and interventions > 0),
        "error": sup.get("error"),
    }


def _rate(n: int, d: int) -> float:
    return n / d if d else 0.0


def arm_stats(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{"unsupervised": {...}, "supervised": {...}}`` over ``lines``."""
    n = len(lines)
    sums = [line["summary"] for line in lines]
    u_ok = sum(s["unsupervised_success"] for s in sums)
    s_ok = sum(s["supervised_success"] for s in sums)
    failing = [line for line in lines if line["failure"]]
    delays = [s["detection_delay_frames"] for s in sums if s["detection_delay_frames"] is not None]
    recovered = sum(s["recovered"] for s in sums)
    return {
        "unsupervised": {"episodes": n, "successes": u_ok, "success_rate": _rate(u_ok, n)},
        "supervised": {
            "episodes": n,
            "successes": s_ok,
            "success_rate": _rate(s_ok, n),
            "interventions": sum(s["interventions"] for s in sums),
            "false_alarms": sum(s["false_alarms"] for s in sums),
            "recovered": recovered,
            "detection_delay_frames": statistics.fmean(delays) if delays else None,
            # more keys
            "detection_delay_median": statistics.median(delays) if delays else None,
            "failed_episodes": len(failing),
            "detected": len(delays),
            "recovery_rate": _rate(recovered, len(failing)),
            "false_alarm_episodes": sum(s["false_alarms"] > 0 for s in sums),
            "checks": sum(s["checks"] for s in sums),
            "errors": sum(bool(s["error"]) for s in sums),
        },
    }


def _type_of(line: dict[str, Any]) -> str:
    return line["failure_type"] if line["failure"] else NO_FAILURE


def build_report(samples: Iterable[dict[str, Any]], episodes: int, config: dict[str, Any]) -> dict[str, Any]:
    lines = sorted((s for s in samples if 0 <= s["episode"] < episodes), key=lambda s: s["episode"])
    seen: dict[int, dict[str, Any]] = {}
    for line in lines:  # a duplicated line (a crash between append and exit) counts once
        seen.setdefault(line["episode"], line)
    lines = list(seen.values())
    report: dict[str, Any] = arm_stats(lines)
    order = [*FAILURE_TYPES, NO_FAILURE]
    types = sorted({_type_of(line) for line in lines}, key=order.index)
    report["by_failure_type"] = {t: arm_stats([line for line in lines if _type_of(line) == t]) for t in types}
    by_variant: dict[str, dict[str, Any]] = {}
    for v in sorted({line["variant"] for line in lines if line["variant"]}):
        stats = arm_stats([line for line in lines if line["variant"] == v])
        by_variant[v] = {"episodes": stats["unsupervised"]["episodes"],
                         "unsupervised_success_rate": stats["unsupervised"]["success_rate"],
                         "supervised_success_rate": stats["supervised"]["success_rate"]}  # fmt: skip
    report["by_variant"] = by_variant
    report["gain_points"] = 100.0 * (report["supervised"]["success_rate"] - report["unsupervised"]["success_rate"])
    report["episodes_requested"] = episodes
    report["complete"] = len(lines) == episodes
    report["config"] = config
    return report


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}"


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    types = list(report["by_failure_type"])
    head = "| Method | " + " | ".join(
        f"{t} (n={report['by_failure_type'][t]['unsupervised']['episodes']})" for t in types
    )
    head += " | All |\n|---|" + "---:|" * (len(types) + 1) + "\n"
    rows = []
    for arm, label in (
        ("unsupervised", "Built-in policy alone"),
        ("supervised", f"+ {cfg['diagnoser']} every {cfg['every']} chunks, {cfg['executor'].upper()}"),
    ):
        cells = [_pct(report["by_failure_type"][t][arm]["success_rate"]) for t in types]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {_pct(report[arm]['success_rate'])} |")
    s = report["supervised"]
    delay = "-" if s["detection_delay_frames"] is None else f"{s['detection_delay_frames']:.1f}"
    lines = [
        "# Live supervision on the simulated robot (success rate, %)",
        "",
        f"{report['unsupervised']['episodes']} episodes per arm (sim seeds {cfg['seed']}..{cfg['seed'] + report['unsupervised']['episodes'] - 1}, "
        f"failure rate {cfg['failure_rate']}, {cfg['max_frames']} frames each, {cfg['rows_per_chunk']} actions per chunk)"
        + ("" if report["complete"] else f"; INCOMPLETE: {report['episodes_requested']} requested"),
        "",
        head + "\n".join(rows),
        "",
        f"Gain: **{report['gain_points']:+.1f} points** (the paper reports +22.2 on real robots).",
        "",
        "| Supervision | |\n|---|---:|",
        f"| checks | {s['checks']} |",
        f"| interventions (executed corrections) | {s['interventions']} |",
        f'| false alarms ("Failed" before the failure started or without one) | {s["false_alarms"]} '
        f"({s['false_alarm_episodes']} episodes) |",
        f"| failing episodes detected | {s['detected']} / {s['failed_episodes']} |",
        f"| recovered failing episodes | {s['recovered']} / {s['failed_episodes']} |",
        f"| detection delay, frames from the failure's start (mean / median) | {delay} / "
        f"{'-' if s['detection_delay_median'] is None else s['detection_delay_median']} |",
        f"| episodes that ended in a supervisor error | {s['errors']} |",
    ]
    return "\n".join(lines) + "\n"


def write_recovery_reports(
    out: str | Path, samples: list[dict[str, Any]], episodes: int, config: dict[str, Any]
) -> dict[str, Any]:
    out = Path(out)
    report = build_report(samples, episodes, config)
    write_json_atomic(out / "report.json", report)
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    return report
