"""Read a bench file in the official VQA layout and turn it into checked, stably identified items.

Any ShareGPT VQA JSON works (the official ``ViFailback_VQA_benchmark.json``, the synthetic bench, exported
corrections) as long as every record carries one of the 11 tags; Lite records also need ``options`` and an
``answer`` (or a reference reply that maps to one option). Problems are :class:`DatasetError` with one line that
names the record and what was expected, raised before any model is called.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.lite import map_reply_to_option
from eval.tasks import LITE, TASKS
from vifailback_demo.core.dataset import VQARecord, find_in_root, load_vqa_records
from vifailback_demo.errors import DatasetError
from vifailback_demo.imageio import read_image_rgb


@dataclass(frozen=True)
class BenchItem:
    """One bench question: what the model sees (images, prompt) and what it is scored against."""

    id: str  # "<index>-<content hash>": stable across reruns, changes if the record changes
    index: int  # 0-based position in the bench file
    tag: str
    split: str
    prompt: str
    images: tuple[str, ...]  # relative to the dataset root
    reference: str  # the reference assistant message
    options: tuple[str, ...] | None = None
    answer: str | None = None  # Lite only: the correct option text


def item_id(index: int, record: VQARecord) -> str:
    digest = hashlib.sha1(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{index:06d}-{digest[:10]}"


def _to_item(index: int, record: VQARecord, where: str) -> BenchItem:
    tag = record.tag
    if tag not in TASKS:
        raise DatasetError(f"{where}: unknown tag {tag!r:.60}; expected one of {list(TASKS)}")
    prompt, reference = record.prompt, record.response
    if not prompt or not prompt.strip():
        raise DatasetError(f"{where}: expected a user message with the question, found none")
    if reference is None:
        raise DatasetError(f"{where}: expected an assistant message with the reference answer, found none")
    problems = [p for p in record.problems() if "<image> tokens" in p]
    if problems:
        raise DatasetError(f"{where}: {problems[0]}; expected one <image> token per image")
    options: tuple[str, ...] | None = None
    answer: str | None = None
    if TASKS[tag].split == LITE:
        if not record.options or len(record.options) < 2:
            raise DatasetError(f"{where}: Lite tag {tag} needs 'options' (a list of at least 2 strings)")
        options = tuple(record.options)
        if record.answer is not None:
            if record.answer not in options:
                raise DatasetError(f"{where}: answer {record.answer!r:.60} is not one of its options")
            answer = record.answer
        else:
            picked = map_reply_to_option(reference, options)
            if picked is None:
                raise DatasetError(f"{where}: no 'answer' and the reference reply does not name one of the options")
            answer = options[picked]
    return BenchItem(
        id=item_id(index, record),
        index=index,
        tag=tag,
        split=TASKS[tag].split,
        prompt=prompt,
        images=tuple(record.images),
        reference=reference,
        options=options,
        answer=answer,
    )


def load_bench(
    path: str | os.PathLike,
    dataset_root: str | os.PathLike,
    *,
    tags: Sequence[str] | None = None,
    limit: int | None = None,
    check_images: bool = True,
) -> list[BenchItem]:
    """Items of ``path`` whose tag is in ``tags`` (all by default), the first ``limit`` of them, checked.

    Every record is checked (tags, options, image tokens) so that a bad file fails before any model call; image
    files are checked (inside the root and present) for the selected items only.
    """
    bench = Path(path)
    if not bench.is_file():
        raise DatasetError(f"bench file not found: expected a VQA JSON file at {bench}")
    root = Path(dataset_root)
    if not root.is_dir():
        raise DatasetError(f"dataset root not found: expected a directory at {root}")
    if limit is not None and limit < 0:
        raise DatasetError(f"--limit: expected a number >= 0, got {limit}")
    records = load_vqa_records(bench)
    if not records:
        raise DatasetError(f"{bench}: the bench holds no records; expected a non-empty JSON list")
    items = [_to_item(i, r, f"{bench.name}: record {i + 1}") for i, r in enumerate(records)]
    if tags is not None:
        items = [it for it in items if it.tag in tags]
    if limit is not None:
        items = items[:limit]
    if check_images:
        for it in items:
            for rel in it.images:
                find_in_root(root, rel, what=f"record {it.index + 1} image")
    return items


def load_item_images(dataset_root: str | os.PathLike, item: BenchItem) -> list[np.ndarray]:
    """The item's images as RGB uint8 arrays, in order (paths never leave the dataset root)."""
    return [read_image_rgb(find_in_root(dataset_root, rel, what="image")) for rel in item.images]
