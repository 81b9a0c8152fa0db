"""Export accepted corrections as training data: LLaMA-Factory ShareGPT JSON or a Hugging Face dataset.

Both exports are atomic: everything is written into a temporary sibling directory which is renamed to ``--out``
at the end, so a crash or an error never leaves half an export under the final name.

ShareGPT layout (read unchanged by LLaMA-Factory and by :func:`load_vqa_records`)::

    <out>/vifailback_corrections.json   list of {"messages", "images", "tag", ["options", "answer"]}
    <out>/images/ab/<sha256>.jpg        frames copied out of the store; JSON paths are relative to <out>
    <out>/dataset_info.json             the LLaMA-Factory dataset entry (formatting: sharegpt)
    <out>/manifest.json                 filters, counts per tag, record ids

The HF export is ``Dataset.save_to_disk(out)`` (plus ``vifailback_manifest.json``) with columns messages, images (``datasets.Image``, bytes embedded, so
the folder is self-contained), tag, options, answer. ``push_to_hub`` runs only with ``HF_TOKEN`` set and a valid repo
id; a failed push is a one-line StoreError naming the repo and the cause, with the token masked.

Frame paths come from the database, so each is checked (:func:`~vifailback_demo.store.checks.checked_image`: inside
the store's ``images/``, and the name written under ``<out>/images/`` inside the export) before anything is written.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vifailback_demo.core.atomic import atomic_directory
from vifailback_demo.core.dataset import VQARecord, write_json_atomic, write_vqa_records
from vifailback_demo.errors import StoreError
from vifailback_demo.store.checks import checked_image, show
from vifailback_demo.store.records import CorrectionRecord
from vifailback_demo.store.store import CorrectionsStore
from vifailback_demo.store.vqa import derive_vqa

DATASET_NAME = "vifailback_corrections"
SHAREGPT_FILE = f"{DATASET_NAME}.json"
FORMATS = ("sharegpt", "hf")
_REPO_NAME_CHARS = 96
#: One part of ``[namespace/]name`` as the Hub accepts it: letters, digits, '-', '_', '.'; starts and ends with a
#: letter or digit. The app's stricter ``namespace/name`` check (services/hub.py) uses the same rule.
REPO_PART = rf"[A-Za-z0-9](?:[A-Za-z0-9._-]{{0,{_REPO_NAME_CHARS - 2}}}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"(?:{REPO_PART}/)?{REPO_PART}", re.ASCII)
#: Hugging Face access tokens look like ``hf_`` + letters; masked in any message even when not HF_TOKEN's value.
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9_]{8,}")
_CAUSE_CHARS = 200


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
    """Yield a temporary directory next to ``out``; on success it becomes ``out`` in one rename.

    No fsync: an export is rebuilt from the store by running it again (see :mod:`vifailback_demo.core.atomic`)."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file; expected a directory path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise StoreError(f"--out {out} exists and is not empty; choose a new directory or pass --overwrite")
    with atomic_directory(out) as tmp:
        yield tmp


def _collect(
    store: CorrectionsStore, flt: ExportFilter
) -> Iterator[tuple[CorrectionRecord, list[VQARecord], list[tuple[str, Path]]]]:
    """Each accepted record, its VQA pairs and its frames as ``(safe relative name, file in the store)``."""
    for record in store.iter_records(**flt.query()):
        if record.decision != "accepted" or record.final is None:
            continue  # only accepted records carry a human answer to learn from
        # Checked before anything is written: a path edited in the database stops the export with one line.
        frames = store.frame_paths(record)
        yield record, derive_vqa(record, [name for name, _ in frames]), frames


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
    # Every record and stored path is read and checked before --out (or its parent) is touched: a bad one stops
    # the export having written nothing.
    items = list(_collect(store, flt))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        copied: set[str] = set()
        for record, pairs, frames in items:
            for name, src in frames:  # same relative layout as the store: images/ab/<sha256>.<ext>
                if name not in copied:
                    # The name comes from the database: the same check as on the store side keeps it inside out/.
                    dest = checked_image(tmp, name, owner=f"record {record.id}")[1]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                    copied.add(name)
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
    if push_to_hub is not None:
        check_repo_id(push_to_hub)
        if not token:
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
    for record, pairs, files in _collect(store, flt):
        # Bytes are embedded so the saved dataset does not depend on the store's files.
        frames = [{"bytes": src.read_bytes(), "path": Path(name).name} for name, src in files]
        images_seen.update(name for name, _ in files)
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
        try:
            dataset.push_to_hub(push_to_hub, token=token, private=True)
        except Exception as exc:  # network, HTTP, auth, a non-JSON reply...: one line, never a traceback or token
            raise StoreError(
                f"pushing to the Hugging Face Hub repo {push_to_hub!r} failed ({hub_cause(exc, token)}); "
                "nothing was pushed; export again to retry (the CLI keeps the local export in --out)"
            ) from None
        result.pushed_to = push_to_hub
    return result


def check_repo_id(repo_id: Any) -> str:
    """A Hub repo id (``name`` or ``namespace/name``), refused early with one line rather than by the Hub later."""
    if (
        not isinstance(repo_id, str)
        or not _REPO_ID.fullmatch(repo_id)
        or ".." in repo_id
        or "--" in repo_id
        or repo_id.endswith(".git")
    ):
        raise StoreError(
            f"Hub repo id: expected 'namespace/name' (letters, digits, '-', '_', '.'; up to {_REPO_NAME_CHARS} "
            f"characters each), got {show(repo_id, 80)}"
        )
    return repo_id


def hub_cause(exc: BaseException, token: str = "") -> str:
    """``ExceptionType: first line of its message``, short, with the token (and anything token-like) masked."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else "no message"
    if token:
        text = text.replace(token, "***")
    text = _HF_TOKEN.sub("hf_***", text)
    if len(text) > _CAUSE_CHARS:
        text = text[: _CAUSE_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {text}"


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
