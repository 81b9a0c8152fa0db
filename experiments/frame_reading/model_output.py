"""Writing a whole model directory that nobody can mistake for finished before it is."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from vifailback_demo.core.dataset import write_json_atomic


def check_new_dir(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"--out {out}: already holds files; expected a new or empty directory (nothing is overwritten)"
        )
    return out


def save_model_dir(model: Any, processor_source: str, out: Path, reports: dict[str, Any]) -> Path:
    """The model, its processor (from ``processor_source``, unchanged) and JSON reports, written beside ``out`` and
    renamed when whole: a crash mid-save leaves no half model where a model is expected."""
    from transformers import AutoProcessor

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if model is not None:
        model.save_pretrained(partial)
        AutoProcessor.from_pretrained(processor_source).save_pretrained(partial)
    for name, report in reports.items():
        write_json_atomic(partial / name, report)
    if out.exists():
        out.rmdir()  # empty, checked before any work
    partial.rename(out)
    return out
