"""Export accepted corrections as training data: LLaMA-Factory ShareGPT JSON or a Hugging Face dataset.

Both exports are atomic: everything is written into a temporary sibling directory which is renamed to ``--out``
at the end, so a crash or an error never leaves half an export under the final name.

ShareGPT layout (read unchanged by LLaMA-Factory and by :func:`load_vqa_records`)::

    <out>/vifailback_corrections.json   list of {"messages", "images", "tag", ["options", "answer"]}
    <out>/images/ab/<sha256>.jpg        frames copied out of the store; JSON paths are relative to <out>
    <out>/dataset_info.json             the LLaMA-Factory dataset entry (formatting: sharegpt)
    <out>/manifest.json                 filters, counts per tag, record ids

The HF export is ``Dataset.save_to_disk(out)`` (plus ``vifailback_manifest.json``) with columns messages, images (``datasets.Image``, bytes embedded, so
the folder is self-contained), tag, options, answer. ``push_to_hub`` runs only with ``HF_TOKEN`` set and a repo id.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vifailback_demo.core.dataset import VQARecord, write_json_atomic, write_vqa_records
from vifailback_demo.errors import StoreError
from vifailback_demo.store.records import CorrectionRecord
from vifailback_demo.store.store import CorrectionsStore
from vifailback_demo.store.vqa import derive_vqa

DATASET_NAME = "vifailback_corrections"
SHAREGPT_FILE = f"{DATASET_NAME}.json"
FORMATS = ("sharegpt", "hf")


@dataclass(frozen=True)
class ExportFilter:
    """Which records go out: accepted only by default; optionally reviewed only and one failure type."""

    decision: str | None = "accepted"
    reviewed_only: bool = False
    failure_type: str | None = None

    def query(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "review_status": "reviewed" if self.reviewed_only else None,
            "failure_type": self.failure_type,
        }


@dataclass
class ExportResult:
    out: Path
    format: str
    records: int = 0
    vqa_pairs: int = 0
    images: int = 0
    by_tag: dict[str, int] = field(default_factory=dict)
    record_ids: list[int] = field(default_factory=list)
    pushed_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "format": self.format,
            "records": self.records,
            "vqa_pairs": self.vqa_pairs,
            "images": self.images,
            "by_tag": dict(sorted(self.by_tag.items())),
            "record_ids": self.record_ids,
            "pushed_to": self.pushed_to,
        }


@contextmanager
def atomic_dir(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary directory next to ``out``; on success it becomes ``out`` in one rename."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file; expected a directory path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise StoreError(f"--out {out} exists and is not empty; choose a new directory or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _collect(store: CorrectionsStore, flt: ExportFilter) -> Iterator[tuple[CorrectionRecord, list[VQARecord]]]:
    for record in store.iter_records(**flt.query()):
        if record.decision != "accepted" or record.final is None:
            continue  # only accepted records carry a human answer to learn from
        yield record, derive_vqa(record, list(record.frame_files))


def dataset_info_entry(file_name: str = SHAREGPT_FILE) -> dict[str, Any]:
    """The LLaMA-Factory ``dataset_info.json`` entry for a multimodal ShareGPT file."""
    return {
        DATASET_NAME: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        }
    }


def export_sharegpt(
    store: CorrectionsStore, out: str | os.PathLike, flt: ExportFilter | None = None, *, overwrite: bool = False
) -> ExportResult:
    flt = flt or ExportFilter()
    out = Path(out)
    result = ExportResult(out=out, format="sharegpt")
    vqa: list[VQARecord] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        copied: set[str] = set()
        for record, pairs in _collect(store, flt):
            for rel in record.frame_files:  # same relative layout as the store: images/ab/<sha256>.<ext>
                if rel not in copied:
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(store.frame_path(rel), dest)
                    copied.add(rel)
            vqa.extend(pairs)
            result.records += 1
            result.record_ids.append(record.id)
        result.vqa_pairs, result.images = len(vqa), len(copied)
        result.by_tag = dict(Counter(r.tag or "" for r in vqa))
        write_vqa_records(tmp / SHAREGPT_FILE, vqa)
        write_json_atomic(tmp / "dataset_info.json", dataset_info_entry())
        write_json_atomic(tmp / "manifest.json", {**result.to_json(), "out": None, "filter": flt.__dict__})
    return result


def _hf_features(datasets: Any) -> Any:
    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 has List; older only Sequence
    text = datasets.Value("string")
    return datasets.Features(
        {
            "messages": seq({"role": text, "content": text}),
            "images": seq(datasets.Image()),
            "tag": text,
            "options": seq(text),
            "answer": text,
        }
    )


def export_hf(
    store: CorrectionsStore,
    out: str | os.PathLike,
    flt: ExportFilter | None = None,
    *,
    overwrite: bool = False,
    push_to_hub: str | None = None,
) -> ExportResult:
    """``datasets`` export; with ``push_to_hub`` also uploads (needs ``HF_TOKEN``; checked before any work)."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if push_to_hub is not None and not token:
        raise StoreError("pushing to the Hugging Face Hub needs a token: set HF_TOKEN in the environment")
    try:
        import datasets
    except ImportError:
        raise StoreError("the Hugging Face export needs the 'datasets' package: pip install datasets") from None
    flt = flt or ExportFilter()
    out = Path(out)
    result = ExportResult(out=out, format="hf")
    rows: dict[str, list[Any]] = {"messages": [], "images": [], "tag": [], "options": [], "answer": []}
    images_seen: set[str] = set()
    for record, pairs in _collect(store, flt):
        # Bytes are embedded so the saved dataset does not depend on the store's files.
        frames = [{"bytes": store.images.read_bytes(rel), "path": Path(rel).name} for rel in record.frame_files]
        images_seen.update(record.frame_files)
        for pair in pairs:
            rows["messages"].append(pair.messages)
            rows["images"].append(frames)
            rows["tag"].append(pair.tag or "")
            rows["options"].append(pair.options or [])
            rows["answer"].append(pair.answer or "")
        result.records += 1
        result.record_ids.append(record.id)
    result.vqa_pairs, result.images = len(rows["tag"]), len(images_seen)
    result.by_tag = dict(Counter(rows["tag"]))
    dataset = datasets.Dataset.from_dict(rows, features=_hf_features(datasets))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        dataset.save_to_disk(str(tmp))  # datasets.load_from_disk(out) reads it back
        write_json_atomic(tmp / "vifailback_manifest.json", {**result.to_json(), "out": None, "filter": flt.__dict__})
    if push_to_hub is not None:
        dataset.push_to_hub(push_to_hub, token=token, private=True)
        result.pushed_to = push_to_hub
    return result


def export(
    store: CorrectionsStore,
    fmt: str,
    out: str | os.PathLike,
    flt: ExportFilter | None = None,
    *,
    overwrite: bool = False,
    push_to_hub: str | None = None,
) -> ExportResult:
    if fmt not in FORMATS:
        raise StoreError(f"export format: expected one of {list(FORMATS)}, got {fmt!r}")
    if fmt == "sharegpt":
        if push_to_hub is not None:
            raise StoreError("--push-to-hub works with --format hf only")
        return export_sharegpt(store, out, flt, overwrite=overwrite)
    return export_hf(store, out, flt, overwrite=overwrite, push_to_hub=push_to_hub)
