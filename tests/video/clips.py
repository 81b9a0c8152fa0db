"""Make small test videos with PyAV whose frames say which frame they are.

Each frame carries its index as 10 black/white blocks (binary, most significant first) in the top row, which
survive lossy compression, and a red square in the top-left corner so tests can tell which way is up. This is a
test helper on purpose (the package's own H.264 writer belongs to another module).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 10
BLOCK = 16


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    image = np.full((height, width, 3), 96, np.uint8)
    image[BLOCK : BLOCK * 2, :BLOCK] = (255, 0, 0)  # "up-left" marker, below the bit row
    for bit in range(BITS):
        on = (index >> (BITS - 1 - bit)) & 1
        image[:BLOCK, (bit + 1) * BLOCK : (bit + 2) * BLOCK] = 255 if on else 0
    return image


def read_index(image: np.ndarray) -> int:
    value = 0
    for bit in range(BITS):
        block = image[2 : BLOCK - 2, (bit + 1) * BLOCK + 2 : (bit + 2) * BLOCK - 2]
        value = (value << 1) | int(block.mean() > 128)
    return value


def make_clip(
    path: Path,
    *,
    codec: str = "libx264",
    seconds: float = 4.0,
    fps: int = 25,
    size: tuple[int, int] = (192, 64),
    gop: int | None = None,
    rotation: int = 0,
    times: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip; ``times`` (seconds) gives a variable frame rate, else ``seconds * fps`` regular frames."""
    width, height = size
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if gop:
        stream.codec_context.gop_size = gop
    opts = dict(options or {})
    if codec == "libx264":
        opts.setdefault("preset", "ultrafast")
    if codec == "libsvtav1":
        opts.setdefault("preset", "12")
    if codec.startswith("libvpx"):
        opts.setdefault("deadline", "realtime")
        opts.setdefault("cpu-used", "8")
    if codec == "libx265":
        opts.setdefault("preset", "ultrafast")
        opts.setdefault("x265-params", "log-level=error")
    stream.options = opts
    if rotation:
        stream.set_display_rotation(rotation)
    if times is not None:
        stream.codec_context.time_base = Fraction(1, 1000)
        stamps = [round(t * 1000) for t in times]
    else:
        stamps = list(range(round(seconds * fps)))
    for index, pts in enumerate(stamps):
        frame = av.VideoFrame.from_ndarray(frame_image(index, width, height), format="rgb24")
        frame.pts = pts
        if times is not None:
            frame.time_base = Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


#: The task text the tests pair with their clips and frames.
TASK = "Use the right arm to place the orange block into the bowl."


def random_frames(count: int, size: tuple[int, int] = (96, 128), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]
