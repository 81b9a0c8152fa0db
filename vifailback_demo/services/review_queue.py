"""The review queue service: hand each reviewer the next clip, already diagnosed (no gradio here).

A reviewer session holds two clips: the one being edited and the next one, which a background worker diagnoses
meanwhile (pre-fetch). When the reviewer decides, the next clip is usually ready, so moving on costs a database
claim and no model time. The worker shares the model with the Diagnose button: :meth:`DiagnosisService.run` holds
the model lock while generating, so a pre-fetch waits its turn like any run ("on the model queue"). If the clip a
reviewer needs now has not started yet, it is diagnosed at once in the reviewer's own request instead of waiting
behind other sessions' pre-fetches.

Claims and decisions live in the store (``store/queue.py``), so the queue survives a restart, and several
reviewers never hold the same clip.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.services.diagnosis import DiagnosisService
from vifailback_demo.services.queue_source import QueueClip, list_clips
from vifailback_demo.services.truth import truth_answer
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.store.queue import QueueEntry, QueueItem, QueueProgress, QueueTable
from vifailback_demo.video.reader import SampledFrames

log = logging.getLogger(__name__)

#: A clip claimed and then left alone this long (a closed laptop, a lost tab) goes back to the queue.
DEFAULT_LEASE_S = 1800.0
#: The mode a queue diagnoses in (the reviewer may switch and run again).
QUEUE_MODE = "avoidance"


@dataclass
class PreparedClip:
    """One queue clip ready for editing: its frames and the model's diagnosis (or why there is none)."""

    item: QueueItem
    clip: QueueClip | None
    sampled: SampledFrames | None = None
    diagnosis: Diagnosis | None = None
    error: str = ""
    prepare_s: float = 0.0  # seconds the sampling and the model took (pre-fetched or not)


class ReviewQueue:
    def __init__(
        self,
        folder: str | Path,
        store: CorrectionsStore,
        diagnosis: DiagnosisService,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        prefetch: bool = True,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.name = str(self.folder)
        self.diagnosis = diagnosis
        self.lease_s = lease_s
        self.prefetch = prefetch
        clips = list_clips(self.folder)
        self.clips = {c.ref: c for c in clips}  # refs are unique: a queue is a folder or a dataset, not both
        self.table = QueueTable(store.db)
        self.table.sync(self.name, [QueueEntry(c.kind, c.ref, c.task) for c in clips])
        self.epoch = uuid.uuid4().hex  # claims from an earlier server process are told apart by this
        self._jobs: dict[int, Future[PreparedClip]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-prefetch")
        self._closed = False

    # --- reviewing -------------------------------------------------------------------------------------------

    def next(self, owner: str, reviewer: str) -> PreparedClip | None:
        """The clip this session should edit now (diagnosed), or None when every clip is done or held by others.

        Claims this clip and, with pre-fetch on, the one after it, whose diagnosis starts in the background.
        """
        held = self.table.claim(
            self.name, owner, reviewer, epoch=self.epoch, lease_s=self.lease_s, hold=2 if self.prefetch else 1
        )
        if not held:
            return None
        current, ahead = held[0], held[1:]
        with self._lock:
            job = self._jobs.pop(current.id, None)
            if job is not None and job.cancel():  # queued behind other pre-fetches: do it here, now
                job = None
        for item in ahead:
            self._submit(item)
        return job.result() if job is not None else self._prepare(current)

    def progress(self) -> QueueProgress:
        return self.table.progress(self.name)

    def release(self, owner: str) -> int:
        """A session ended (its tab closed): its clips go back to the queue, their pre-fetches are dropped."""
        held = [item.id for item in self.table.items(self.name) if item.owner == owner and item.status == "claimed"]
        with self._lock:
            for item_id in held:
                job = self._jobs.pop(item_id, None)
                if job is not None:
                    job.cancel()
        return self.table.release(owner)

    def completer(self, item_id: int, reviewer: str, decision: str):
        """The store hook that marks a clip done in the transaction storing its decision (``store/queue.py``)."""
        return self.table.completer(item_id, reviewer, decision)

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- preparing -------------------------------------------------------------------------------------------

    def _submit(self, item: QueueItem) -> None:
        with self._lock:
            if item.id not in self._jobs and not self._closed:
                self._jobs[item.id] = self._pool.submit(self._prepare, item)

    def _prepare(self, item: QueueItem) -> PreparedClip:
        """Sample the clip and run the model on it; a failure is kept as ``error`` (the reviewer sees it)."""
        started = time.perf_counter()
        clip = self.clips.get(item.source_ref)
        out = PreparedClip(item=item, clip=clip)
        if clip is None:
            out.error = f"{item.source_ref} is no longer in the queue folder; skip it"
            return out
        try:
            out.sampled = self.diagnosis.sample(clip.source)
            task = item.task or clip.task
            if not task:
                out.error = "this clip has no task text (no sidecar .txt or tasks.json entry): type it and press Run"
                return out
            answer = None
            if clip.truth is not None and clip.root is not None and self.diagnosis.is_scripted:
                answer = truth_answer(clip.truth, clip.root, list(out.sampled.timestamps_s), QUEUE_MODE)
            for result in self.diagnosis.run(out.sampled, task, QUEUE_MODE, scripted_answer=answer):
                if isinstance(result, Diagnosis):
                    out.diagnosis = result
        except ViFailbackError as exc:
            out.error = str(exc)
        except Exception as exc:  # a bug must not kill the worker; the reviewer sees a line, the log the rest
            log.exception("preparing queue clip %s failed", item.source_ref)
            out.error = f"preparing this clip failed ({type(exc).__name__}); skip it or run it again"
        out.prepare_s = time.perf_counter() - started
        return out
