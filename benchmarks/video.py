"""Benchmark: sample 16 frames from a 60 s 720p H.264 clip vs decode-and-convert every frame, in one run.

    .venv/bin/python benchmarks/video.py [--seconds 60] [--gop 50] [--repeat 3] [--keep DIR]

The clip is made here with PyAV (libx264, 25 fps, a keyframe every ``--gop`` frames: 2 s, a realistic camera GOP)
with moving content, so the decoder does real work. The baseline is what a naive reader does: decode every frame
and convert it to RGB. The sampler (``read_video`` with the ``even`` rule, 16 frames) seeks to the keyframe before
each target and decodes forward. Both are timed in the same process (machines are noisy); the ratio is printed.
Target: the sampler under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vifailback_demo.video.reader import read_video
from vifailback_demo.video.sampling import SamplingSpec


def make_clip(path: Path, seconds: float, gop: int, width: int = 1280, height: int = 720, fps: int = 25) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    # Fixed GOP (no scene-cut keyframes) so the keyframe spacing is what the benchmark says.
    stream.options = {"preset": "ultrafast", "crf": "23", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx // 40 + yy // 40) % 2 * 80 + 60).astype(np.uint8)
    for i in range(int(seconds * fps)):
        image = np.empty((height, width, 3), np.uint8)
        shift = (i * 7) % width
        image[..., 0] = np.roll(base, shift, axis=1)
        image[..., 1] = np.roll(base, -shift // 2, axis=0)
        image[..., 2] = (i * 3) % 256
        image[100:200, (i * 11) % (width - 100) :][:, :100] = 255  # a moving block
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def decode_all(path: Path) -> int:
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # the sampler's setting too, so the comparison is fair
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--gop", type=int, default=50, help="keyframe interval in frames (50 = 2 s at 25 fps)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the clip here (reused if it exists)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.keep or Path(tmp) / "bench_720p.mp4"
        if not clip.exists():
            t0 = time.perf_counter()
            make_clip(clip, args.seconds, args.gop)
            print(
                f"made {clip.name}: {args.seconds:.0f} s 1280x720 H.264, GOP {args.gop} ({time.perf_counter() - t0:.1f} s)"
            )
        spec = SamplingSpec("even", num_frames=args.frames)
        sample_times, full_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sampled = read_video(clip, spec)
            sample_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            total = decode_all(clip)
            full_times.append(time.perf_counter() - t0)
        sample_s, full_s = statistics.median(sample_times), statistics.median(full_times)
        print(
            f"sampler ({len(sampled)} frames by timestamp, seek + decode forward): {sample_s:.3f} s (median of {args.repeat})"
        )
        print(f"baseline (decode + convert all {total} frames):              {full_s:.3f} s (median of {args.repeat})")
        print(f"ratio sampler / baseline: {sample_s / full_s:.3f}  (speed-up x{full_s / sample_s:.1f})")
        print(f"target sampler < 0.5 s: {'met' if sample_s < 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
