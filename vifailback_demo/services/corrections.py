"""Corrections service: the UI's decisions (accept / reject / skip, re-edits, reviews) and exports, over the store.

One :class:`CorrectionsStore` is shared by all sessions (it is thread-safe and crash-safe). An accept returns only
after the record committed, so the id the UI shows is durable. Exports are written to a fresh temporary directory
and zipped there; Gradio serves files from the temp dir, so the zip can be downloaded without widening
``allowed_paths``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.errors import StoreError, ViFailbackError
from vifailback_demo.imageio import read_image_rgb
from vifailback_demo.services.agreement import AgreementReport, score
from vifailback_demo.services.thumbnails import ThumbnailCache
from vifailback_demo.store import CorrectionRecord, CorrectionsStore, FinalVersion, NewCorrection, Page
from vifailback_demo.store.export import ExportFilter, ExportResult, export
from vifailback_demo.store.vqa import derive_vqa

LIST_COLUMNS: tuple[str, ...] = ("id", "created", "decision", "review", "failure type", "task", "source", "rev")
#: Keyframe thumbnails shown above the table (the newest records first, like the table).
MAX_THUMBNAILS = 40
log = logging.getLogger(__name__)


def keyframe_of(record: CorrectionRecord) -> int:
    """1-based: the human's keyframe, else the model's (when it is a frame of this record), else the first frame."""
    for k in (record.final.keyframe if record.final else None, (record.model_diagnosis or {}).get("keyframe")):
        if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= len(record.frames):
            return k
    return 1


@dataclass
class Draft:
    """Everything about one diagnosed clip that a decision stores (frames in model order)."""

    task: str
    mode: str
    frames: list[np.ndarray]
    source_kind: str
    source_ref: str
    model_output: str | None
    model_diagnosis: dict[str, Any] | None


class CorrectionsService:
    def __init__(self, store: CorrectionsStore) -> None:
        self.store = store
        self.thumbs = ThumbnailCache()

    # --- decisions -------------------------------------------------------------------------------------------

    def decide(
        self, draft: Draft, decision: str, final: FinalVersion | None, *, who: str = "", also: Any = None
    ) -> int:
        """Store a new record; accepted ones need ``final``. Returns the id once committed.

        ``also(conn, record_id)`` runs in the same transaction (the review queue marks its clip done).
        """
        item = NewCorrection(
            task=draft.task,
            frames=list(draft.frames),
            mode=draft.mode,
            decision=decision,
            final=final,
            who=who,
            source_kind=draft.source_kind,
            source_ref=draft.source_ref[:500],
            model_output=draft.model_output or None,
            model_diagnosis=draft.model_diagnosis,
        )
        return self.store.add(item, also=also)

    def update(self, record_id: int, final: FinalVersion, *, who: str = "") -> CorrectionRecord:
        """A re-edit of a stored record: a new revision, marked accepted; the old version stays in history."""
        return self.store.update_final(record_id, final, who=who, decision="accepted")

    def mark_reviewed(self, record_id: int, *, who: str = "") -> CorrectionRecord:
        return self.store.mark_reviewed(record_id, who=who)

    # --- reading ---------------------------------------------------------------------------------------------

    def get(self, record_id: int) -> CorrectionRecord:
        return self.store.get(record_id)

    def frames(self, record: CorrectionRecord) -> list[np.ndarray]:
        # frame_paths() refuses a stored path that leads outside the images folder (one line naming the record).
        return [read_image_rgb(path) for _, path in self.store.frame_paths(record)]

    def vqa_pairs(self, record_id: int) -> list[dict[str, Any]]:
        """The VQA records an accepted record gives (image paths relative to the data dir, checked)."""
        record = self.store.get(record_id)
        return [pair.to_dict() for pair in derive_vqa(record, [name for name, _ in self.store.frame_paths(record)])]

    def page(
        self,
        *,
        decision: str | None = None,
        review_status: str | None = None,
        failure_type: str | None = None,
        search: str | None = None,
        limit: int = 200,
    ) -> Page:
        if search is not None and not isinstance(search, str):
            raise StoreError(f"search text: expected text, got {type(search).__name__}")
        # The store bounds the search length and the limit, escapes LIKE wildcards, and words the errors.
        return self.store.list(
            decision=decision or None,
            review_status=review_status or None,
            failure_type=failure_type or None,
            search=(search or "").strip() or None,
            limit=limit,
        )

    def table(self, **filters: Any) -> tuple[list[list[Any]], int]:
        """The listing's rows (:data:`LIST_COLUMNS`) and the number of records matching the filters."""
        page = self.page(**filters)
        return self.rows(page.records), page.total

    @staticmethod
    def rows(records: list[CorrectionRecord]) -> list[list[Any]]:
        return [
            [
                r.id,
                r.created_at[:19].replace("T", " "),
                r.decision,
                r.review_status,
                r.final.failure_type if r.final and r.final.failure_type else ("success" if r.final else ""),
                r.task,
                f"{r.source.kind}:{r.source.ref}"[:80],
                r.revision,
            ]
            for r in records
        ]

    def keyframe_thumbnails(
        self, records: list[CorrectionRecord], limit: int = MAX_THUMBNAILS
    ) -> list[tuple[int, np.ndarray, str]]:
        """``(record id, small keyframe, "#id decision")`` for the first ``limit`` records, in their order.

        A record whose keyframe file is missing or unsafe is left out (its one-line error is logged): one damaged
        record must not hide the others' thumbnails.
        """
        out = []
        for record in records[:limit]:
            k = keyframe_of(record)
            try:
                thumb = self.thumbs.get(record.frames[k - 1], lambda r=record, k=k: self._read_frame(r, k))
            except ViFailbackError as exc:
                log.warning("no thumbnail for record %s: %s", record.id, exc)
                continue
            out.append((record.id, thumb, f"#{record.id} {record.decision}"))
        return out

    def _read_frame(self, record: CorrectionRecord, k: int) -> np.ndarray:
        # Only the keyframe's path is checked (inside images/, file present), not all of the record's frames.
        _, path = self.store.images.checked(record.frame_files[k - 1], owner=f"record {record.id}")
        return read_image_rgb(path)

    def stats_markdown(self) -> str:
        stats = self.store.stats()
        # Only accepted records carry a human's answer: rejected and skipped ones are counted by decision only.
        outcomes = stats["accepted_by_outcome"]
        named = ["success", *FAILURE_TYPES]
        types = " | ".join(f"{t}: {outcomes.get(t, 0)}" for t in named)
        other = " | ".join(f"{t}: {n}" for t, n in sorted(outcomes.items()) if t not in named)
        decisions = " | ".join(f"{k}: {v}" for k, v in sorted(stats["by_decision"].items())) or "none yet"
        reviews = " | ".join(f"{k}: {v}" for k, v in sorted(stats["by_review_status"].items())) or "none yet"
        return (
            f"**{stats['total']} records.** Accepted, by outcome - {types}{' | ' + other if other else ''}"
            f"  \nBy decision - {decisions}  \nBy review status - {reviews}"
        )

    def agreement(self) -> AgreementReport:
        """How often reviewers who decided the same clip agree (see services/agreement.py)."""
        return score(self.store.reviewer_groups())

    # --- export ----------------------------------------------------------------------------------------------

    def export_zip(
        self,
        fmt: str,
        *,
        reviewed_only: bool = False,
        failure_type: str | None = None,
        push_to_hub: str | None = None,
    ) -> tuple[Path, ExportResult]:
        """Export into a new temp dir and zip it there; returns (zip path, result)."""
        if push_to_hub is not None and fmt != "hf":
            raise StoreError("pushing to the Hub works with the Hugging Face format only")
        flt = ExportFilter(reviewed_only=reviewed_only, failure_type=failure_type or None)
        work = Path(tempfile.mkdtemp(prefix="vifailback-export-"))
        name = f"vifailback_corrections_{fmt}"
        try:
            result = export(self.store, fmt, work / name, flt, push_to_hub=push_to_hub)
            archive = shutil.make_archive(str(work / name), "zip", root_dir=work, base_dir=name)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(work / name, ignore_errors=True)  # the zip holds it all
        return Path(archive), result
