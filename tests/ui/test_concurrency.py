"""Accepts through the app under concurrency and a crash: nothing acknowledged is ever lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

from tests.ui.helpers import TASK, free_port, make_services
from vifailback_demo.imageio import read_image_rgb
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.ui import build_demo, launch

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60
# The eight-session test downloads every picture too: identical frames rendered at the same instant used to race on
# one gradio cache file ("Too little data for declared Content-Length"); ui/image_files.py hands pictures over as
# atomically written files, so every download must decode whole. The kill -9 test needs only the text outputs.


def accept_once(client: Client, clip: Path, task: str, *, pictures: bool = False) -> int:
    """Diagnose then accept; returns the acknowledged record id."""
    diagnosed = client.submit(video=handle_file(str(clip)), task=task, mode="avoidance", api_name="/diagnose").result(
        timeout=TIMEOUT_S
    )
    if pictures:  # the gallery's 10+ thumbnails and the keyframe picture, all downloaded
        assert check_pictures(diagnosed) >= 2, diagnosed
    message, _ = client.submit(
        "Failed", 2, "gripper state", "", None, "", "Close the right gripper.", "", api_name="/accept_anyway"
    ).result(timeout=TIMEOUT_S)
    return int(message.split("#")[1].split("*")[0])


def check_pictures(outputs: object) -> int:
    """Every downloaded picture in the outputs decodes whole; returns how many there were."""
    found = [outputs] if isinstance(outputs, str) else []
    if isinstance(outputs, list | tuple):
        found = [p for o in outputs for p in _paths(o)]
    for path in found:
        assert read_image_rgb(path).size, path
    return len(found)


def _paths(value: object) -> list[str]:
    if isinstance(value, str) and Path(value).suffix.lower() in (".png", ".webp", ".jpg") and Path(value).is_file():
        return [value]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in _paths(v)]
    return []


def test_eight_concurrent_accepts_lose_nothing(tmp_path: Path, clip: Path) -> None:
    services = make_services(tmp_path / "data")
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    results: dict[int, int] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            client = Client(
                demo.local_url,
                verbose=False,
                download_files=str(tmp_path / f"dl{i}"),
                httpx_kwargs={"timeout": TIMEOUT_S},
            )
            barrier.wait(timeout=TIMEOUT_S)
            results[i] = accept_once(client, clip, f"{TASK} #{i}", pictures=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert len(set(results.values())) == 8
        for i, record_id in results.items():
            record = services.corrections.get(record_id)
            assert record.task == f"{TASK} #{i}" and record.final.low_level == "Close the right gripper."
        assert services.corrections.store.count() == 8
    finally:
        demo.close()
        services.close()


def wait_for_server(url: str, proc: subprocess.Popen, deadline_s: float = 90) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"app exited early with {proc.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"app did not answer at {url} within {deadline_s} s")


def test_kill_9_during_a_burst_of_accepts_keeps_every_acknowledged_record(tmp_path: Path, clip: Path) -> None:
    data, port = tmp_path / "data", free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--backend", "scripted", "--data-dir", str(data), "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    acknowledged: dict[int, str] = {}
    lock, stop = threading.Lock(), threading.Event()
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_server(url, proc)

        def worker(w: int) -> None:
            client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": TIMEOUT_S})
            n = 0
            while not stop.is_set():
                task = f"burst {w}-{n}"
                try:
                    record_id = accept_once(client, clip, task)
                except Exception:
                    return  # the server died mid-call: that accept was never acknowledged
                with lock:
                    acknowledged[record_id] = task
                n += 1

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
        for t in threads:
            t.start()
        end = time.monotonic() + 60
        while len(acknowledged) < 12 and time.monotonic() < end:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of the burst
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    with lock:
        acked = dict(acknowledged)
    assert len(acked) >= 12, f"only {len(acked)} accepts were acknowledged before the kill"
    with CorrectionsStore(data) as store:
        assert store.integrity_check() == "ok"
        for record_id, task in acked.items():
            record = store.get(record_id)
            assert record.task == task and record.decision == "accepted"
            assert all(store.frame_path(rel).is_file() for rel in record.frame_files)
