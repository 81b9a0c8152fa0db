"""Image files <-> RGB uint8 arrays, with clear errors (OpenCV codecs, BGR only inside this module)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vifailback_demo.core.atomic import write_bytes_atomic
from vifailback_demo.errors import ImageError

#: Refuse images larger than this many pixels (a decompression bomb guard; 8K is 33 Mpx).
MAX_PIXELS = 40_000_000


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); raises :class:`ImageError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"image not found: expected a readable file at {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    return decode_image_rgb(data.tobytes(), name=str(p))


def decode_image_rgb(data: bytes, *, name: str = "image") -> np.ndarray:
    if not data:
        raise ImageError(f"{name}: the file is empty; expected a JPEG or PNG image")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{name}: not a readable image; expected JPEG, PNG, BMP or WebP")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageError(f"{name}: {img.shape[1]}x{img.shape[0]} is over the {MAX_PIXELS} pixel limit")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode_image(image: np.ndarray, suffix: str = ".png", *, quality: int = 95) -> bytes:
    """Encode RGB uint8 as PNG or JPEG bytes."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError(f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"could not encode image as {suffix}; expected .png or .jpg")
    return buf.tobytes()


def write_image_rgb(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95, fsync: bool = False) -> Path:
    """Write RGB uint8 to ``path`` (format from the suffix) atomically: a crash never leaves half a file.

    ``fsync=True`` flushes the bytes to the disk before the rename (see :mod:`vifailback_demo.core.atomic`)."""
    p = Path(path)
    data = encode_image(image, p.suffix or ".png", quality=quality)
    return write_bytes_atomic(p, data, fsync=fsync)
