"""Output pictures handed to gradio as files written atomically, never as arrays.

Gradio 6 saves an array output under a folder named by its content hash with a plain ``write_bytes``. Two sessions
that render the same picture at the same moment (visitors of a public Space opening the same example) write the same
file at once, and one of them can be served a truncated image. A *file* output goes through gradio's
``save_file_to_cache`` instead, which copies under a temporary name and renames. So every array bound for an Image
or a Gallery is encoded here to ``<sha256>.png`` (temporary file, then ``os.replace``) and its path is returned;
identical pictures share one file, and a reader never sees a partial one.

Files live in a per-process folder under the system temp dir (gradio takes output files from there and copies them
into its cache, which is what it serves; this folder itself is not served) and are deleted once they are older than
``max_age_s`` (gradio copied them long before) and when the process exits. Gradio's cache copies are deleted by the
Blocks' ``delete_cache`` (ui/layout.py). Pictures read from the corrections store go out the same way, as copies:
the data dir is never served (ui/launch.py).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.atomic import write_bytes_atomic
from vifailback_demo.imageio import encode_image

#: Files older than this are removed by the next sweep (gradio copies an output within the same request).
DEFAULT_MAX_AGE_S = 3600.0
#: At most one sweep of the folder per this many seconds.
SWEEP_EVERY_S = 60.0


class ImageFiles:
    """``path_for(rgb_array) -> str``: the picture as a PNG file, named by its content."""

    def __init__(self, root: str | os.PathLike | None = None, *, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        if root is None:  # our own folder: gone when the process ends, so restarts do not pile up pictures
            root = tempfile.mkdtemp(prefix="vifailback-ui-")
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def path_for(self, image: np.ndarray) -> str:
        image = np.ascontiguousarray(image)
        digest = hashlib.sha256(f"{image.shape}".encode() + image.tobytes()).hexdigest()
        path = self.root / f"{digest}.png"
        if path.exists():
            os.utime(path)  # fresh again: the sweep ages files by mtime
        else:
            # RGB uint8, or an ImageError saying so. A cache picture: no fsync (see vifailback_demo.core.atomic).
            write_bytes_atomic(path, encode_image(image, ".png"))
        self._maybe_sweep()
        return str(path)

    def convert(self, value: Any) -> Any:
        """An Image value (array) or Gallery value (list of arrays or (array, caption)) with arrays as paths."""
        if isinstance(value, np.ndarray):
            return self.path_for(value)
        if isinstance(value, list):
            return [self._gallery_item(item) for item in value]
        return value

    def _gallery_item(self, item: Any) -> Any:
        if isinstance(item, np.ndarray):
            return self.path_for(item)
        if isinstance(item, tuple) and item and isinstance(item[0], np.ndarray):
            return (self.path_for(item[0]), *item[1:])
        return item

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep < SWEEP_EVERY_S:
                return
            self._last_sweep = now
        cutoff = time.time() - self.max_age_s
        for f in self.root.iterdir():
            try:
                if f.stat().st_mtime < cutoff:
                    f.unlink()
            except FileNotFoundError:  # another thread swept it first
                pass
