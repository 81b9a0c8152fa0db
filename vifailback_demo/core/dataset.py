"""ViFailback dataset formats: annotation records, VQA (ShareGPT) records, paths under a dataset root.

Layout (official)::

    <root>/VQA/ViFailback_VQA_train.json, ViFailback_VQA_benchmark.json
    <root>/annotated_data/<task>/frames/episode_<N>_cam_high/<frame>.jpg   (+ <i>_avoid_keyframe.jpg, ...)
    <root>/annotated_data/<task>/videos/episode_<N>_cam_high.mp4

Every path inside a record is relative to the dataset root and must never resolve outside it
(:func:`resolve_in_root`). This project adds three optional fields to annotation records, kept when present:
``failure_reason`` (top level) and ``high_level`` inside the first ``avoidance`` / ``correction`` entry.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vifailback_demo.core.atomic import atomic_open
from vifailback_demo.core.prompts import strip_image_tokens
from vifailback_demo.core.symbol_codec import read_symbols_lenient, symbols_to_code
from vifailback_demo.core.symbols import Symbol
from vifailback_demo.errors import DatasetError, DatasetPathError

#: The official sampling stride: one frame every 25 (one per second at 25 fps).
FRAME_STRIDE = 25
FPS = 25
_FRAME_NAME_RE = re.compile(r"^(?P<index>\d+)(?:_(?P<kind>avoid|correct)_keyframe)?\.(?:jpg|jpeg|png)$", re.I)


# --- paths -------------------------------------------------------------------------------------------------------


def dataset_root_of(vqa_file: str | os.PathLike) -> Path:
    """Where a VQA file's relative image paths start: the folder above ``VQA/`` in the official and synthetic
    layouts (``<root>/VQA/x.json``), else the file's own folder (a corrections export keeps ``images/`` beside it)."""
    parent = Path(vqa_file).resolve().parent
    return parent.parent if parent.name == "VQA" else parent


def resolve_in_root(root: str | os.PathLike, rel: str, *, what: str = "path") -> Path:
    """``root / rel`` as an absolute path, refusing anything that could escape ``root``.

    Refused: absolute paths, drive letters, ``..`` components (with ``/`` or ``\\``), NUL bytes, and symlinks
    that lead outside the root.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise DatasetPathError(f"{what}: expected a non-empty path relative to the dataset root, got {rel!r:.80}")
    parts = rel.replace("\\", "/").split("/")
    if "\x00" in rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel) or ".." in parts:
        raise DatasetPathError(
            f"{what} {rel!r:.120} escapes the dataset root; expected a path relative to {root} without '..'"
        )
    base = Path(root).resolve()
    target = (base / PurePosixPath(*[p for p in parts if p not in ("", ".")])).resolve()
    if target != base and base not in target.parents:
        raise DatasetPathError(f"{what} {rel!r:.120} resolves outside the dataset root {base} (a symlink?)")
    return target


def find_in_root(root: str | os.PathLike, rel: str, *, what: str = "image") -> Path:
    """Resolve ``rel`` under ``root``, also trying ``root/annotated_data/rel`` as the official scripts do."""
    tried = []
    for base in (Path(root), Path(root) / "annotated_data"):
        path = resolve_in_root(base, rel, what=what)
        if path.exists():
            return path
        tried.append(str(path))
    raise DatasetError(f"{what} {rel!r:.120} not found; looked at {' and '.join(tried)}")


# --- JSON files --------------------------------------------------------------------------------------------------


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, or JSON Lines (one object per line), with a one-line error naming the problem."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"JSON file not found: expected a file at {p}")
    text = p.read_text(encoding="utf-8-sig")
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            return [json.loads(ln) for ln in lines] if len(lines) > 1 else _raise(first)
        except json.JSONDecodeError:
            raise DatasetError(
                f"{p}: not valid JSON ({first.msg} at line {first.lineno} column {first.colno})"
            ) from None


def _raise(exc: Exception) -> Any:
    raise exc


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """A list of record dicts from a JSON list, a single JSON object, or JSON Lines."""
    data = read_json(path)
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise DatasetError(f"{path}: record {i} is {type(item).__name__}; expected a JSON object")
    return items


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write JSON via a temporary file and ``os.replace``: readers never see half a file. The file is fsynced
    before the rename (see :mod:`vifailback_demo.core.atomic` for why)."""
    with atomic_open(path, "w", encoding="utf-8", fsync=True) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")
    return Path(path)


