"""Helpers for the UI tests: generated H.264 clips, free ports, services on a tmp dir, driving the run handler."""

from __future__ import annotations

import socket
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vifailback_demo.services import Services, build_services
from vifailback_demo.services.config import AppConfig

TASK = "Use the right arm to stack the blue block on the yellow block."


def write_clip(path: Path, *, seconds: float = 3.0, fps: int = 25, size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 yuv420p mp4 of a moving square (what a browser or phone would upload)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(int(seconds * fps)):
            image = np.full((height, width, 3), 90, np.uint8)
            x = 20 + i * 2
            image[100:140, x : x + 40] = (40, 120, 230)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_services(data_dir: Path, **config) -> Services:
    config.setdefault("backend", "scripted")
    config.setdefault("scripted_delay_s", 0.0)
    return build_services(AppConfig(data_dir=data_dir, **config))


def run_to_end(handlers, *args) -> dict:
    """Drive the streaming run handler to its last update (the result), merging the streamed ones."""
    merged: dict = {}
    for update in handlers.run(*args):
        merged.update(update)
    return merged


CLIENT_TIMEOUT_S = 60


def start_app(services: Services, *, login: tuple[str, str] | None = None, **launch_overrides):
    """The app launched on a free port (no browser) and a gradio_client session on it: (demo, client)."""
    from gradio_client import Client

    from vifailback_demo.ui import build_demo, launch

    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_overrides)
    client = Client(demo.local_url, auth=login, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})
    return demo, client


def call(client, *args, api_name: str) -> tuple[object, list[str]]:
    """One API call: (its result, or the exception it raised; the gr.Warning/gr.Info lines it showed)."""
    job = client.submit(*args, api_name=api_name)
    try:
        result: object = job.result(timeout=CLIENT_TIMEOUT_S)
    except Exception as exc:  # the caller asserts on it
        result = exc
    shown = []
    while not job.communicator.updates.empty():  # the job is done: nothing else writes to the queue now
        update = job.communicator.updates.get_nowait()
        if getattr(update, "log", None):
            shown.append(update.log[0])
    return result, shown
