"""The live run's event log: every check, proposal, decision and execution, with timestamps, in memory and JSONL.

One event is a flat JSON object: ``{"event": "check", "run_id": ..., "time": "2025-...Z", "t_s": 12.345, ...}``
where ``t_s`` is monotonic seconds since the log was created (so delays between events are exact) and ``time`` is
the wall clock in UTC (to line a run up with other records). Events are appended to ``path`` (one line each,
flushed at once) so a killed process leaves a readable log; numpy values are written as plain numbers and lists.

Event names written by the supervisor (``supervisor.py`` documents their fields): ``run_started``, ``state``,
``check_submitted``, ``check_skipped``, ``check``, ``check_discarded``, ``proposal``, ``decision``,
``execution``, ``error``, ``run_ended``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, tuples, dataclasses, paths; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.ndim >= 3:  # an image: never dump pixels into a log
            return {"image_shape": list(value.shape)}
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Path):
        return str(value)
    return str(value)


class RunLog:
    """Thread-safe event log; ``path`` (optional) receives one JSON line per event, flushed."""

    def __init__(self, path: str | Path | None = None, *, on_event: Callable[[dict[str, Any]], None] | None = None):
        self.path = Path(path) if path is not None else None
        self._on_event = on_event
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns it (as stored: JSON-safe)."""
        now = time.monotonic()
        record = {
            "event": event,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "t_s": round(now - self._t0, 6),
            **jsonable(fields),
        }
        with self._lock:
            self._events.append(record)
            if self._file is not None:
                try:
                    self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
                    self._file.flush()
                except (OSError, ValueError):  # a full disk or a closed file must not stop the robot loop
                    log.exception("could not write the live event log to %s", self.path)
        if self._on_event is not None:
            try:
                self._on_event(record)
            except Exception:
                log.exception("a live event callback failed")
        return record

    @property
    def events(self) -> list[dict[str, Any]]:
        """A copy of every event so far, oldest first."""
        with self._lock:
            return list(self._events)

    def of(self, event: str) -> list[dict[str, Any]]:
        """The events named ``event``, oldest first."""
        with self._lock:
            return [e for e in self._events if e["event"] == event]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Read an ``events.jsonl`` back (a torn last line from a killed process is skipped)."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
