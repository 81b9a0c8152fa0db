"""The data directory is never served, and no message tells a client where the server keeps its files.

A launched app with its data dir under tmp_path: diagnose a bundled example, accept, send to the outbox, reopen,
then ask for every file under the data dir (the SQLite file, its WAL, the stored frames, the outbox) through every
route gradio 6 has that reads a file by a path in the URL (routes.py: ``/gradio_api/file=``, the deprecated
``/gradio_api/file/``, ``/static/``, ``/assets/``, ``/svelte/``; and the same without the prefix), by absolute
path, URL-encoded, and with ``..`` from the working directory, the temp dir, gradio's upload folder and the served
assets. Requests go out raw (``http.client``), so no client library tidies a ``..`` away before the server sees it.
"""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file

from tests.ui.helpers import call, make_services, start_app
from vifailback_demo.services.config import ASSETS_DIR, EXAMPLES_DIR

LOW = "Move the right gripper to the left significantly."


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple]:
    services = make_services(tmp_path / "data")
    demo, client = start_app(services)
    yield services, demo, client
    demo.close()
    services.close()


def _private_dirs(data_dir: Path) -> list[str]:
    return sorted({str(data_dir), str(data_dir.resolve()), get_upload_folder(), tempfile.gettempdir()})


def _diagnose_accept_send(client) -> int:
    (video, task, *_), _ = call(client, "gripper_state", api_name="/pick_example")
    out, _ = call(client, handle_file(video), task, "avoidance", api_name="/diagnose")
    assert isinstance(out, tuple), out
    fields = ("Failed", 2, "gripper state", "Reach the mug.\nClose the gripper.", 2, "It slipped.", LOW, "Grasp.")
    (message, _), _ = call(client, *fields, api_name="/accept_anyway")
    return int(message.split("#")[1].split("*")[0])


def _variants(path: Path) -> list[str]:
    """Ways to spell ``path`` in a URL: absolute, relative with ``..`` from where the server might resolve it."""
    cwd, p = os.getcwd(), str(path)
    spellings = {p, "/" + p, p.replace("/", "//"), os.path.relpath(p, cwd), "./" + os.path.relpath(p, cwd)}
    for base in (tempfile.gettempdir(), get_upload_folder(), str(ASSETS_DIR), str(EXAMPLES_DIR), cwd):
        spellings.add(f"{base}/{os.path.relpath(p, base)}")  # e.g. /tmp/gradio/../pytest-of-x/.../data/file
    return sorted(spellings)


def _urls(path: Path) -> list[str]:
    urls = []
    for spelling in _variants(path):
        for text in (spelling, quote(spelling, safe="/"), quote(spelling, safe=""), spelling.replace(".", "%2E")):
            for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/", "/file/"):
                urls.append(prefix + text)
        up = "../" * 12 + str(path).lstrip("/")  # static file routes joined under gradio's own folders
        for prefix in ("/static/", "/assets/", "/svelte/", "/gradio_api/static/"):
            urls += [prefix + up, prefix + quote(up, safe=""), prefix + up.replace(".", "%2E")]
    return urls


class _Raw:
    """Requests sent exactly as written (no normalisation of "..", no re-encoding), on one kept-alive connection."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def fetch(self, url: str, method: str = "GET") -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                self.conn.request(method, url)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed the kept-alive connection: one retry on a new one
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _leaks(status: int, body: bytes, content: bytes) -> bool:
    # A prefix is enough: the SQLite file and its WAL may change between reading them here and the request.
    return status == 200 and (body == content or (len(content) >= 64 and body[:64] == content[:64]))


def test_no_file_of_the_data_dir_is_served_by_any_route(app) -> None:
    services, demo, client = app
    record_id = _diagnose_accept_send(client)
    send, _ = call(client, api_name="/send_to_vla")
    assert isinstance(send, str) and "correction_" in send, send
    reopened, _ = call(client, record_id, api_name="/reopen")
    assert isinstance(reopened, tuple), reopened
    gallery, editor_image = reopened[2], reopened[3]  # frames read from the store reach the page as copies
    assert len(gallery) >= 2 and Path(editor_image).stat().st_size > 0
    raw = _Raw(demo.local_url)
    clip = services.examples.get("gripper_state").clip  # the control: a served file is fetched by this harness
    assert _leaks(*raw.fetch(f"/gradio_api/file={clip}"), clip.read_bytes())
    files = sorted(p for p in services.config.data_dir.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"corrections.sqlite3", "corrections.sqlite3-wal", "correction_1_r1.json", "correction_1_r1.png"} <= names
    assert any(p.parent.parent.name == "images" for p in files), "stored frames expected under images/"
    served: list[str] = []
    for path in files:
        content = path.read_bytes()
        for url in _urls(path):
            if _leaks(*raw.fetch(url), content):
                served.append(f"GET {url}")
            if url.startswith("/gradio_api/file") and raw.fetch(url, "HEAD")[0] == 200:  # the routes with HEAD
                served.append(f"HEAD {url}")
    assert not served, f"{len(served)} requests served the data dir, e.g. {served[:5]}"


def test_outbox_message_names_files_not_server_folders(app) -> None:
    services, _, client = app
    _diagnose_accept_send(client)
    message, _ = call(client, api_name="/send_to_vla")
    assert "correction_1_r1.json" in message and "correction_1_r1.png" in message
    private = _private_dirs(services.config.data_dir)
    assert not any(d in message for d in private), message


def test_upload_errors_name_the_visitors_file_not_where_the_server_put_it(app, tmp_path: Path) -> None:
    services, demo, _ = app
    private = _private_dirs(services.config.data_dir)
    visitor = Client(demo.local_url, verbose=False)
    for name, content in (("my clip.mp4", b""), ("broken clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"junk" * 300)):
        upload = tmp_path / name
        upload.write_bytes(content)
        error, _ = call(visitor, handle_file(str(upload)), "Stack the blocks.", "avoidance", api_name="/diagnose")
        text = str(error)
        assert isinstance(error, Exception) and name in text, text
        assert not any(d in text for d in private) and "\n" not in text, text
    assert services.corrections.store.count() == 0
