"""Every live intervention becomes a correction record, so it exports as VQA training pairs like any other.

A record holds what the model saw (the proposal's frames, in model order), its raw output and parsed diagnosis,
the human's final version (the accepted :class:`~vifailback_demo.live.base.Correction`, possibly edited) and the
decision, under source kind ``live_run`` with ``source_ref = "<run id>:check<N>"``. The store has no column for
the live facts (executor, robot frame, check latency, reviewer, and whether the robot then succeeded), so they go
into ``notes`` as one JSON object under the key ``"live"``; :func:`live_notes` reads it back.

An accepted record's final version says "Failed" with the accepted keyframe, failure type, low-level command and
symbols (normalised 0-1000, as the model writes them), in the correction mode: exactly what
:mod:`~vifailback_demo.store.vqa` needs for the detection, CoT-correction, failure-type and low-level pairs. A
rejected (or skipped) proposal is stored without a final version, as the Diagnose tab stores a rejection.

When the outcome is known only later (the episode ends after the record was written), :func:`update_outcome`
writes it as a new revision of the notes; the earlier revision stays in the record's history.
"""

from __future__ import annotations

import json
from typing import Any

from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.errors import StoreError
from vifailback_demo.live.base import Correction, Proposal
from vifailback_demo.store import CorrectionRecord, CorrectionsStore, FinalVersion, NewCorrection

SOURCE_KIND = "live_run"
#: Decision words the supervisor or a UI may use -> the store's decisions.
_DECISIONS = {
    "accept": "accepted",
    "accepted": "accepted",
    "auto": "accepted",
    "reject": "rejected",
    "rejected": "rejected",
    "skip": "skipped",
    "skipped": "skipped",
    "stop": "skipped",
    "stopped": "skipped",
    "auto_refused": "skipped",  # auto-accept's executor refused the proposal: nothing was executed
}


def source_ref(run_id: str, check: int) -> str:
    return f"{run_id}:check{int(check)}"


def store_decision(decision: str) -> str:
    """'accept'/'accepted'/'auto' -> 'accepted', 'reject(ed)' -> 'rejected', 'skip'/'stop' -> 'skipped'."""
    key = str(decision).strip().lower()
    if key not in _DECISIONS:
        raise StoreError(f"live decision: expected one of {sorted(_DECISIONS)}, got {decision!r:.40}")
    return _DECISIONS[key]


def final_version(correction: Correction, proposal: Proposal) -> FinalVersion:
    """The human's final version of a proposal: failed, with the accepted keyframe, type, command and symbols."""
    n = len(proposal.frames)
    if not 1 <= correction.keyframe <= n:
        raise StoreError(f"correction keyframe {correction.keyframe} is outside the proposal's {n} frames")
    image = proposal.frames[correction.keyframe - 1]
    return FinalVersion(
        success=False,
        keyframe=int(correction.keyframe),
        failure_type=correction.failure_type or None,
        low_level=correction.low_level,
        symbols=tuple(symbols_to_code(list(correction.symbols))),
        image_size=(int(image.shape[1]), int(image.shape[0])),
    )


def live_notes(record: CorrectionRecord) -> dict[str, Any]:
    """The live facts of a record written here ({} for any other record)."""
    try:
        data = json.loads(record.notes) if record.notes else {}
    except json.JSONDecodeError:
        return {}
    live = data.get("live") if isinstance(data, dict) else None
    return live if isinstance(live, dict) else {}


def _notes(live: dict[str, Any]) -> str:
    return json.dumps({"live": live}, sort_keys=True)


def record_intervention(
    store: CorrectionsStore,
    run_id: str,
    proposal: Proposal,
    correction: Correction | None,
    decision: str,
    executor: str | None,
    succeeded: bool | None,
    task: str,
    reviewer: str = "",
    *,
    mode: str = "correction",
    extra: dict[str, Any] | None = None,
) -> int:
    """Store one proposal and what the human did with it; returns the record id once committed.

    ``correction``: the accepted (possibly edited) version, required when ``decision`` accepts; ``executor``: "vsf"
    | "pmc" (None when nothing was executed); ``succeeded``: whether the robot then completed the task (None: not
    known yet, see :func:`update_outcome`); ``extra``: more JSON-safe facts for the notes (e.g. the simulator's
    ground truth).
    """
    stored = store_decision(decision)
    if stored == "accepted" and correction is None:
        raise StoreError("an accepted live intervention needs the accepted correction")
    if not run_id or not isinstance(run_id, str):
        raise StoreError(f"run id: expected a non-empty text, got {run_id!r:.40}")
    final = final_version(correction, proposal) if stored == "accepted" and correction is not None else None
    diagnosis = proposal.diagnosis
    live = {
        "run_id": run_id,
        "check": int(proposal.check),
        "robot_frame": int(proposal.robot_frame),
        "latency_s": round(float(proposal.latency_s), 6),
        "decision": stored,
        "executor": executor if stored == "accepted" else None,
        "reviewer": reviewer or (correction.reviewer if correction is not None else ""),
        "succeeded": succeeded,
        **(extra or {}),
    }
    item = NewCorrection(
        task=task,
        frames=list(proposal.frames),
        mode=mode,
        decision=stored,
        final=final,
        who=live["reviewer"],
        source_kind=SOURCE_KIND,
        source_ref=source_ref(run_id, proposal.check),
        model_output=diagnosis.raw_text or None,
        model_diagnosis=diagnosis.to_dict(),
        notes=_notes(live),
    )
    return store.add(item)


def update_outcome(store: CorrectionsStore, record_id: int, succeeded: bool, *, who: str = "") -> CorrectionRecord:
    """Write whether the robot then succeeded into a live record's notes (a new revision of the record).

    Records with a final version (accepted) are re-saved with the same final version; a rejected record has none,
    and the store can change notes only together with a final version, so those need ``store.update_notes`` (used
    when the store has it; else a one-line StoreError).
    """
    if not isinstance(succeeded, bool):
        raise StoreError(f"succeeded: expected true or false, got {succeeded!r:.40}")
    record = store.get(record_id)
    if record.source.kind != SOURCE_KIND:
        raise StoreError(f"record {record_id} is not a live intervention (source {record.source.kind!r})")
    notes = _notes({**live_notes(record), "succeeded": succeeded})
    if record.final is not None:
        return store.update_final(record_id, record.final, who=who, notes=notes)
    update_notes = getattr(store, "update_notes", None)
    if update_notes is None:
        raise StoreError(
            f"record {record_id} has no final version ({record.decision}); this store cannot change its notes alone"
        )
    return update_notes(record_id, notes, who=who)
