"""Aggregation as the paper computes it, and the report files (JSON, CSV, markdown, PNG chart)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from eval.aggregate import summarize
from eval.paper import PAPER_HARD_ITEMS, PAPER_LITE_ITEMS, PAPER_RESULTS, weighted_average
from eval.report import csv_text, draw_chart, markdown_text, write_reports
from eval.tasks import select_tags
from vifailback_demo.imageio import read_image_rgb


@pytest.mark.parametrize("row", PAPER_RESULTS)
def test_item_weighted_average_reproduces_the_paper(row: tuple[str, float, float, float]) -> None:
    _, lite, hard, average = row
    assert weighted_average(lite, PAPER_LITE_ITEMS, hard, PAPER_HARD_ITEMS) == pytest.approx(average, abs=0.006)


def sample(i: int, tag: str, split: str, score: float) -> dict:
    return {"id": f"s{i}", "tag": tag, "split": split, "offline": {"metric": "x", "score": score}}


def test_summary_pools_items_and_keeps_judge_and_offline_apart() -> None:
    samples = [
        sample(0, "failure_detection_qa", "lite", 1.0),
        sample(1, "failure_detection_qa", "lite", 1.0),
        sample(2, "failure_detection_qa", "lite", 0.0),
        sample(3, "keyframe_localization_qa", "lite", 0.0),
        sample(4, "failure_reason_qa", "hard", 0.5),
        sample(5, "cot_avoidance_code_qa", "hard", 0.25),
    ]
    expected = {s["id"]: s["tag"] for s in samples} | {"s6": "failure_reason_qa"}
    partial = summarize(samples, {"s4": {"score": 0.9}}, expected=expected)
    assert partial["lite"] == 50.0  # 2 of 4 Lite items, pooled (not the mean of the task means, 33.3)
    assert partial["hard"] == partial["hard_offline"] == 37.5 and partial["hard_source"] == "offline"
    assert partial["hard_judge"] is None and partial["average_judge"] is None
    assert partial["average"] == round((50.0 * 4 + 37.5 * 2) / 6, 2)
    assert partial["counts"]["missing"] == 1 and not partial["complete"]
    assert partial["per_task"]["failure_reason_qa"] == {
        "number": 9, "name": "failure reason", "split": "hard", "n": 1, "expected": 2,
        "offline_metric": "rouge_l_f1", "offline": 50.0, "judge": 90.0, "n_judged": 1, "score": 50.0,
    }  # fmt: skip
    full = summarize(samples, {"s4": {"score": 0.9}, "s5": {"score": 0.6}})
    assert full["hard_source"] == "judge" and full["hard"] == 75.0 and full["hard_offline"] == 37.5
    assert full["average"] == round((50.0 * 4 + 75.0 * 2) / 6, 2) and full["complete"]


def test_select_tags() -> None:
    assert select_tags("lite") == select_tags("1,2,3,4,5,6")
    assert select_tags("hard,failure_type_qa")[0] == "failure_type_qa"
    assert len(select_tags(None)) == 11
    with pytest.raises(ValueError, match="expected 'lite'"):
        select_tags("medium")


def test_report_files(tmp_path: Path) -> None:
    samples = [sample(0, "failure_detection_qa", "lite", 1.0), sample(1, "failure_reason_qa", "hard", 0.4)]
    summary = summarize(samples, {})
    paths = write_reports(tmp_path, summary, {"bench_name": "b.json", "model": "m"}, compare_paper=True)
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["tag"] for r in rows] == ["failure_detection_qa", "failure_reason_qa", "LITE", "HARD", "AVERAGE"]
    assert rows[0]["score"] == "100.0" and rows[1]["offline"] == "40.0" and rows[-1]["score"] == "70.0"
    assert paths["csv"].read_text() == csv_text(summary)
    md = paths["md"].read_text()
    assert md == markdown_text(summary, {"bench_name": "b.json", "model": "m"}, compare_paper=True)
    assert "| 1 | failure detection | Lite | 1 | 100.00 |" in md and "Against the paper" in md
    assert "Chain-of-thought diagnostics" not in md  # no CoT items in this run
    image = read_image_rgb(paths["png"])
    assert image.shape == (560, 1100, 3)
    assert np.array_equal(image, draw_chart(summary))
    lite_blue = np.all(image == np.array([66, 133, 244], np.uint8), axis=-1).sum()
    hard_orange = np.all(image == np.array([244, 160, 0], np.uint8), axis=-1).sum()
    assert lite_blue > 2 * hard_orange > 0  # bar heights follow the scores (100 vs 40)


def test_paper_comparison_is_automatic_only_for_the_official_bench(tmp_path) -> None:
    import json

    from eval.paper import OFFICIAL_BENCH_NAME, looks_official

    official, synthetic = tmp_path / "official", tmp_path / "synthetic"
    official.mkdir()
    synthetic.mkdir()
    (synthetic / "manifest.json").write_text(json.dumps({"generator": "vifailback_demo.sim", "episodes": 3}))
    assert looks_official(OFFICIAL_BENCH_NAME, official)
    assert not looks_official(OFFICIAL_BENCH_NAME, synthetic)  # the sim writes the official file name too
    assert not looks_official("my_bench.json", official)
    (official / "manifest.json").write_text("not json")  # an unreadable manifest does not hide the official bench
    assert looks_official(OFFICIAL_BENCH_NAME, official)


def test_report_shows_cot_diagnostics_and_the_failure_type_confusion() -> None:
    from vifailback_demo.core.answer import format_cot_answer

    def cot(i: int, ref_type: str, pred_type: str) -> dict:
        ref = format_cot_answer(success=False, keyframe=3, failure_type=ref_type, low_level="Grasp close.")
        pred = format_cot_answer(success=False, keyframe=3, failure_type=pred_type, low_level="Grasp close.")
        return {**sample(i, "cot_avoidance_code_qa", "hard", 0.5), "reference": ref, "prediction": pred}

    rows = [
        cot(0, "task planning", "gripper state"),
        cot(1, "task planning", "task planning"),
        cot(2, "gripper state", "gripper state"),
    ]
    md = markdown_text(summarize(rows, {}), {"bench_name": "b.json", "model": "m"}, compare_paper=False)
    assert "## Chain-of-thought diagnostics (3 items, 3 failed references)" in md
    assert (
        "| failure type right | 66.67 |" in md
        and "| keyframe exact, among replies with the right type | 100.00 |" in md
    )
    assert "| reference \\ predicted | gripper state | task planning |" in md
    assert "| task planning | 1 | 1 |" in md and "| gripper state | 1 | 0 |" in md
