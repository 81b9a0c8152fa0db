"""The "send to VLA" outbox: an accepted correction written as files, for a policy runtime that polls a folder
(the Live robot tab drives a robot directly; this is for runtimes outside the app).

``<data-dir>/outbox/correction_<id>_r<revision>.json`` (what to do: command, guidance, symbols in normalised and
pixel coordinates, keyframe) and ``...png`` (the keyframe with the symbols drawn: the input of a
symbols-following VLA). The PNG is written first and the JSON last, each via a temporary name and ``os.replace``,
so a policy runtime that polls for ``*.json`` never sees a half-written pair. Both files get the same permissions
as everything else in the data dir (the process umask, as the store's frames): who may read the data dir is the
operator's choice for the whole folder (e.g. ``chmod 700``), not a per-file one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.atomic import write_text_atomic
from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.core.symbols import symbols_to_pixels
from vifailback_demo.errors import StoreError
from vifailback_demo.imageio import write_image_rgb
from vifailback_demo.render import SymbolRenderer
from vifailback_demo.store import CorrectionRecord

OUTBOX_DIR = "outbox"


class OutboxService:
    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir) / OUTBOX_DIR
        self.renderer = SymbolRenderer()

    def send(self, record: CorrectionRecord, keyframe_image: np.ndarray) -> tuple[Path, Path]:
        """Write the pair for an accepted record; returns (json path, png path)."""
        final = record.final
        if record.decision != "accepted" or final is None:
            raise StoreError(f"record {record.id} is {record.decision}; only accepted corrections are sent")
        if final.success:
            raise StoreError(f"record {record.id} says the task succeeded; there is no correction to send")
        self.dir.mkdir(parents=True, exist_ok=True)
        stem = f"correction_{record.id}_r{record.revision}"
        png, js = self.dir / f"{stem}.png", self.dir / f"{stem}.json"
        symbols = final.symbol_objects()
        overlay = self.renderer.render(keyframe_image, symbols, normalized=True)
        # Both files atomic (temporary name + os.replace) and flushed before the rename: after a power cut the
        # poller never reads an empty JSON or picture (see vifailback_demo.core.atomic). JSON 0600, PNG 0644.
        write_image_rgb(png, overlay, fsync=True)
        h, w = keyframe_image.shape[:2]
        payload: dict[str, Any] = {
            "record_id": record.id,
            "revision": record.revision,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "task": record.task,
            "mode": record.mode,
            "failure_type": final.failure_type,
            "keyframe": final.keyframe,
            "low_level": final.low_level,
            "high_level": final.high_level,
            "symbols": symbols_to_code(symbols),
            "symbols_pixels": symbols_to_code(symbols_to_pixels(symbols, w, h, as_int=True)),
            "image_size": [w, h],
            "overlay": png.name,
            "prompt": final.low_level or final.high_level or "",
        }
        write_text_atomic(js, json.dumps(payload, indent=2), fsync=True)
        return js, png
