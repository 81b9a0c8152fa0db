"""Output pictures go to gradio as atomically written files: identical pictures from many sessions at once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.errors import ImageError
from vifailback_demo.imageio import read_image_rgb
from vifailback_demo.ui import image_files
from vifailback_demo.ui.image_files import ImageFiles


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (240, 320, 3), dtype=np.uint8)


def test_sixteen_threads_writing_the_same_picture_all_get_the_whole_file(tmp_path: Path) -> None:
    files, image = ImageFiles(tmp_path), picture(0)
    paths: list[str] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait(timeout=30)
        for _ in range(5):
            path = files.path_for(image)
            assert np.array_equal(read_image_rgb(path), image)  # never a partial file
            paths.append(path)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(paths) == 80 and len(set(paths)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [Path(paths[0]).name]  # one file, no temporary left behind


def test_gallery_and_image_values_are_converted_and_others_pass_through(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path)
    a, b = picture(1), picture(2)
    gallery = files.convert([(a, "1"), (b, "★ KEYFRAME 2"), b])
    assert [Path(p).suffix for p, *_ in gallery[:2]] == [".png", ".png"] and gallery[1][1] == "★ KEYFRAME 2"
    assert gallery[0][0] != gallery[1][0] and gallery[2] == gallery[1][0]
    assert np.array_equal(read_image_rgb(files.convert(a)), a)
    assert files.convert(None) is None and files.convert("already/a/path.png") == "already/a/path.png"
    with pytest.raises(ImageError, match="expected an RGB uint8 image"):
        files.path_for(np.zeros((4, 4), dtype=np.float32))


def test_old_files_are_swept_and_reused_ones_are_kept(tmp_path: Path, monkeypatch) -> None:
    files = ImageFiles(tmp_path, max_age_s=100)
    old, reused = Path(files.path_for(picture(3))), Path(files.path_for(picture(4)))
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(reused, (hour_ago, hour_ago))
    monkeypatch.setattr(image_files, "SWEEP_EVERY_S", 0.0)
    files.path_for(picture(4))  # handed out again: fresh, then the sweep runs
    assert reused.exists() and not old.exists()


def test_wired_handlers_send_pictures_as_files(tmp_path: Path) -> None:
    import gradio as gr

    from vifailback_demo.ui.wiring import named

    with gr.Blocks():
        components = {"editor_image": gr.Image(type="numpy"), "gallery": gr.Gallery(), "summary": gr.Markdown()}
    frame = picture(5)
    out = named(
        lambda: {"editor_image": frame, "gallery": [(frame, "1")], "summary": "text"}, components, ImageFiles(tmp_path)
    )()
    assert isinstance(out[components["editor_image"]], str) and out[components["summary"]] == "text"
    assert out[components["gallery"]][0][0] == out[components["editor_image"]]
    assert np.array_equal(read_image_rgb(out[components["editor_image"]]), frame)
