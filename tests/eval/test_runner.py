"""The runner and CLI in-process: report contract, filters, resume, batching, failures, judge, bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from eval.bench import load_bench
from eval.cli import main
from eval.jsonl import read_jsonl
from eval.runner import ERRORS_FILE, MAX_CONSECUTIVE_FAILURES, SAMPLES_FILE, RunAborted, generate_samples
from tests.eval.benchdata import Bench, write_raw_bench
from tests.eval.test_judge import GOOD
from tests.fakes.httpserver import fake_openai_server
from vifailback_demo.core.prompts import ALL_TAGS, HARD_TAGS, LITE_TAGS, option_letter
from vifailback_demo.models.backend import BatchVLMBackend, GenerationResult, GenerationSettings, VLMBackend


def run_cli(args: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def base_args(bench: Bench, out: Path) -> list[str]:
    return ["run", "--bench", str(bench.path), "--dataset-root", str(bench.root), "--out", str(out), "--quiet"]


def test_reference_backend_scores_100_and_writes_every_report(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, _ = run_cli([*base_args(bench, out), "--backend", "reference"], capsys)
    assert code == 0, stdout
    report = json.loads((out / "report.json").read_text())
    assert (report["lite"], report["hard"], report["average"]) == (100.0, 100.0, 100.0)
    assert report["hard_source"] == "offline" and report["hard_judge"] is None
    assert set(report["per_task"]) == set(ALL_TAGS)
    assert all(t["n"] == 2 and t["score"] == 100.0 for t in report["per_task"].values())
    assert report["counts"] == {"expected": 22, "scored": 22, "missing": 0, "lite": 12, "hard": 10, "judged": 0}
    for name in ("report.csv", "report.md", "report.png", "run.json", SAMPLES_FILE):
        assert (out / name).is_file(), name
    assert "paper" not in report and "Against the paper" not in (out / "report.md").read_text()
    samples = read_jsonl(out / SAMPLES_FILE)
    assert len(samples) == 22 and len({s["id"] for s in samples}) == 22
    assert {"prompt", "reference", "prediction", "offline", "tag", "latency_s"} <= set(samples[0])
    # Rerun: nothing is generated again, the JSONL is unchanged.
    before = (out / SAMPLES_FILE).read_bytes()
    code, _, _ = run_cli([*base_args(bench, out), "--backend", "reference"], capsys)
    assert code == 0 and (out / SAMPLES_FILE).read_bytes() == before


def test_limit_and_task_filters(bench: Bench, tmp_path: Path, capsys) -> None:
    code, _, _ = run_cli([*base_args(bench, tmp_path / "a"), "--backend", "reference", "--limit", "3"], capsys)
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert code == 0 and report["counts"]["scored"] == 3 and report["hard"] is None
    assert list(report["per_task"]) == [LITE_TAGS[0], LITE_TAGS[1]]
    code, _, _ = run_cli([*base_args(bench, tmp_path / "b"), "--backend", "reference", "--tasks", "hard,2"], capsys)
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert code == 0 and set(report["per_task"]) == {LITE_TAGS[1], *HARD_TAGS}
    assert report["counts"]["lite"] == 2 and report["counts"]["hard"] == 10


class HalfRightBackend:
    """Right on the first record of each tag, a wrong option / empty answer on the second; counts batch sizes."""

    name = "half-right"

    def __init__(self, bench: Bench) -> None:
        self.replies: dict[str, str] = {}
        seen: set[str] = set()
        for r in bench.records:
            first = r.tag not in seen
            seen.add(r.tag)
            if r.options:
                index = r.options.index(r.answer)
                self.replies[r.prompt] = option_letter(index if first else (index + 1) % len(r.options))
            else:
                self.replies[r.prompt] = r.response if first else ""
        self.batches: list[int] = []

    def generate(
        self, images: Sequence[np.ndarray], prompt: str, *, settings: GenerationSettings | None = None, on_text=None
    ) -> GenerationResult:
        assert images and all(im.dtype == np.uint8 and im.shape == (24, 32, 3) for im in images)
        assert settings is not None and settings.temperature == 0.0
        return GenerationResult(text=self.replies[prompt])

    def generate_batch(
        self, requests: Sequence[tuple[Sequence[np.ndarray], str]], *, settings: GenerationSettings | None = None
    ) -> list[GenerationResult]:
        self.batches.append(len(requests))
        return [self.generate(images, prompt, settings=settings) for images, prompt in requests]


def test_aggregates_and_batching(bench: Bench, tmp_path: Path, capsys) -> None:
    items = load_bench(bench.path, bench.root)
    backend = HalfRightBackend(bench)
    assert isinstance(backend, VLMBackend) and isinstance(backend, BatchVLMBackend)
    stats = generate_samples(items, backend, bench.root, tmp_path, batch_size=4, log=lambda m: None)
    assert stats.written == 22 and max(backend.batches) == 4 and sum(backend.batches) == 22
    manifest = {"generator": {"backend": "fake"}, "tasks": list(ALL_TAGS), "limit": None, "bench": str(bench.path)}
    (tmp_path / "run.json").write_text(json.dumps(manifest))
    code, _, _ = run_cli(["score", "--out", str(tmp_path), "--quiet"], capsys)
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0
    assert report["lite"] == 50.0
    # Hard: the first record of each tag is perfect; the second is empty and scores 0.
    assert report["hard"] == 50.0
    assert report["average"] == 50.0
    assert all(t["score"] == 50.0 for t in report["per_task"].values())


class FlakyBackend:
    name = "flaky"

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.fail_on = fail_on
        self.calls = 0

    def generate(self, images: Sequence[np.ndarray], prompt: str, **_: object) -> GenerationResult:
        self.calls += 1
        if self.fail_on is None or prompt in self.fail_on:
            raise ConnectionError("backend went away")
        return GenerationResult(text="A")


def test_failed_items_go_to_errors_and_are_retried(bench: Bench, tmp_path: Path) -> None:
    items = load_bench(bench.path, bench.root)
    failing = {items[0].prompt, items[5].prompt}
    stats = generate_samples(items, FlakyBackend(failing), bench.root, tmp_path, log=lambda m: None)
    assert (stats.written, stats.failed) == (20, 2)
    assert {e["id"] for e in read_jsonl(tmp_path / ERRORS_FILE)} == {items[0].id, items[5].id}
    retry = FlakyBackend(set())
    stats = generate_samples(items, retry, bench.root, tmp_path, log=lambda m: None)
    assert (stats.written, stats.skipped, retry.calls) == (2, 20, 2)
    assert len(read_jsonl(tmp_path / SAMPLES_FILE)) == 22


def test_a_dead_backend_aborts_after_consecutive_failures(bench: Bench, tmp_path: Path) -> None:
    items = load_bench(bench.path, bench.root)
    backend = FlakyBackend()
    with pytest.raises(RunAborted, match="in a row"):
        generate_samples(items, backend, bench.root, tmp_path, log=lambda m: None)
    assert backend.calls == MAX_CONSECUTIVE_FAILURES


def test_judge_through_the_cli_with_key_from_env(bench: Bench, tmp_path: Path, capsys, monkeypatch) -> None:
    secret = "sk-very-secret-judge-key"
    monkeypatch.setenv("EVAL_TEST_JUDGE_KEY", secret)
    out = tmp_path / "run"
    with fake_openai_server(lambda req, n: (200, GOOD)) as server:
        args = [*base_args(bench, out), "--backend", "reference", "--judge-url", server.url]
        code, stdout, stderr = run_cli(
            [*args, "--judge-model", "judge-x", "--judge-api-key-env", "EVAL_TEST_JUDGE_KEY"], capsys
        )
    assert code == 0, stderr
    assert len(server.requests) == 10 and all(h["Authorization"] == f"Bearer {secret}" for h in server.headers)
    report = json.loads((out / "report.json").read_text())
    assert report["hard_source"] == "judge" and report["hard"] == 70.0 and report["hard_judge"] == 70.0
    assert report["hard_offline"] == 100.0
    assert report["average"] == round((100 * 12 + 70 * 10) / 22, 2) and report["average_offline"] == 100.0
    assert all(t["judge"] == 70.0 and t["n_judged"] == 2 for t in report["per_task"].values() if t["split"] == "hard")
    for path in out.iterdir():
        assert secret not in path.read_bytes().decode("utf-8", "replace"), path
    assert secret not in stdout + stderr


def test_official_bench_name_adds_the_paper_comparison(bench: Bench, tmp_path: Path, capsys) -> None:
    official = bench.path.with_name("ViFailback_VQA_benchmark.json")
    shutil.copy(bench.path, official)
    out = tmp_path / "run"
    code, _, _ = run_cli(
        ["run", "--bench", str(official), "--out", str(out), "--backend", "reference", "--quiet"], capsys
    )
    assert code == 0  # --dataset-root defaults to the parent of VQA/
    report = json.loads((out / "report.json").read_text())
    assert report["paper"]["models"][-1] == {"model": "ViFailback-8B", "lite": 93.7, "hard": 72.64, "average": 84.11}
    md = (out / "report.md").read_text()
    assert "Against the paper" in md and "| Gemini-2.5-Pro (paper) | 54.64 | 32.45 | 44.54 |" in md


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_bad_input_gives_one_line_errors(bench: Bench, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out")
    code, _, err = run_cli(
        ["run", "--bench", str(tmp_path / "missing.json"), "--out", out, "--backend", "reference"], capsys
    )
    _assert_one_line_error(code, err, "bench file not found", "expected")
    records = [r.to_dict() for r in bench.records[:2]]
    unknown = write_raw_bench(tmp_path / "unknown.json", [records[0], {**records[1], "tag": "made_up_qa"}])
    code, _, err = run_cli(["run", "--bench", str(unknown), "--dataset-root", str(bench.root), "--out", out,
                            "--backend", "reference"], capsys)  # fmt: skip
    _assert_one_line_error(code, err, "record 2", "unknown tag 'made_up_qa'", "expected one of")
    escaping = write_raw_bench(tmp_path / "escape.json", [{**records[0], "images": ["../../etc/passwd"] * 3}])
    code, _, err = run_cli(["run", "--bench", str(escaping), "--dataset-root", str(bench.root), "--out", out,
                            "--backend", "reference"], capsys)  # fmt: skip
    _assert_one_line_error(code, err, "escapes the dataset root")
    no_options = write_raw_bench(tmp_path / "noopt.json", [{k: v for k, v in records[0].items() if k != "options"}])
    code, _, err = run_cli(["run", "--bench", str(no_options), "--dataset-root", str(bench.root), "--out", out,
                            "--backend", "reference"], capsys)  # fmt: skip
    _assert_one_line_error(code, err, "needs 'options'")
    code, _, err = run_cli([*base_args(bench, tmp_path / "x"), "--tasks", "lite,99", "--backend", "reference"], capsys)
    _assert_one_line_error(code, err, "unknown entry '99'")
    code, _, err = run_cli(base_args(bench, tmp_path / "y"), capsys)
    _assert_one_line_error(code, err, "no model given")
    code, _, err = run_cli([*base_args(bench, tmp_path / "z"), "--model", str(tmp_path / "no-model")], capsys)
    _assert_one_line_error(code, err, "no-model", "not found")  # from the real model resolver
    code, _, err = run_cli(["run", "--bench", str(bench.path)], capsys)
    _assert_one_line_error(code, err, "--out")
    code, _, err = run_cli(["score", "--out", str(tmp_path)], capsys)
    _assert_one_line_error(code, err, "not a run directory")


def test_a_run_directory_never_mixes_two_models(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, _, _ = run_cli([*base_args(bench, out), "--backend", "reference", "--limit", "2"], capsys)
    assert code == 0
    code, _, err = run_cli([*base_args(bench, out), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], capsys)
    _assert_one_line_error(code, err, "another --out")


def test_help_explains_everything(capsys) -> None:
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--bench", "--dataset-root", "--model", "--base-url", "--concurrency", "--batch-size", "--limit",
                 "--tasks", "--judge-url", "--judge-model", "samples.jsonl", "report.png", "Exit codes"):  # fmt: skip
        assert flag in text, flag
