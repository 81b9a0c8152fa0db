"""What the corrections store holds: the human's final version, a new correction, and a stored record.

Validation lives here so that :class:`~vifailback_demo.store.store.CorrectionsStore` can check everything before it
writes a single byte (bad input changes nothing). Symbols are kept in canonical code form with normalised 0-1000
coordinates, the space the model writes in, so a record can be turned into a CoT answer without knowing pixels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.core.prompts import MODES
from vifailback_demo.core.symbol_codec import symbols_from_code, symbols_to_code
from vifailback_demo.core.symbols import Symbol, check_symbols
from vifailback_demo.errors import StoreError

DECISIONS: tuple[str, ...] = ("accepted", "rejected", "skipped")
REVIEW_STATUSES: tuple[str, ...] = ("unreviewed", "reviewed")
SOURCE_KINDS: tuple[str, ...] = ("upload", "dataset_episode", "live_run", "example")
#: Frames per record (the official VQA items have about 10-20) and bytes per encoded frame.
MAX_FRAMES = 256
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_TEXT_CHARS = 100_000


def _text(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise StoreError(f"{what}: expected a non-empty text, got {value!r}")
        return None
    if not isinstance(value, str):
        raise StoreError(f"{what}: expected text, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise StoreError(f"{what}: {len(value)} characters; expected at most {MAX_TEXT_CHARS}")
    return value.strip()


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise StoreError(f"{what}: expected one of {list(allowed)}, got {value!r:.60}")
    return value


@dataclass(frozen=True)
class FinalVersion:
    """The human's final answer for one record (all optional except ``success``).

    ``keyframe`` is 1-based into the record's frames; ``failed_subtask`` 1-based into ``subtasks``; ``symbols`` are
    canonical code dicts in normalised 0-1000 coordinates; ``image_size`` is ``(width, height)`` in pixels of the
    keyframe (needed to turn the symbols back into pixels).
    """

    success: bool
    keyframe: int | None = None
    failure_type: str | None = None
    failed_subtask: int | None = None
    subtasks: tuple[str, ...] = ()
    failure_reason: str | None = None
    low_level: str | None = None
    high_level: str | None = None
    symbols: tuple[dict[str, Any], ...] = ()
    image_size: tuple[int, int] | None = None

    @classmethod
    def from_symbols(cls, symbols: list[Symbol] | tuple[Symbol, ...], **kw: Any) -> FinalVersion:
        """Build from symbol objects (normalised coordinates)."""
        return cls(symbols=tuple(symbols_to_code(symbols)), **kw)

    def symbol_objects(self) -> list[Symbol]:
        return symbols_from_code(list(self.symbols))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["subtasks"] = list(self.subtasks)
        d["symbols"] = [dict(s) for s in self.symbols]
        d["image_size"] = list(self.image_size) if self.image_size else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FinalVersion:
        if not isinstance(d, dict):
            raise StoreError(f"final version: expected a JSON object, got {type(d).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        extra = set(d) - known
        if extra:
            raise StoreError(f"final version: unknown fields {sorted(extra)}; expected some of {sorted(known)}")
        if "success" not in d:
            raise StoreError("final version: expected a 'success' field (true or false)")
        size = d.get("image_size")
        return cls(
            **{
                **d,
                "subtasks": tuple(d.get("subtasks") or ()),
                "symbols": tuple(d.get("symbols") or ()),
                "image_size": tuple(size) if isinstance(size, (list, tuple)) else size,
            }
        )

    def validated(self, num_frames: int, *, default_size: tuple[int, int] | None = None) -> FinalVersion:
        """A checked, normalised copy; raises StoreError/SymbolError naming the first problem."""
        if not isinstance(self.success, bool):
            raise StoreError(f"final version success: expected true or false, got {self.success!r}")
        keyframe = self.keyframe
        if keyframe is not None and (
            isinstance(keyframe, bool) or not isinstance(keyframe, int) or not 1 <= keyframe <= num_frames
        ):
            raise StoreError(
                f"final version keyframe: expected a 1-based frame number in 1..{num_frames}, got {keyframe!r}"
            )
        if not self.success and keyframe is None:
            raise StoreError("final version keyframe: a failed task needs the keyframe (1-based frame number)")
        failure_type = self.failure_type or None
        if failure_type is not None:
            _choice(failure_type, FAILURE_TYPES, "final version failure_type")
        subtasks = tuple(self.subtasks)
        if not all(isinstance(s, str) and s.strip() for s in subtasks):
            raise StoreError("final version subtasks: expected a list of non-empty texts")
        if self.failed_subtask is not None and (
            not isinstance(self.failed_subtask, int)
            or isinstance(self.failed_subtask, bool)
            or not 1 <= self.failed_subtask <= max(len(subtasks), 0)
        ):
            raise StoreError(
                f"final version failed_subtask: expected a 1-based subtask number in 1..{len(subtasks)}, "
                f"got {self.failed_subtask!r}"
            )
        # Strict symbol reading: unknown keys, bad colours and out-of-range points are errors for human input.
        symbols = symbols_from_code([dict(s) if isinstance(s, dict) else s for s in self.symbols])
        check_symbols(symbols)
        size = self.image_size or default_size
        if size is not None and not (
            len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise StoreError(f"final version image_size: expected [width, height] in pixels, got {size!r}")
        return FinalVersion(
            success=self.success,
            keyframe=keyframe,
            failure_type=failure_type,
            failed_subtask=self.failed_subtask,
            subtasks=subtasks,
            failure_reason=_text(self.failure_reason, "final version failure_reason"),
            low_level=_text(self.low_level, "final version low_level"),
            high_level=_text(self.high_level, "final version high_level"),
            symbols=tuple(symbols_to_code(symbols)),
            image_size=(int(size[0]), int(size[1])) if size else None,
        )


Frame = bytes | np.ndarray


@dataclass
class NewCorrection:
    """Input of :meth:`CorrectionsStore.add`. Frames are encoded image bytes (JPEG/PNG) or RGB uint8 arrays."""

    task: str
    frames: list[Frame]
    mode: str = "avoidance"
    decision: str = "accepted"
    final: FinalVersion | None = None
    who: str = ""
    source_kind: str = "upload"
    source_ref: str = ""
    model_output: str | None = None
    model_diagnosis: dict[str, Any] | None = None
    review_status: str = "unreviewed"
    notes: str = ""

    def check_fields(self) -> None:
        """Everything except the frames' contents and the final version (checked by the store)."""
        _text(self.task, "task", required=True)
        _choice(self.mode, MODES, "mode")
        _choice(self.decision, DECISIONS, "decision")
        _choice(self.review_status, REVIEW_STATUSES, "review status")
        _choice(self.source_kind, SOURCE_KINDS, "source kind")
        if not isinstance(self.frames, (list, tuple)) or not self.frames:
            raise StoreError("frames: expected a non-empty list of images (encoded bytes or RGB arrays)")
        if len(self.frames) > MAX_FRAMES:
            raise StoreError(f"frames: {len(self.frames)} images; expected at most {MAX_FRAMES}")
        if self.decision == "accepted" and self.final is None:
            raise StoreError("an accepted correction needs the human's final version (FinalVersion)")
        for name in ("who", "source_ref", "notes"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise StoreError(f"{name}: expected text, got {type(value).__name__}")
        if self.model_output is not None:
            _text(self.model_output, "model output")
        if self.model_diagnosis is not None:
            if not isinstance(self.model_diagnosis, dict):
                raise StoreError(f"model diagnosis: expected a JSON object, got {type(self.model_diagnosis).__name__}")
            try:
                json.dumps(self.model_diagnosis)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"model diagnosis: expected JSON-serialisable values ({exc})") from None


@dataclass(frozen=True)
class Source:
    kind: str
    ref: str = ""


@dataclass(frozen=True)
class CorrectionRecord:
    """One stored correction, as read back from the database."""

    id: int
    created_at: str
    updated_at: str
    who: str
    source: Source
    task: str
    mode: str
    frames: tuple[str, ...]  # sha256 hex of each encoded frame, in model order
    model_output: str | None
    model_diagnosis: dict[str, Any] | None
    final: FinalVersion | None
    decision: str
    review_status: str
    notes: str
    revision: int
    frame_files: tuple[str, ...] = field(default=(), compare=False)  # paths relative to the data dir

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "who": self.who,
            "source": {"kind": self.source.kind, "ref": self.source.ref},
            "task": self.task,
            "mode": self.mode,
            "frames": list(self.frames),
            "frame_files": list(self.frame_files),
            "model_output": self.model_output,
            "model_diagnosis": self.model_diagnosis,
            "final": self.final.to_json() if self.final else None,
            "decision": self.decision,
            "review_status": self.review_status,
            "notes": self.notes,
            "revision": self.revision,
        }
