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

A whole run: :func:`record_run` stores every ``Supervisor.interventions`` entry (accept/auto -> accepted,
reject -> rejected, auto_refused or no decision -> skipped, so an unreviewed proposal waits in the Corrections tab).
:func:`record_once` stores one intervention unless that run's check is already stored, so a caller may record
each decision as it happens and still call :func:`record_run` at the end without duplicates.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.errors import StoreError
from vifailback_demo.live.base import Correction, Proposal
from vifailback_demo.live.config import Intervention
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
#: Held from "is this check already stored?" to its insert (record_once), so two threads never both insert it.
_RECORD_LOCK = threading.Lock()


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

    Records with a final version (accepted) are re-saved with the same final version (an "edit" revision); one
    without (rejected, skipped) gets a "notes" revision (``store.update_notes``).
    """
    if not isinstance(succeeded, bool):
        raise StoreError(f"succeeded: expected true or false, got {succeeded!r:.40}")
    record = store.get(record_id)
    if record.source.kind != SOURCE_KIND:
        raise StoreError(f"record {record_id} is not a live intervention (source {record.source.kind!r})")
    notes = _notes({**live_notes(record), "succeeded": succeeded})
    if record.final is not None:
        return store.update_final(record_id, record.final, who=who, notes=notes)
    return store.update_notes(record_id, notes, who=who)


def _interventions(source: Any) -> list[Intervention]:
    items = source.interventions if hasattr(source, "interventions") else source
    try:
        items = list(items)
    except TypeError:
        raise StoreError(
            f"interventions: expected a Supervisor or a list of Intervention, got {type(source).__name__}"
        ) from None
    for item in items:
        if not isinstance(item, Intervention):
            raise StoreError(f"interventions: expected Intervention items, got {type(item).__name__}")
    return items


def _planned(
    intervention: Intervention, reviewer_default: str, extra: dict[str, Any] | None
) -> tuple[str, Correction | None, str | None, str, dict[str, Any]]:
    """(store decision, correction, executor, reviewer, extra) of one intervention, checked before any write."""
    decision = store_decision(intervention.decision or "skipped")  # "": no decision (stopped / awaiting review)
    correction = intervention.correction if decision == "accepted" else None
    if decision == "accepted":
        if correction is None:
            raise StoreError(f"check {intervention.proposal.check}: accepted without a correction")
        final_version(correction, intervention.proposal)  # raises on a keyframe outside the proposal's frames
    executor = correction.executor if correction is not None else None
    reviewer = intervention.reviewer or (correction.reviewer if correction is not None else "") or reviewer_default
    facts = {**(extra or {}), "supervisor_decision": intervention.decision or None}
    if intervention.interrupted:
        facts["interrupted"] = True
    try:
        json.dumps(facts)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"extra live facts must be JSON-safe: {exc}") from None
    return decision, correction, executor, reviewer, facts


def _checked_outcome(succeeded: object) -> None:
    if succeeded is not None and not isinstance(succeeded, bool):
        raise StoreError(f"succeeded: expected true, false or None, got {succeeded!r:.40}")


def record_once(
    store: CorrectionsStore,
    run_id: str,
    intervention: Intervention,
    task: str,
    succeeded: bool | None = None,
    *,
    reviewer_default: str = "",
    extra: dict[str, Any] | None = None,
    mode: str = "correction",
) -> tuple[int, bool]:
    """Store one intervention unless its run already has a record for that check: ``(record id, newly written)``.

    Call it as each decision happens, then :func:`record_run` at the end: no duplicates (found by source
    ``"<run id>:check<N>"``). An existing record is left as it was, except that a known ``succeeded`` is written
    into it (:func:`update_outcome`) when it does not know the outcome yet. Safe between threads of one process;
    two processes recording the same run id at once could both write (run ids are per process).
    """
    _checked_outcome(succeeded)
    if not isinstance(intervention, Intervention):
        raise StoreError(f"intervention: expected an Intervention, got {type(intervention).__name__}")
    decision, correction, executor, reviewer, facts = _planned(intervention, reviewer_default, extra)
    with _RECORD_LOCK:
        existing = store.ids_by_source(SOURCE_KIND, source_ref(run_id, intervention.proposal.check))
        if not existing:
            rid = record_intervention(
                store, run_id, intervention.proposal, correction, decision, executor, succeeded, task, reviewer,
                mode=mode, extra=facts,
            )  # fmt: skip
            return rid, True
    rid = existing[0]
    if succeeded is not None and live_notes(store.get(rid)).get("succeeded") is None:
        update_outcome(store, rid, succeeded, who=reviewer_default)
    return rid, False


def record_run(
    store: CorrectionsStore,
    supervisor_or_interventions: Any,
    run_id: str,
    task: str,
    succeeded: bool | None,
    *,
    reviewer_default: str = "",
    extra: dict[str, Any] | None = None,
    mode: str | None = None,
) -> list[int]:
    """Store every intervention of a run (``Supervisor`` or a list of :class:`Intervention`): one record id each.

    Decisions: ``accept`` / ``auto`` -> accepted with the correction (executor: the correction's), ``reject`` ->
    rejected, ``auto_refused`` and no decision (the run stopped first, or awaits review) -> skipped, so it shows up
    for review. ``extra`` (JSON-safe, e.g. the simulator's injected failure) goes into every record's notes, with
    ``"interrupted": true`` for an execution cut short and ``"supervisor_decision"`` (the supervisor's own word).
    ``mode`` defaults to the supervisor's ``config.mode`` (else "correction").

    Every intervention is checked before the first write (bad input stores nothing), and already stored ones are
    skipped (:func:`record_once`), so running it again after a failed write completes the run without duplicates.
    """
    _checked_outcome(succeeded)
    if mode is None:
        mode = getattr(getattr(supervisor_or_interventions, "config", None), "mode", None) or "correction"
    items = _interventions(supervisor_or_interventions)
    for item in items:
        _planned(item, reviewer_default, extra)
    return [
        record_once(store, run_id, item, task, succeeded, reviewer_default=reviewer_default, extra=extra, mode=mode)[0]
        for item in items
    ]
