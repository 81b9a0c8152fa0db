"""Content-addressed image files: ``<data>/images/ab/abcdef....jpg`` named by the sha256 of the encoded bytes.

The same frame stored twice is one file (deduplicated by name). A file appears under its final name only when it
is complete: bytes go to a temporary file in the same directory, are fsynced, then ``os.replace`` moves them into
place (atomic on POSIX), and the directory is fsynced so the new name itself survives a power cut. Frames are
written *before* the database row that names them, so an acknowledged record never points at a missing file; a
crash in between leaves at most an unreferenced file or a ``.tmp`` file (harmless; ``vifailback corrections clean``
removes them, see :mod:`vifailback_demo.store.maintenance`). The writing is :mod:`vifailback_demo.core.atomic`'s.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vifailback_demo.core.atomic import write_bytes_atomic
from vifailback_demo.errors import ImageError, StoreError
from vifailback_demo.imageio import decode_image_rgb, encode_image
from vifailback_demo.store.checks import checked_image, show
from vifailback_demo.store.records import MAX_IMAGE_BYTES, Frame

#: Arrays are stored as JPEG (the official dataset's format); bytes keep their own format.
ARRAY_FORMAT = ".jpg"
ARRAY_QUALITY = 95
#: Writes of one frame before giving up when a concurrent clean keeps removing its temporary file.
_PUT_ATTEMPTS = 3


@dataclass(frozen=True)
class PreparedImage:
    """An encoded, checked image ready to be written: its hash, extension, bytes and pixel size."""

    sha256: str
    ext: str
    data: bytes
    width: int
    height: int

    @property
    def relpath(self) -> str:
        return image_relpath(self.sha256, self.ext)


def image_relpath(sha256: str, ext: str) -> str:
    """``images/ab/<sha256><ext>``: two-hex-digit fan-out keeps directories small (256 of them)."""
    return f"images/{sha256[:2]}/{sha256}{ext}"


def _sniff_ext(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def prepare_image(frame: Frame, *, what: str = "frame") -> PreparedImage:
    """Encode (arrays) or check (bytes) one frame; raises StoreError/ImageError and writes nothing."""
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise StoreError(f"{what}: expected an RGB uint8 array of shape (H, W, 3), got {frame.dtype} {frame.shape}")
        data = encode_image(frame, ARRAY_FORMAT, quality=ARRAY_QUALITY)
        height, width = frame.shape[:2]
        ext = ARRAY_FORMAT
    elif isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if len(data) > MAX_IMAGE_BYTES:
            raise StoreError(f"{what}: {len(data)} bytes; expected an encoded image under {MAX_IMAGE_BYTES} bytes")
        ext = _sniff_ext(data)
        if ext is None:
            raise StoreError(f"{what}: expected JPEG, PNG or WebP bytes, got {data[:8]!r}")
        try:
            decoded = decode_image_rgb(data, name=what)  # a truncated or corrupt file is refused here
        except ImageError as exc:
            raise StoreError(str(exc)) from None
        height, width = decoded.shape[:2]
    else:
        raise StoreError(f"{what}: expected encoded image bytes or an RGB uint8 array, got {type(frame).__name__}")
    return PreparedImage(hashlib.sha256(data).hexdigest(), ext, data, int(width), int(height))


class ImageStore:
    """Write-once image files under ``root``; safe for many threads and processes (names are content hashes)."""

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        (self.root / "images").mkdir(parents=True, exist_ok=True)

    def path(self, relpath: str, *, owner: str = "image") -> Path:
        """The file a stored relative path names, only once it is proven inside ``images/`` (see ``checks``)."""
        return checked_image(self.root, relpath, owner=owner)[1]

    def put(self, image: PreparedImage) -> str:
        """Store the bytes (once); returns the path relative to the data dir."""
        final = self.root / image.relpath
        if final.exists() and final.stat().st_size == len(image.data):
            return image.relpath
        # A concurrent ``corrections clean --min-age 0`` may delete our temporary file or its (empty) shard
        # directory between our open and our rename; the bytes are still in memory, so write them again.
        for attempt in range(_PUT_ATTEMPTS):
            try:
                # Durable before the row that names it commits: the bytes and the new name both fsynced.
                write_bytes_atomic(final, image.data, fsync=self.fsync, fsync_dir=self.fsync)
                break
            except FileNotFoundError:
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
        return image.relpath

    def checked(self, relpath: str, *, owner: str = "image") -> tuple[str, Path]:
        """``(normalised relative path, file)`` once the path is proven inside ``images/`` and the file exists."""
        safe, path = checked_image(self.root, relpath, owner=owner)
        if not path.is_file():
            raise StoreError(
                f"{owner}: image {show(relpath, 200)} is missing from the store at {self.root}; expected a file there"
            )
        return safe, path

    def read_bytes(self, relpath: str, *, owner: str = "image") -> bytes:
        return self.checked(relpath, owner=owner)[1].read_bytes()

    def verify(self, relpath: str, sha256: str) -> bool:
        """True when the file exists and its bytes still hash to ``sha256`` (an unsafe path is a StoreError)."""
        path = self.path(relpath)
        return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
