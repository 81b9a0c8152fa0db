"""A separate writer process for the concurrency and crash tests (run as a script, never imported by pytest's
collection as a test). Modes:

``burst DATA_DIR [START]``: add records START, START + 1, ... forever; after each add returns, print ``<index> <id>`` (flushed).
``accept DATA_DIR WORKER GO_FILE COUNT``: print ``ready``, wait for GO_FILE, add COUNT records, print their ids.
``crash DATA_DIR START STAGE``: add records START..START + 2 (printing ``<index> <id>``), then start adding
:func:`crash_item` and SIGKILL itself in the middle: STAGE ``file`` while its first new frame sits in a ``.tmp`` file
(fsynced, not yet renamed), ``commit`` with every frame file in place and the rows inserted but not committed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from vifailback_demo.core.symbols import Crosshair, StraightArrow
from vifailback_demo.store import CorrectionsStore, FinalVersion, NewCorrection


def make_frame(seed: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A deterministic RGB frame for ``seed`` (the same bytes in every process)."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def make_item(tag: str, seed: int, frames: int = 3) -> NewCorrection:
    final = FinalVersion.from_symbols(
        [StraightArrow((100 + seed % 500, 200), (300, 400), ("green",)), Crosshair((seed % 1000, 10))],
        success=False,
        keyframe=1 + seed % frames,
        failure_type="gripper 6d-pose",
        low_level="Move the left gripper to the right slightly.",
    )
    return NewCorrection(
        task=f"{tag} {seed}",
        frames=[make_frame(seed * 10 + k) for k in range(frames)],
        final=final,
        who=tag,
        source_kind="live_run",
        source_ref=f"{tag}:{seed}",
    )


def crash_item() -> NewCorrection:
    """The record a ``crash`` worker dies writing: its first frame is also the first frame of record ``crash 0``."""
    item = make_item("crash", 900)
    item.frames = [make_frame(0), *item.frames[1:]]
    return item


def _die(*_args: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    mode, data_dir = argv[0], argv[1]
    store = CorrectionsStore(data_dir)
    if mode == "burst":
        start = int(argv[2]) if len(argv) > 2 else 0
        for i in range(start, start + 100_000):
            record_id = store.add(make_item("burst", i))
            print(f"{i} {record_id}", flush=True)
        return 0
    if mode == "accept":
        worker, go, count = int(argv[2]), Path(argv[3]), int(argv[4])
        print("ready", flush=True)
        while not go.exists():
            time.sleep(0.005)
        for k in range(count):
            seed = worker * 1000 + k
            print(f"{seed} {store.add(make_item('proc', seed))}", flush=True)
        return 0
    if mode == "crash":
        start, stage = int(argv[2]), argv[3]
        for i in range(start, start + 3):
            print(f"{i} {store.add(make_item('crash', i))}", flush=True)
        if stage == "file":
            os.replace = _die  # ImageStore.put renames the finished .tmp file with os.replace
        else:
            log = CorrectionsStore._log  # called inside the INSERT transaction, after the rows went in

            def log_then_die(*args: object) -> None:
                log(*args)
                _die()

            CorrectionsStore._log = staticmethod(log_then_die)
        store.add(crash_item())
        print("not killed", flush=True)
        return 1
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
