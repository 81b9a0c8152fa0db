"""A watchdog for the live loop: a call that does not return, or a probe that reports silence, fires once.

The control loop makes its robot and policy calls on its own thread, wrapped in :meth:`Watchdog.watch`; a monitor
thread wakes every ``poll_s`` and fires ``on_fire(reason)`` when one of those calls has been running longer than
``timeout_s``, or when a probe (for example "has the camera delivered a frame lately?") returns a reason. The
caller stays blocked in its hung call (Python cannot interrupt it): the supervisor holds the robot and moves to
ERROR from ``on_fire``, and the loop, when the call finally returns, sees ERROR and sends nothing more.

It fires at most once per :meth:`rearm`, so one hang is one error, not a stream of them.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

Probe = Callable[[], str | None]


class Watchdog:
    """``with dog.watch("policy infer()"): client.infer(obs)``; ``dog.add_probe(fn)``; ``dog.start()`` / ``close()``."""

    def __init__(self, timeout_s: float, on_fire: Callable[[str], None], *, poll_s: float | None = None) -> None:
        if not timeout_s > 0:
            raise ValueError(f"watchdog timeout must be > 0 seconds, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s) if poll_s else min(0.05, self.timeout_s / 10)
        self._on_fire = on_fire
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()
        self._probes: list[Probe] = []
        self._fired: str | None = None
        self._halt: threading.Event | None = None

    # ---- what the loop uses --------------------------------------------------------------------------------------
    @contextmanager
    def watch(self, what: str) -> Iterator[None]:
        """Time one call; if it runs past ``timeout_s`` the watchdog fires with ``what`` in the reason."""
        token = next(self._ids)
        with self._lock:
            self._calls[token] = (what, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                self._calls.pop(token, None)

    def busy(self, prefix: str = "") -> bool:
        """Whether a watched call whose name starts with ``prefix`` is in progress."""
        with self._lock:
            return any(what.startswith(prefix) for what, _ in self._calls.values())

    def oldest_call(self) -> float | None:
        """``time.monotonic()`` when the oldest watched call in progress began, or None when none is."""
        with self._lock:
            return min((started for _, started in self._calls.values()), default=None)

    def add_probe(self, probe: Probe) -> None:
        """``probe()`` runs on the monitor thread every poll; a non-empty string it returns is a reason to fire."""
        self._probes.append(probe)

    @property
    def fired(self) -> str | None:
        return self._fired

    def rearm(self) -> None:
        """Allow the next firing (a new run); calls still hung from an earlier run are forgotten."""
        with self._lock:
            self._fired = None
            self._calls.clear()

    # ---- the monitor thread --------------------------------------------------------------------------------------
    def start(self) -> Watchdog:
        """Start a monitor thread (one per run; a previous one is told to end)."""
        with self._lock:
            if self._halt is not None:
                self._halt.set()
            halt = self._halt = threading.Event()
        threading.Thread(target=self._run, args=(halt,), name="live-watchdog", daemon=True).start()
        return self

    def close(self) -> None:
        """End the monitor thread (it leaves within one poll; nothing waits for it, so any thread may call this)."""
        with self._lock:
            if self._halt is not None:
                self._halt.set()
                self._halt = None

    def poll(self) -> str | None:
        """One look (the monitor thread calls this; tests may too): the reason it fired now, or None."""
        if self._fired is not None:
            return None
        now = time.monotonic()
        reason = None
        with self._lock:
            for what, started in self._calls.values():
                if now - started > self.timeout_s:
                    reason = f"watchdog: {what} did not return within {self.timeout_s:g} s"
                    break
        if reason is None:
            for probe in list(self._probes):
                try:
                    reason = probe()
                except Exception as exc:  # a broken probe must not kill the monitor
                    log.exception("watchdog probe failed")
                    reason = f"watchdog: a probe failed: {exc}"
                if reason:
                    break
        if not reason:
            return None
        with self._lock:
            if self._fired is not None:
                return None
            self._fired = reason
        try:
            self._on_fire(reason)
        except Exception:
            log.exception("watchdog on_fire callback failed")
        return reason

    def _run(self, halt: threading.Event) -> None:
        while not halt.wait(self.poll_s):
            self.poll()
