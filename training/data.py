"""Training data: ShareGPT VQA records from one or more sources, checked, mixed, and split by episode.

Sources can be the official ``ViFailback_VQA_train.json``, the synthetic world's VQA files, or corrections
exported from the app; they all share the LLaMA-Factory ShareGPT layout. Records whose images are missing are
skipped and counted (some official downloads lack frames); records whose paths escape the dataset root are refused.
With the root ``auto`` each source finds its own root (see ``dataset_root_of``), so sources from different folders mix.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vifailback_demo.core.dataset import VQARecord, dataset_root_of, load_vqa_records, resolve_in_root
from vifailback_demo.core.prompts import COT_TAGS
from vifailback_demo.core.sampled_view import sampled_view
from vifailback_demo.errors import DatasetError


@dataclass
class Sample:
    """One training example: the prompt (no image tokens), the target answer, absolute image paths."""

    prompt: str
    answer: str
    images: list[Path]
    tag: str | None
    episode: str


@dataclass
class DataStats:
    """What loading did, for the log and the run directory."""

    per_source: dict[str, int] = field(default_factory=dict)
    skipped_missing_images: int = 0
    skipped_malformed: int = 0
    per_tag: Counter = field(default_factory=Counter)
    # Samples with an app view (training.data.app_views), before weights; 0 unless app_view_weight > 0.
    app_views: int = 0
    train: int = 0
    heldout: int = 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "per_tag": dict(self.per_tag)}


def parse_source(spec: str) -> tuple[str, float]:
    """``"path"`` or ``"path:weight"`` -> (path, weight)."""
    path, sep, weight = spec.rpartition(":")
    if sep and path and not weight.startswith(("/", "\\")):
        try:
            w = float(weight)
        except ValueError:
            return spec, 1.0
        if w <= 0:
            raise DatasetError(f"source {spec!r}: weight must be > 0")
        return path, w
    return spec, 1.0


AUTO_ROOT = "auto"


def episode_key(record: VQARecord) -> str:
    """The folder of the first image: one folder per episode in the official layout."""
    return str(PurePosixPath(record.images[0]).parent) if record.images else "no-images"


def _to_sample(record: VQARecord, root: Path) -> Sample | None:
    # The assistant message is the target; a Lite record without one falls back to its option answer.
    prompt, answer = record.prompt, record.response if record.response is not None else record.answer
    if prompt is None or answer is None or record.problems():
        return None
    paths = [resolve_in_root(root, rel, what="image") for rel in record.images]
    if not all(p.is_file() for p in paths):
        raise FileNotFoundError
    return Sample(prompt=prompt, answer=answer, images=paths, tag=record.tag, episode=episode_key(record))


COT_ORDERS = ("official", "type_first")
_KEYFRAME_SENTENCE = "Next, I must localize"
_TYPE_SENTENCE = "Now I need to classify the failure."


def cot_type_first(answer: str) -> str:
    """The chain of thought's failure-type sentence moved before its keyframe sentence; anything else unchanged.

    The official order names the keyframe first, and in the synthetic world the keyframe (with the task and the
    image count) gives the type away for about 81% of failures (a blind baseline, experiments/frame_reading), so
    under teacher forcing the type costs nothing to predict once the keyframe is written. With the type first, the type has to come from
    the frames, and the keyframe can follow from it. The parser reads either order.
    """
    lines = answer.split("\n")
    keyframe = next((i for i, line in enumerate(lines) if line.startswith(_KEYFRAME_SENTENCE)), None)
    ftype = next((i for i, line in enumerate(lines) if line.startswith(_TYPE_SENTENCE)), None)
    if keyframe is None or ftype is None or ftype < keyframe:
        return answer
    lines.insert(keyframe, lines.pop(ftype))
    return "\n".join(lines)


def _repeat(items: list[Sample], weight: float, rng: random.Random) -> list[Sample]:
    """Weight 2.5 keeps every item twice plus a random half once more (deterministic for a given ``rng``)."""
    whole, frac = int(weight), weight - int(weight)
    return items * whole + rng.sample(items, round(len(items) * frac))


def app_views(samples: list[Sample]) -> list[Sample]:
    """Each sample as the app would ask it (``core.sampled_view``), for those whose view differs: the frames the
    app's sampling of the episode's video takes, without the keyframes the official VQA lists insert, image numbers
    remapped. Same episode (held out together). Keyframe-localisation questions have no such view."""
    out = []
    for s in samples:
        view = sampled_view(s.tag, [str(p) for p in s.images], s.prompt, s.answer)
        if view is not None and len(view[0]) < len(s.images):
            out.append(Sample(view[1], view[2], [Path(p) for p in view[0]], s.tag, s.episode))
    return out


def load_samples(
    sources: list[str],
    root: str | Path,
    *,
    tags: list[str] | None = None,
    tag_weights: dict[str, float] | None = None,
    seed: int = 0,
    cot_order: str = "official",
    app_view_weight: float = 0.0,
) -> tuple[list[Sample], DataStats]:
    """Read every source, drop unusable records (counted), apply weights deterministically.

    ``root`` is one folder for every source, or ``"auto"``: each source's own (``dataset_root_of``).
    ``cot_order="type_first"`` rewrites chain-of-thought answers with :func:`cot_type_first`.
    ``app_view_weight`` adds :func:`app_views` of each source's samples at that weight (before the tag weights)."""
    if cot_order not in COT_ORDERS:
        raise DatasetError(f"cot_order: expected one of {list(COT_ORDERS)}, got {cot_order!r}")
    if app_view_weight < 0:
        raise DatasetError(f"app_view_weight: expected a number >= 0, got {app_view_weight}")
    auto = str(root) == AUTO_ROOT
    if not auto and not Path(root).is_dir():
        raise DatasetError(f"dataset root {root}: expected an existing directory or 'auto'")
    stats = DataStats()
    rng = random.Random(seed)
    out: list[Sample] = []
    for spec in sources:
        path, weight = parse_source(spec)
        src_root = dataset_root_of(path) if auto else Path(root)
        kept: list[Sample] = []
        for record in load_vqa_records(path):
            if tags and record.tag not in tags:
                continue
            try:
                sample = _to_sample(record, src_root)
            except FileNotFoundError:
                stats.skipped_missing_images += 1
                continue
            if sample is None:
                stats.skipped_malformed += 1
                continue
            if cot_order == "type_first" and sample.tag in COT_TAGS.values():
                sample.answer = cot_type_first(sample.answer)
            kept.append(sample)
        if app_view_weight > 0:
            views = app_views(kept)
            stats.app_views += len(views)
            kept += _repeat(views, app_view_weight, rng)
        weighted = _repeat(kept, weight, rng)
        stats.per_source[path] = len(weighted)
        out.extend(weighted)
    if tag_weights:
        by_tag: dict[str, list[Sample]] = {}
        for s in out:
            by_tag.setdefault(s.tag, []).append(s)
        out = [s for tag, group in by_tag.items() for s in _repeat(group, float(tag_weights.get(tag, 1.0)), rng)]
    for s in out:
        stats.per_tag[s.tag] += 1
    if not out:
        raise DatasetError(f"no usable training records in {sources} (missing images: {stats.skipped_missing_images})")
    return out, stats


def split_by_episode(samples: list[Sample], fraction: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Hold out whole episodes: a stable hash of the episode key decides, so adding data never reshuffles."""
    if fraction <= 0:
        return samples, []

    def held(key: str) -> bool:
        digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < fraction

    train = [s for s in samples if not held(s.episode)]
    # Weights repeat samples (the same objects); held-out loss counts each question once, whatever the weights.
    heldout = list({id(s): s for s in samples if held(s.episode)}.values())
    if not train:
        raise DatasetError(f"eval_fraction {fraction} left no training episodes; lower it")
    return train, heldout
