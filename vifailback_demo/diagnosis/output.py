"""Write a diagnosis to a folder: ``diagnosis.json`` and ``keyframe.png`` (the keyframe with its symbols)."""

from __future__ import annotations

import os
from pathlib import Path

from vifailback_demo.core.dataset import write_json_atomic
from vifailback_demo.diagnosis.result import Diagnosis

DIAGNOSIS_JSON = "diagnosis.json"
KEYFRAME_PNG = "keyframe.png"


def write_diagnosis(diagnosis: Diagnosis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the files (atomically) and return their paths; ``keyframe.png`` only when there is a keyframe.

    A stale ``keyframe.png`` from an earlier run in the same folder is removed, so the folder never shows a
    keyframe that this diagnosis does not have.
    """
    from vifailback_demo.imageio import write_image_rgb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    data = diagnosis.to_dict()
    keyframe_path = out / KEYFRAME_PNG
    if diagnosis.keyframe_image is not None:
        paths["keyframe"] = write_image_rgb(keyframe_path, diagnosis.keyframe_image)
        data["keyframe_image"] = KEYFRAME_PNG
    elif keyframe_path.exists():
        keyframe_path.unlink()
    paths["diagnosis"] = write_json_atomic(out / DIAGNOSIS_JSON, data)
    return paths
