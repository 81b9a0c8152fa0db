"""``vifailback diagnose`` end to end (in-process): scripted, tiny transformers model, openai server, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.video.clips import TASK
from vifailback_demo.cli.main import main
from vifailback_demo.core.answer import format_cot_answer

SCHEMA = {"success", "keyframe", "failure_type", "low_level", "symbols", "problems"}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scripted_backend_writes_json_and_keyframe(capsys, h264_clip: Path, tmp_path: Path) -> None:
    code, out, err = _run(
        capsys, "diagnose", str(h264_clip), "--task", TASK, "--backend", "scripted", "--out", str(tmp_path), "--json"
    )
    assert code == 0, err
    printed = json.loads(out)
    saved = json.loads((tmp_path / "diagnosis.json").read_text())
    assert set(saved) >= SCHEMA and {"frames", "raw_text", "timings"} <= set(saved)
    assert saved["success"] is False and saved["keyframe"] == 4 and len(saved["symbols"]) == 3
    assert saved["frames"]["count"] == 6 and saved["timings"]["total"] > 0
    assert printed["files"]["keyframe"] == str(tmp_path / "keyframe.png")
    assert (tmp_path / "keyframe.png").stat().st_size > 0


def test_scripted_answer_file_successful_means_no_keyframe(capsys, h264_clip: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text(format_cot_answer(success=True))
    out_dir = tmp_path / "out"
    code, out, err = _run(
        capsys,
        "diagnose",
        str(h264_clip),
        "--task",
        TASK,
        "--backend",
        "scripted",
        "--model",
        str(answer),
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "task successful" in out and not (out_dir / "keyframe.png").exists()


def test_tiny_transformers_model_through_the_cli(capsys, tiny_model_dir: Path, h264_clip: Path, tmp_path: Path) -> None:
    code, _out, err = _run(
        capsys,
        "diagnose",
        str(h264_clip),
        "--task",
        TASK,
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "16",
        "--mode",
        "correction",
        "--sampling",
        "even",
        "--frames",
        "4",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    saved = json.loads((tmp_path / "diagnosis.json").read_text())
    assert saved["model"] == tiny_model_dir.name and saved["mode"] == "correction"
    assert saved["frames"]["count"] == 4 and saved["tokens"]["new"] == 16 and saved["raw_text"]
    assert saved["status"] == "unparseable"  # random weights; the raw text is kept and flagged


def test_openai_backend_through_the_cli(capsys, h264_clip: Path, tmp_path: Path) -> None:
    from tests.fakes.httpserver import BehaviourServer
    from vifailback_demo.models.scripted import demo_answer

    server = BehaviourServer(demo_answer(3))
    try:
        code, _out, err = _run(
            capsys,
            "diagnose",
            str(h264_clip),
            "--task",
            TASK,
            "--backend",
            "openai",
            "--model",
            "ViFailback-8B",
            "--base-url",
            server.url,
            "--timeout",
            "5",
            "--out",
            str(tmp_path),
            "--stream",
        )
    finally:
        server.close()
    assert code == 0, err
    assert len(server.requests[0]["messages"][0]["content"]) == 7  # 6 frames + the prompt
    assert "<Answer>" in err  # streamed text went to stderr
    assert json.loads((tmp_path / "diagnosis.json").read_text())["status"] == "failed"


def test_default_model_missing_is_one_clear_line(capsys, h264_clip: Path, tmp_path: Path, monkeypatch) -> None:
    import vifailback_demo.models.resolve as resolve

    monkeypatch.delenv("VIFAILBACK_MODEL", raising=False)
    monkeypatch.setattr(resolve, "cached_snapshot", lambda *a, **k: None)  # hermetic even where 8B is cached
    monkeypatch.setattr(resolve, "bundled_model_dir", lambda: tmp_path / "no-tiny-model")
    code, out, err = _run(capsys, "diagnose", str(h264_clip), "--task", TASK, "--out", str(tmp_path / "o"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no model available" in err and "hf download sii-rhos-ai/ViFailback-8B" in err


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("hello"), "not a readable video"),
        (lambda p: None, "video not found"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(capsys, tmp_path: Path, make, message: str) -> None:
    src = tmp_path / "input.mp4"
    make(src)
    code, _out, err = _run(
        capsys, "diagnose", str(src), "--task", TASK, "--backend", "scripted", "--out", str(tmp_path / "o")
    )
    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1


def test_frame_folder_input(capsys, tmp_path: Path) -> None:
    from tests.video.clips import frame_image
    from vifailback_demo.imageio import write_image_rgb

    frames = tmp_path / "frames"
    for i in range(30):
        write_image_rgb(frames / f"{i}.jpg", frame_image(i, 192, 64))
    code, out, err = _run(
        capsys, "diagnose", str(frames), "--task", TASK, "--backend", "scripted", "--out", str(tmp_path / "o"), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["frames"]["names"] == ["0.jpg", "25.jpg", "29.jpg"]
