"""The model thread: closing it can wait for a check still in the model (before exit, between episodes)."""

from __future__ import annotations

import threading
import time

import numpy as np

from vifailback_demo.live.checks import CheckJob, CheckWorker


class SlowDiagnoser:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.entered, self.finished = seconds, threading.Event(), threading.Event()

    def diagnose(self, frames, task, mode):
        self.entered.set()
        time.sleep(self.seconds)
        self.finished.set()
        raise RuntimeError("no answer")  # reported as the check's error; the worker goes on


def _job() -> CheckJob:
    frame = np.zeros((8, 8, 3), np.uint8)
    return CheckJob(1, 1, "task", "correction", [frame], [0], 0, 0, 0, time.monotonic())


def test_close_waits_for_the_check_in_the_model_when_asked() -> None:
    results = []
    slow = SlowDiagnoser(0.5)
    worker = CheckWorker(slow, results.append)
    assert worker.submit(_job())
    assert slow.entered.wait(5)
    assert worker.close(wait_s=5.0) is True  # returned only once the model call ended and the thread left
    assert slow.finished.is_set() and len(results) == 1 and results[0].error == "no answer"


def test_close_without_waiting_returns_at_once_while_the_model_runs() -> None:
    slow = SlowDiagnoser(0.5)
    worker = CheckWorker(slow, lambda result: None)
    worker.submit(_job())
    assert slow.entered.wait(5)
    started = time.monotonic()
    assert worker.close() is False and time.monotonic() - started < 0.2
    assert worker.close(wait_s=5.0) is True
