"""Small keyframe thumbnails for the Corrections tab, cached by frame hash.

The store's frames are content-addressed (sha256 of the encoded image), so a thumbnail made once for a hash is right
for as long as the process runs: a table refresh then reads no file for the records it showed before. The cache is
bounded (least recently used go first) and shared by all sessions, hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import cv2
import numpy as np

#: Longest side of a record thumbnail in pixels (a strip of many records, not a picture to edit on).
THUMB_SIDE = 160
#: Thumbnails kept in memory (about 60 KB each at 160x120: some 15 MB at most).
MAX_CACHED = 256


def small(frame: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(1.0, side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


class ThumbnailCache:
    def __init__(self, max_items: int = MAX_CACHED) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0  # frames read from disk (tests check that a second refresh reads none)

    def get(self, sha256: str, read: Callable[[], np.ndarray]) -> np.ndarray:
        """The thumbnail of the frame ``sha256``; ``read()`` loads the full frame only on a miss."""
        with self._lock:
            if sha256 in self._items:
                self._items.move_to_end(sha256)
                return self._items[sha256]
        thumb = small(read())  # outside the lock: another session's refresh need not wait for this file
        with self._lock:
            self.reads += 1
            self._items[sha256] = thumb
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return thumb
