"""Frame-state probes: score how well a model reads the frames (``python -m experiments.frame_reading eval-probes``).

A probe record (``python -m experiments.frame_reading probes``) asks, for every image of an episode, the state of
the grippers, the movable objects and the human hand, the first image in full and then only the changes. Its
reference lines are ``Image k: fact; fact; ...``. A reply is scored by fact: a reference fact counts when the
reply's line for the same image states it word for word, so a model that guesses "no change" everywhere gets the
lines where nothing changes and nothing else. Facts are also scored by kind (gripper, object, hand, no change), and
the same probes asked over shuffled frames (``--frames shuffled``) show how much of the score is the prompt's prior.

Generation is a plain loop over the product's backends (built as ``python -m eval`` builds them,
``eval.backends``): one scored line per probe in ``samples.jsonl`` (a rerun skips the probes already there), then
``probes.json`` with the summary.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.bench import BenchItem, item_id, load_item_images
from eval.jsonl import JsonlAppender, read_jsonl
from experiments.frame_reading.sim_probes import PROBE_TAGS
from vifailback_demo.core.dataset import VQARecord
from vifailback_demo.errors import DatasetError
from vifailback_demo.models.backend import GenerationSettings, VLMBackend

KINDS = ("gripper", "object", "hand", "no change")


def fact_kind(fact: str) -> str:
    if fact == "no change":
        return "no change"
    if fact.startswith(("left gripper", "right gripper")):
        return "gripper"
    if "human hand" in fact:
        return "hand"
    return "object"


def _facts(text: str) -> dict[str, set[str]]:
    """``{"Image 3": {"left gripper open", ...}}`` from ``Image k: fact; fact.`` lines (other lines ignored)."""
    out: dict[str, set[str]] = {}
    for line in text.strip().splitlines():
        head, sep, body = line.partition(":")
        if sep and head.strip().startswith("Image "):
            out[head.strip()] = {f.strip().rstrip(".").strip() for f in body.split(";") if f.strip()}
    return out


def score_probe(reply: str | None, reference: str) -> dict[str, Any]:
    """Share of the reference's facts that the reply states for the same image, overall and by kind."""
    ref, got = _facts(reference), _facts(reply or "")
    right: Counter = Counter()
    total: Counter = Counter()
    for image, facts in ref.items():
        for fact in facts:
            kind = fact_kind(fact)
            total[kind] += 1
            right[kind] += fact in got.get(image, set())
    n = sum(total.values())
    return {
        "score": sum(right.values()) / n if n else 0.0,
        "facts": n,
        "right": {k: right[k] for k in KINDS},
        "total": {k: total[k] for k in KINDS},
    }


def probe_items(records: Sequence[VQARecord], *, limit: int | None = None) -> list[BenchItem]:
    """The probe records as bench items (the bench's own tags are for ``python -m eval run``)."""
    items = []
    for index, record in enumerate(records):
        if record.tag not in PROBE_TAGS:
            raise DatasetError(f"record {index + 1}: tag {record.tag!r:.60}; expected a probe tag {list(PROBE_TAGS)}")
        if record.prompt is None or record.response is None:
            raise DatasetError(f"record {index + 1}: expected a user prompt and an assistant answer")
        items.append(
            BenchItem(
                id=item_id(index, record),
                index=index,
                tag=record.tag,
                split="probe",
                prompt=record.prompt,
                images=tuple(record.images),
                reference=record.response,
            )
        )
    return items[:limit] if limit is not None else items


def summarize_probes(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fact accuracy (percent) over all samples, overall and by kind; exact replies counted too."""
    right: Counter = Counter()
    total: Counter = Counter()
    exact = 0
    for s in samples:
        score = s["offline"]
        right.update(score["right"])
        total.update(score["total"])
        exact += (s.get("prediction") or "").strip() == s["reference"].strip()
    n = sum(total.values())

    def pct(a: int, b: int) -> float | None:
        return round(100.0 * a / b, 2) if b else None

    return {
        "samples": len(samples),
        "facts": n,
        "fact_accuracy": pct(sum(right.values()), n),
        "by_kind": {k: pct(right[k], total[k]) for k in KINDS},
        "facts_by_kind": {k: total[k] for k in KINDS},
        "exact_answers": pct(exact, len(samples)),
    }


SAMPLES_FILE = "samples.jsonl"


def generate_probe_samples(
    items: Sequence[BenchItem],
    backend: VLMBackend,
    dataset_root: str | Path,
    out: str | Path,
    log: Callable[[str], None] = print,
    settings: GenerationSettings | None = None,
) -> list[dict[str, Any]]:
    """Ask every probe not yet in ``out/samples.jsonl``, one scored line each; returns the lines of ``items``."""
    path = Path(out) / SAMPLES_FILE
    done = {s.get("id") for s in read_jsonl(path)}
    todo = [it for it in items if it.id not in done]
    with JsonlAppender(path) as fh:
        for n, it in enumerate(todo, start=1):
            started = time.monotonic()
            reply = backend.generate(load_item_images(dataset_root, it), it.prompt, settings=settings).text
            fh.append(
                {
                    "id": it.id,
                    "index": it.index,
                    "tag": it.tag,
                    "prompt": it.prompt,
                    "images": list(it.images),
                    "reference": it.reference,
                    "prediction": reply,
                    "latency_s": round(time.monotonic() - started, 4),
                    "offline": {"metric": "probe_facts", **score_probe(reply, it.reference)},
                }
            )
            if n % 10 == 0 or n == len(todo):
                log(f"probes: {n + len(items) - len(todo)}/{len(items)} done")
    wanted = {it.id for it in items}
    return list({s["id"]: s for s in read_jsonl(path) if s.get("id") in wanted}.values())