def record_kind(record: dict[str, Any]) -> str | None:
    """``"vqa"`` for ShareGPT records (model outputs), ``"annotation"`` for raw annotation records."""
    if "messages" in record:
        return "vqa"
    if "avoidance" in record or "correction" in record:
        return "annotation"
    return None


# --- VQA (ShareGPT) records --------------------------------------------------------------------------------------


@dataclass
class VQARecord:
    """One LLaMA-Factory ShareGPT record: messages, images relative to the root, tag; Lite adds options/answer."""

    messages: list[dict[str, str]]
    images: list[str]
    tag: str | None = None
    options: list[str] | None = None
    answer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        prompt: str,
        response: str,
        images: Sequence[str],
        tag: str,
        *,
        options: Sequence[str] | None = None,
        answer: str | None = None,
    ) -> VQARecord:
        from vifailback_demo.core.prompts import with_image_tokens

        return cls(
            messages=[
                {"role": "user", "content": with_image_tokens(prompt, len(images))},
                {"role": "assistant", "content": response},
            ],
            images=list(images),
            tag=tag,
            options=list(options) if options is not None else None,
            answer=answer,
        )

    @classmethod
    def lite(
        cls, tag: str, task: str, images: Sequence[str], options: list[str], answer: str, **prompt_kw: Any
    ) -> VQARecord:
        """A Lite multiple-choice record: the tag's prompt, reference ``"<letter>. <answer>"``, options and answer."""
        from vifailback_demo.core.prompts import lite_prompt, option_letter

        letter = option_letter(options.index(answer))
        return cls.build(
            lite_prompt(tag, task, options, **prompt_kw),
            f"{letter}. {answer}",
            images,
            tag,
            options=options,
            answer=answer,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VQARecord:
        messages = d.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise DatasetError("VQA record: expected 'messages' as a list of {'role': str, 'content': str}")
        images = d.get("images", [])
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise DatasetError("VQA record: expected 'images' as a list of relative paths")
        options = d.get("options")
        if options is not None and not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
            raise DatasetError("VQA record: expected 'options' as a list of strings")
        known = {"messages", "images", "tag", "options", "answer"}
        return cls(
            messages=[dict(m) for m in messages],
            images=list(images),
            tag=d.get("tag"),
            options=options,
            answer=d.get("answer"),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def _content(self, role: str) -> str | None:
        return next((m["content"] for m in self.messages if m.get("role") == role), None)

    @property
    def prompt(self) -> str | None:
        """The user turn without ``<image>`` tokens."""
        user = self._content("user")
        return strip_image_tokens(user)[0] if user is not None else None

    @property
    def response(self) -> str | None:
        return self._content("assistant")

    def problems(self) -> list[str]:
        out = []
        user = self._content("user")
        if user is not None and strip_image_tokens(user)[1] != len(self.images):
            out.append(f"user turn has {strip_image_tokens(user)[1]} <image> tokens for {len(self.images)} images")
        if self.options is not None and self.answer not in self.options:
            out.append(f"answer {self.answer!r:.60} is not one of the options")
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"messages": self.messages, "images": self.images}
        if self.tag is not None:
            d["tag"] = self.tag
        if self.options is not None:
            d["options"] = self.options
            d["answer"] = self.answer
        d.update(self.extra)
        return d


def _load_all(path: str | os.PathLike, parse: Any) -> list[Any]:
    """Every record of a file through ``parse``; the first bad one names the file and its position."""
    out = []
    for i, d in enumerate(read_records(path), start=1):
        try:
            out.append(parse(d))
        except DatasetError as exc:
            raise DatasetError(f"{path}: record {i}: {exc}") from None
    return out


def load_vqa_records(path: str | os.PathLike) -> list[VQARecord]:
    return _load_all(path, VQARecord.from_dict)


def write_vqa_records(path: str | os.PathLike, records: Iterable[VQARecord | dict[str, Any]]) -> Path:
    return write_json_atomic(path, [r.to_dict() if isinstance(r, VQARecord) else r for r in records])


# --- annotation records ------------------------------------------------------------------------------------------


@dataclass
class PhaseAnnotation:
    """One of ``avoidance`` / ``correction``: the low-level command, overlay image, and symbols in pixels."""

    low_level: str = ""
    annotations_image: str | None = None
    symbols: list[Symbol] = field(default_factory=list)
    high_level: str | None = None


@dataclass
class AnnotationRecord:
    """One trajectory's annotation in the official schema (second record of ``example_direct_draw.json``)."""

    task: str
    video: str | None = None
    failure_detection: str = "yes"
    images: list[str] = field(default_factory=list)
    subtasks: list[str] = field(default_factory=list)
    avoid_keyframe: str | None = None
    correct_keyframe: str | None = None
    failure_subtask: str | None = None
    failure_type: str | None = None
    avoidance: PhaseAnnotation = field(default_factory=PhaseAnnotation)
    correction: PhaseAnnotation = field(default_factory=PhaseAnnotation)
    failure_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return str(self.failure_detection).strip().lower() in ("yes", "true", "1", "failed")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnnotationRecord:
        if not isinstance(d, dict):
            raise DatasetError(f"annotation record: expected a JSON object, got {type(d).__name__}")
        task = d.get("task")
        if not isinstance(task, str) or not task.strip():
            raise DatasetError("annotation record: expected a non-empty 'task' string")
        problems: list[str] = []
        kf = d.get("keyframe") or [{}]
        kf0 = kf[0] if isinstance(kf, list) and kf and isinstance(kf[0], dict) else {}
        phases = {}
        for phase, prefix in (("avoidance", "avoid"), ("correction", "correct")):
            entries = d.get(phase) or [{}]
            entry = entries[0] if isinstance(entries, list) and entries and isinstance(entries[0], dict) else {}
            symbols, sym_problems = read_symbols_lenient(entry.get(f"{prefix}_keyframe_annotations_code", []))
            problems.extend(f"{phase}: {p}" for p in sym_problems)
            phases[phase] = PhaseAnnotation(
                low_level=str(entry.get("low_level", "") or ""),
                annotations_image=entry.get(f"{prefix}_keyframe_annotations"),
                symbols=symbols,
                high_level=entry.get("high_level"),
            )
        known = {
            "video", "task", "failure_detection", "images", "subtasks", "keyframe", "failure_subtask",
            "failure_type", "avoidance", "correction", "failure_reason",
        }  # fmt: skip
        return cls(
            task=task,
            video=d.get("video"),
            failure_detection=str(d.get("failure_detection", "yes")),
            images=[i for i in d.get("images", []) if isinstance(i, str)],
            subtasks=[s for s in d.get("subtasks", []) if isinstance(s, str)],
            avoid_keyframe=kf0.get("avoid_keyframe"),
            correct_keyframe=kf0.get("correct_keyframe"),
            failure_subtask=None if d.get("failure_subtask") in (None, "") else str(d.get("failure_subtask")),
            failure_type=d.get("failure_type") or None,
            avoidance=phases["avoidance"],
            correction=phases["correction"],
            failure_reason=d.get("failure_reason"),
            extra={k: v for k, v in d.items() if k not in known},
            problems=problems,
        )

    def to_dict(self) -> dict[str, Any]:
        """The official schema and key order (plus this project's optional fields when set)."""

        def phase_dict(p: PhaseAnnotation, prefix: str) -> dict[str, Any]:
            out: dict[str, Any] = {"low_level": p.low_level}
            if p.high_level is not None:
                out["high_level"] = p.high_level
            out[f"{prefix}_keyframe_annotations"] = p.annotations_image
            out[f"{prefix}_keyframe_annotations_code"] = symbols_to_code(p.symbols)
            return out

        d: dict[str, Any] = {
            "video": self.video,
            "task": self.task,
            "failure_detection": self.failure_detection,
            "images": self.images,
            "subtasks": self.subtasks,
            "keyframe": (
                [{"avoid_keyframe": self.avoid_keyframe, "correct_keyframe": self.correct_keyframe}]
                if self.avoid_keyframe or self.correct_keyframe
                else []
            ),
            "failure_subtask": self.failure_subtask or "",
            "failure_type": self.failure_type or "",
            "avoidance": [phase_dict(self.avoidance, "avoid")] if self.failed else [],
            "correction": [phase_dict(self.correction, "correct")] if self.failed else [],
        }
        if self.failure_reason is not None:
            d["failure_reason"] = self.failure_reason
        d.update(self.extra)
        return d


def load_annotation_records(path: str | os.PathLike) -> list[AnnotationRecord]:
    return _load_all(path, AnnotationRecord.from_dict)


# --- frame sampling for a VQA item -------------------------------------------------------------------------------


def vqa_frame_names(
    num_frames: int,
    avoid_keyframe: int | None = None,
    correct_keyframe: int | None = None,
    *,
    stride: int = FRAME_STRIDE,
) -> list[str]:
    """File names of the images of one VQA item, in order (the official rule).

    Frames 0, 25, 50, ... plus the avoid and correct keyframes inserted in order (saved as
    ``<i>_avoid_keyframe.jpg`` / ``<i>_correct_keyframe.jpg``, replacing a plain frame of the same index), plus the
    last frame. Example: 289 frames with keyframes 172 and 269 -> 15 images.
    """
    if num_frames < 1:
        raise DatasetError(f"an episode needs at least 1 frame, got {num_frames}")
    if stride < 1:
        raise DatasetError(f"frame stride must be >= 1, got {stride}")
    marks: dict[int, list[str]] = {}
    for index, kind in ((avoid_keyframe, "avoid"), (correct_keyframe, "correct")):
        if index is None:
            continue
        if not 0 <= index < num_frames:
            raise DatasetError(f"{kind} keyframe {index} is outside the episode's frames 0-{num_frames - 1}")
        marks.setdefault(index, []).append(kind)
    indices = sorted(set(range(0, num_frames, stride)) | {num_frames - 1} | set(marks))
    names = []
    for i in indices:
        if i in marks:
            names.extend(f"{i}_{kind}_keyframe.jpg" for kind in marks[i])
        else:
            names.append(f"{i}.jpg")
    return names


def parse_frame_name(name: str) -> tuple[int, str | None]:
    """``"292_avoid_keyframe.jpg"`` -> ``(292, "avoid")``; ``"25.jpg"`` -> ``(25, None)``."""
    m = _FRAME_NAME_RE.match(PurePosixPath(name.replace("\\", "/")).name)
    if not m:
        raise DatasetError(f"frame file name {name!r:.80}: expected '<index>.jpg' or '<index>_avoid_keyframe.jpg'")
    return int(m.group("index")), (m.group("kind") or "").lower() or None


def keyframe_position(images: Sequence[str], kind: str = "avoid") -> int | None:
    """1-based position of the ``kind`` keyframe in a VQA image list (the answer to keyframe questions)."""
    suffix = f"_{kind}_keyframe"
    for position, image in enumerate(images, start=1):
        if PurePosixPath(image).stem.endswith(suffix):
            return position
    return None
