"""Video input: containers and codecs this PyAV wheel can write, timestamp sampling, rotation, VFR, bad files."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from tests.video.clips import frame_image, make_clip, read_index
from vifailback_demo.errors import VideoError
from vifailback_demo.imageio import write_image_rgb
from vifailback_demo.video.reader import VideoLimits, probe_video, read_video
from vifailback_demo.video.sampling import SamplingSpec, nearest_indices
from vifailback_demo.video.sources import read_episode, read_frame_folder, read_frames

OFFICIAL_4S = [0, 25, 50, 75, 100, 104]  # 105 frames at 25 fps: one per second plus the last

CODECS = [
    ("h264.mp4", "libx264", "h264", {}),
    ("h264.mov", "libx264", "h264", {}),
    ("vp9.webm", "libvpx-vp9", "vp9", {}),
    ("hevc.mkv", "libx265", "hevc", {}),
    # AV1 at a high quality so the bit blocks survive compression; decoded by dav1d.
    ("av1.mp4", "libsvtav1", "av1", {"crf": "10"}),
]


def _need_encoder(name: str) -> None:
    # The pinned PyAV wheel (av<19) ships all four encoders; a wheel without one must fail loudly, not skip.
    assert name in av.codecs_available, f"this PyAV wheel has no {name} encoder: pin av<19 (requirements.txt)"


@pytest.mark.parametrize("name, encoder, codec, options", CODECS, ids=[c[0] for c in CODECS])
def test_each_container_and_codec_samples_one_frame_per_second_plus_last(
    clip_dir: Path, name: str, encoder: str, codec: str, options: dict
) -> None:
    _need_encoder(encoder)
    path = make_clip(clip_dir / name, codec=encoder, seconds=4.2, gop=50, options=options)
    sampled = read_video(path)
    assert [read_index(f) for f in sampled.frames] == OFFICIAL_4S
    assert sampled.timestamps_s == pytest.approx([0, 1, 2, 3, 4, 4.16], abs=1e-3)
    assert sampled.info is not None and codec in sampled.info.codec.replace("libdav1d", "av1")
    assert all(f.shape == (64, 192, 3) and f.dtype == np.uint8 for f in sampled.frames)
    assert sampled.warnings == []


def test_seeking_picks_the_frame_nearest_each_target(clip_dir: Path) -> None:
    path = make_clip(clip_dir / "long.mp4", seconds=12.0, gop=50)
    spec = SamplingSpec("even", num_frames=7)
    sampled = read_video(path, spec)
    times = [i / 25 for i in range(300)]
    expected = nearest_indices(times, [i * times[-1] / 6 for i in range(7)])
    assert [read_index(f) for f in sampled.frames] == expected


def test_variable_frame_rate_is_sampled_by_time_not_index(clip_dir: Path) -> None:
    times = [0, 0.1, 0.15, 0.9, 1.0, 1.05, 2.3, 2.31, 2.32, 3.5]
    path = make_clip(clip_dir / "vfr.mp4", times=times)
    sampled = read_video(path)
    # targets 0, 1, 2, 3 s and the last frame: nearest frames 0 (0 s), 4 (1.0 s), 6 (2.3 s), 9 (3.5 s)
    assert [read_index(f) for f in sampled.frames] == [0, 4, 6, 9]
    assert sampled.timestamps_s == pytest.approx([0, 1.0, 2.3, 3.5], abs=1e-3)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(clip_dir: Path, rotation: int) -> None:
    path = make_clip(clip_dir / f"rot{rotation}.mp4", seconds=1.0, rotation=rotation)
    sampled = read_video(path)
    k = (rotation % 360) // 90
    frame = sampled.frames[0]
    assert frame.shape[:2] == ((192, 64) if k % 2 else (64, 192))
    expected = np.rot90(frame_image(0, 192, 64), k)  # the encoded picture, turned as the display matrix says
    assert np.abs(frame.astype(int) - expected.astype(int)).mean() < 8
    assert sampled.info.rotation == rotation % 360
    assert probe_video(path).display_size == (frame.shape[1], frame.shape[0])


def test_max_side_downscales_frames(h264_clip: Path) -> None:
    sampled = read_video(h264_clip, max_side=96)
    assert sampled.frames[0].shape == (32, 96, 3)


def test_truncated_mp4_gives_a_clear_error(clip_dir: Path, h264_clip: Path) -> None:
    data = h264_clip.read_bytes()
    cut = clip_dir / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is written at the end: it is gone
    with pytest.raises(VideoError, match=r"truncated\.mp4: not a readable video .*expected mp4, mov, mkv or webm"):
        read_video(cut)


def test_truncated_webm_keeps_what_decodes_and_warns(clip_dir: Path) -> None:
    _need_encoder("libvpx-vp9")
    path = make_clip(clip_dir / "full.webm", codec="libvpx-vp9", seconds=4.2, gop=25)
    data = path.read_bytes()
    cut = clip_dir / "truncated.webm"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    sampled = read_video(cut)
    indices = [read_index(f) for f in sampled.frames]
    assert indices[0] == 0 and indices == sorted(indices) and indices[-1] < 104
    assert any("truncated" in w for w in sampled.warnings)


def test_corrupt_payload_never_escapes_as_a_raw_exception(clip_dir: Path, h264_clip: Path) -> None:
    data = bytearray(h264_clip.read_bytes())
    rng = np.random.default_rng(1)
    start = len(data) // 4
    data[start : start + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = clip_dir / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    try:
        sampled = read_video(bad)
    except VideoError as exc:
        assert "corrupt.mp4" in str(exc)
    else:
        assert len(sampled.frames) >= 1 and all(f.dtype == np.uint8 for f in sampled.frames)


def test_corrupt_header_is_refused(clip_dir: Path, h264_clip: Path) -> None:
    data = bytearray(h264_clip.read_bytes())
    data[:64] = b"\x00" * 64
    bad = clip_dir / "badheader.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(VideoError, match=r"badheader.mp4"):
        read_video(bad)


def test_non_video_files_are_refused_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match=r"not a readable video.*expected mp4, mov, mkv or webm"):
        read_video(text)
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        read_video(empty)
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    audio = tmp_path / "sound.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000)
    with pytest.raises(VideoError, match="no video stream"):
        read_video(audio)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_an_image_renamed_as_a_video_is_refused(tmp_path: Path, fmt: str) -> None:
    """FFmpeg opens a still image as a one-frame "video"; a diagnosis of it would be meaningless."""
    from PIL import Image

    clip = tmp_path / "clip.mp4"
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(clip, format=fmt)
    with pytest.raises(VideoError, match=r"^clip\.mp4: is a still image .*not a video; expected mp4"):
        read_video(clip)
    with pytest.raises(VideoError, match="still image"):
        probe_video(clip)


def test_limits_on_size_duration_and_resolution(h264_clip: Path) -> None:
    with pytest.raises(VideoError, match="MiB limit"):
        read_video(h264_clip, limits=VideoLimits(max_bytes=100))
    with pytest.raises(VideoError, match="duration limit"):
        read_video(h264_clip, limits=VideoLimits(max_duration_s=2.0))
    with pytest.raises(VideoError, match="resolution limit"):
        read_video(h264_clip, limits=VideoLimits(max_side=128))
    with pytest.raises(VideoError, match="resolution limit"):
        probe_video(h264_clip, limits=VideoLimits(max_pixels=1000))


def _write_frames(folder: Path, count: int, extra: dict[str, int] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write_image_rgb(folder / f"{i}.png", frame_image(i, 192, 64))
    for name, index in (extra or {}).items():
        write_image_rgb(folder / name, frame_image(index, 192, 64))


def test_frame_folder_uses_the_official_rule_and_ignores_rendered_annotations(tmp_path: Path) -> None:
    folder = tmp_path / "episode_3_cam_high"
    # a rendered overlay must never be shown to the model: it holds the answer
    _write_frames(folder, 60, {"30_avoid_keyframe.png": 30, "30_keyframe_annotations.png": 999})
    sampled = read_frames(folder)
    assert sampled.kind == "frames"
    assert [read_index(f) for f in sampled.frames] == [0, 25, 50, 59]
    assert sampled.names == ["0.png", "25.png", "50.png", "59.png"]
    assert sampled.timestamps_s == pytest.approx([0, 1, 2, 2.36])


def test_frame_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no frames found"):
        read_frame_folder(tmp_path / "empty")
    with pytest.raises(VideoError, match="expected a directory"):
        read_frame_folder(tmp_path / "nope")


def test_viFailback_episode_from_frames_or_video(tmp_path: Path, h264_clip: Path) -> None:
    root = tmp_path / "dataset"
    _write_frames(root / "annotated_data/pick_block/frames/episode_7_cam_high", 30)
    from_frames = read_episode(root, "pick_block", 7)
    assert from_frames.kind == "episode" and [read_index(f) for f in from_frames.frames] == [0, 25, 29]
    videos = root / "annotated_data/pick_block/videos"
    videos.mkdir(parents=True)
    (videos / "episode_8_cam_high.mp4").write_bytes(h264_clip.read_bytes())
    from_video = read_episode(root, "pick_block", 8)
    assert [read_index(f) for f in from_video.frames] == OFFICIAL_4S
    with pytest.raises(VideoError, match="episode 9 of task 'pick_block' not found"):
        read_episode(root, "pick_block", 9)


def test_missing_header_duration_is_read_from_packet_times(h264_clip: Path, monkeypatch) -> None:
    # Live-recorded webm files (browser webcams) often carry no duration; the reader then scans packet times.
    from dataclasses import replace

    import vifailback_demo.video.reader as reader

    real_info = reader._info
    monkeypatch.setattr(reader, "_info", lambda *a: replace(real_info(*a), duration_s=None))
    sampled = read_video(h264_clip)
    assert [read_index(f) for f in sampled.frames] == OFFICIAL_4S
    assert sampled.info.duration_s == pytest.approx(4.2, abs=0.05)
