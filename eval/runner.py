"""Generation: ask a model (a :class:`~vifailback_demo.models.backend.VLMBackend`, the app's interface) about every
bench item and append one scored line per finished item to ``samples.jsonl``.

Resumable: items whose id is already in ``samples.jsonl`` are skipped, so a rerun after a crash or Ctrl-C only does
what is left (a torn last line from a killed run is ignored and cut). Items that fail (backend error, unreadable
image) are not written there; they go to ``errors.jsonl`` and are retried by the next run. A backend with
``generate_batch`` (:class:`~vifailback_demo.models.backend.BatchVLMBackend`: the transformers one) gets batches of
``batch_size``; the others get ``concurrency`` requests in flight (a served model must be thread-safe).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.bench import BenchItem, load_item_images
from eval.jsonl import JsonlAppender, read_jsonl
from eval.pool import run_bounded
from eval.scoring import score_offline
from vifailback_demo.errors import BackendError, ModelNotFoundError, PermanentBackendError
from vifailback_demo.models.backend import GenerationSettings, VLMBackend

SAMPLES_FILE = "samples.jsonl"
ERRORS_FILE = "errors.jsonl"
#: Stop the run after this many failures in a row with none in between: the backend is down or misconfigured.
MAX_CONSECUTIVE_FAILURES = 10


class RunAborted(BackendError):
    """The backend failed in a way that more requests cannot fix (raised after what finished was saved)."""


@dataclass
class GenerationStats:
    selected: int = 0
    skipped: int = 0  # already in samples.jsonl from an earlier run
    written: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    first_errors: list[str] = field(default_factory=list)


def finished_ids(out_dir: str | os.PathLike) -> set[str]:
    return {str(s["id"]) for s in read_jsonl(Path(out_dir) / SAMPLES_FILE) if "id" in s}


def sample_record(item: BenchItem, reply: str, latency_s: float) -> dict[str, Any]:
    """The stored per-sample result: the question, the reference, the reply and its offline score."""
    return {
        "id": item.id,
        "index": item.index,
        "tag": item.tag,
        "split": item.split,
        "prompt": item.prompt,
        "images": list(item.images),
        "reference": item.reference,
        "options": list(item.options) if item.options is not None else None,
        "answer": item.answer,
        "prediction": reply,
        "latency_s": round(latency_s, 4),
        "offline": score_offline(item.tag, reply, item.reference, item.options, item.answer),
    }


def _chunks(items: Sequence[BenchItem], size: int) -> list[list[BenchItem]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def generate_samples(
    items: Sequence[BenchItem],
    backend: VLMBackend,
    dataset_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    settings: GenerationSettings | None = None,
    concurrency: int = 1,
    batch_size: int = 1,
    log: Callable[[str], None] | None = None,
) -> GenerationStats:
    """Generate and score every item not yet in ``out_dir/samples.jsonl``; returns counts.

    ``settings``: decoding (default greedy, 2,048 new tokens). ``batch_size`` > 1 is used when the backend has
    ``generate_batch``; otherwise the run says once that it asks one item at a time.
    """
    if batch_size < 1:
        raise ValueError(f"batch size: expected >= 1, got {batch_size}")
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out_dir)
    done = finished_ids(out)
    todo = [it for it in items if it.id not in done]
    stats = GenerationStats(selected=len(items), skipped=len(items) - len(todo))
    if not todo:
        return stats
    settings = settings or GenerationSettings()
    batched = batch_size > 1 and callable(getattr(backend, "generate_batch", None))
    if batch_size > 1 and not batched:
        log(f"eval: --batch-size {batch_size} ignored: backend {backend.name} answers one item at a time")
    chunks = _chunks(todo, batch_size if batched else 1)
    started = time.monotonic()
    state = {"consecutive": 0, "abort": None}
    report_every = max(10, len(todo) // 20)

    def work(chunk: list[BenchItem]) -> tuple[list[str], float]:
        requests = [(load_item_images(dataset_root, it), it.prompt) for it in chunk]
        t0 = time.monotonic()
        if batched:
            results = list(backend.generate_batch(requests, settings=settings))  # type: ignore[attr-defined]
            if len(results) != len(chunk):
                raise BackendError(f"generate_batch returned {len(results)} replies for {len(chunk)} requests")
        else:
            results = [backend.generate(images, prompt, settings=settings) for images, prompt in requests]
        return [r.text for r in results], (time.monotonic() - t0) / len(chunk)

    with JsonlAppender(out / SAMPLES_FILE) as samples, JsonlAppender(out / ERRORS_FILE) as errors:

        def on_result(
            chunk: list[BenchItem], result: tuple[list[str], float] | None, error: BaseException | None
        ) -> bool:
            if error is None and result is not None:
                replies, latency = result
                for it, reply in zip(chunk, replies):
                    samples.append(sample_record(it, reply, latency))
                stats.written += len(chunk)
                state["consecutive"] = 0
                if stats.written % report_every < len(chunk):
                    rate = stats.written / max(1e-9, time.monotonic() - started)
                    log(f"eval: {stats.written + stats.skipped}/{stats.selected} items done ({rate:.2f} items/s)")
                return False
            message = f"{type(error).__name__}: {error}"
            for it in chunk:
                errors.append({"id": it.id, "index": it.index, "tag": it.tag, "error": message, "time": time.time()})
            stats.failed += len(chunk)
            state["consecutive"] += len(chunk)
            if len(stats.first_errors) < 5:
                stats.first_errors.append(message)
            if isinstance(error, (PermanentBackendError, ModelNotFoundError)):
                state["abort"] = message
            elif state["consecutive"] >= MAX_CONSECUTIVE_FAILURES:
                state["abort"] = f"{state['consecutive']} failures in a row; last: {message}"
            return state["abort"] is not None

        run_bounded(chunks, work, on_result, concurrency=concurrency)
    stats.elapsed_s = time.monotonic() - started
    if state["abort"]:
        raise RunAborted(
            f"generation stopped: {state['abort']} ({stats.written} items saved; fix the backend and rerun to resume)"
        )
    return stats
