"""Generated files read back through the project's own parsers, the CLI renders them, and seeds are reproducible."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import av
import pytest

from vifailback_demo.cli.main import main
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import keyframe_position, load_annotation_records, load_vqa_records
from vifailback_demo.core.prompts import ALL_TAGS, COT_TAGS, LITE_TAGS
from vifailback_demo.sim.generate import BENCH_FILE, TRAIN_FILE, GenerateConfig, generate


def test_annotations_and_vqa_read_back(small_dataset) -> None:
    out, manifest = small_dataset
    records = load_annotation_records(out / "annotations.json")
    assert len(records) == 8 == manifest["episodes"]
    per_episode = sorted(out.glob("annotated_data/*/annotations/episode_*.json"))
    assert len(per_episode) == 8
    for rec in records:
        assert rec.problems == []
        for rel in [*rec.images, rec.video]:
            assert (out / rel).is_file(), rel
        if rec.failed:
            assert (
                rec.failure_type and rec.failure_subtask and rec.avoidance.symbols and rec.correction.low_level.strip()
            )
            assert (out / rec.avoidance.annotations_image).is_file() and (
                out / rec.correction.annotations_image
            ).is_file()
    vqa = load_vqa_records(out / TRAIN_FILE) + load_vqa_records(out / BENCH_FILE)
    assert {r.tag for r in vqa} == set(ALL_TAGS)
    for r in vqa:
        assert r.problems() == []
        if r.tag in LITE_TAGS:
            assert r.answer in r.options and r.response.endswith(r.answer)
        if r.tag in COT_TAGS.values():
            parsed = parse_answer(r.response)
            assert parsed.problems == []
            if parsed.success is False:
                kind = "avoid" if r.tag == COT_TAGS["avoidance"] else "correct"
                assert parsed.keyframe == keyframe_position(r.images, kind)
                assert parsed.failure_type and parsed.symbols
                assert all(
                    0 <= c <= 1000
                    for s in parsed.symbols
                    for p in [getattr(s, f) for f in ("start", "end", "center", "pos", "p1", "p2") if hasattr(s, f)]
                    for c in p
                )


def test_manifest_counts_add_up(small_dataset) -> None:
    out, manifest = small_dataset
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert sum(manifest["counts"]["variant"].values()) == 8
    assert sum(manifest["counts"]["split"].values()) == 8
    assert sum(manifest["counts"]["tag_train"].values()) == manifest["vqa_records"]["train"]


def test_video_is_h264_yuv420p_with_every_frame(small_dataset) -> None:
    out, _ = small_dataset
    rec = load_annotation_records(out / "annotations.json")[0]
    with av.open(str(out / rec.video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        frames = sum(1 for _ in container.decode(stream))
    last = max(int(Path(i).name.split("_")[0].split(".")[0]) for i in rec.images)
    assert frames == last + 1


def test_draw_cli_renders_generated_annotations(small_dataset, tmp_path) -> None:
    out, manifest = small_dataset
    code = main(["draw", "--json", str(out / "annotations.json"), "--dataset-root", str(out), "--out", str(tmp_path)])
    assert code == 0
    failed = manifest["episodes"] - manifest["successes"]
    assert len(list(tmp_path.glob("*.jpg"))) == 2 * failed


def test_same_seed_gives_byte_identical_json(tmp_path) -> None:
    def run(name: str, seed: int, workers: int) -> dict[str, bytes]:
        out = tmp_path / name
        generate(
            GenerateConfig(episodes=2, seed=seed, out=str(out), width=160, height=120, workers=workers, progress=False)
        )
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.json"))}

    first, second, other = run("a", 5, 1), run("b", 5, 2), run("c", 6, 1)
    assert first == second
    assert first["annotations.json"] != other["annotations.json"]


@pytest.mark.slow  # generates 25 episodes under tracemalloc (about 2 minutes on 2 cores)
def test_memory_stays_flat_as_episodes_grow(tmp_path) -> None:
    def peak(n: int) -> int:
        tracemalloc.start()
        generate(
            GenerateConfig(
                episodes=n, seed=1, out=str(tmp_path / str(n)), width=64, height=48, workers=1, progress=False
            )
        )
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    # Four times the episodes must not need much more memory: nothing per episode is kept after it is written.
    small, large = peak(5), peak(20)
    assert large < small * 1.3 + 500_000, (small, large)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--episodes", "0"], "positive number of episodes"),
        (["--episodes", "2", "--task", "juggle"], "unknown task"),
    ],
)
def test_generate_cli_rejects_bad_input(tmp_path, capsys, args, needle) -> None:
    code = main(["sim", "generate", "--out", str(tmp_path / "x"), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1


def test_generate_cli_rejects_a_file_as_out_dir(tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["sim", "generate", "--episodes", "1", "--out", str(target), "--no-progress"]) == 2
    assert "expected a directory" in capsys.readouterr().err


def test_generate_cli_json_summary(tmp_path, capsys) -> None:
    code = main(
        [
            "sim",
            "generate",
            "--episodes",
            "2",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
            "--width",
            "160",
            "--height",
            "120",
            "--split",
            "benchmark",
            "--json",
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["episodes"] == 2 and data["vqa_records"]["train"] == 0 and data["vqa_records"]["benchmark"] > 0
    assert json.loads((tmp_path / TRAIN_FILE).read_text()) == []
