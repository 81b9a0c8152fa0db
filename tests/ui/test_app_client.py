"""The launched app driven through gradio_client: diagnose -> edit -> accept -> export, read back with the
project's parsers; once with the scripted backend and once with a tiny random Qwen3-VL through transformers."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.ui.helpers import TASK, free_port, make_services
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.services import Services
from vifailback_demo.ui import build_demo, launch
from vifailback_demo.ui.run_handlers import RUN_OUTPUTS

LOW = "Move the right gripper to the left significantly."
CLIENT_TIMEOUT_S = 60


def start(services: Services):
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    client = Client(demo.local_url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})
    return demo, client


@pytest.fixture
def scripted_app(tmp_path: Path) -> Iterator[tuple[Services, Client]]:
    services = make_services(tmp_path / "data")
    demo, client = start(services)
    yield services, client
    demo.close()
    services.close()


def diagnose(client: Client, clip: Path) -> tuple:
    job = client.submit(video=handle_file(str(clip)), task=TASK, mode="avoidance", api_name="/diagnose")
    return job.result(timeout=CLIENT_TIMEOUT_S)


def test_diagnose_edit_accept_export_round_trip(scripted_app, clip: Path, tmp_path: Path) -> None:
    services, client = scripted_app
    out = diagnose(client, clip)
    reasoning, summary, gallery, editor_image = out[:4]
    assert "Failed" in summary and parse_answer(reasoning).failure_type == "gripper 6d-pose"
    assert len(gallery) == 4 and Path(editor_image).is_file()
    names = [n for n in RUN_OUTPUTS if not n.endswith("_state")]  # states are not sent to clients
    keyframe = out[names.index("keyframe")]
    placed = client.predict(keyframe, "crosshair", [], "clockwise", "ON", LOW, 160, 120, api_name="/place_symbol")
    rows = placed[1]["data"]
    assert rows[-1][:3] == ["crosshair", 500, 500]
    message, vqa = client.predict(
        "Failed", keyframe, "task planning", "Reach the block.\nGrasp it.", 1, "The gripper missed.", LOW, "Grasp the blue block first.",
        api_name="/accept_anyway",  # LOW does not match the placed crosshair: Accept would ask first
    )  # fmt: skip
    record_id = int(message.split("#")[1].split("*")[0])
    assert {"cot_avoidance_code_qa", "subtask_localization_qa"} <= {p["tag"] for p in vqa}
    zip_path, export_message = client.predict("sharegpt", False, "any", "", api_name="/export")
    assert "1 accepted records" in export_message
    zipfile.ZipFile(zip_path).extractall(tmp_path / "export")
    folder = tmp_path / "export" / "vifailback_corrections_sharegpt"
    records = load_vqa_records(folder / "vifailback_corrections.json")
    cot = parse_answer(next(r for r in records if r.tag == "cot_avoidance_code_qa").response)
    assert cot.failure_type == "task planning" and cot.low_level == LOW and cot.keyframe == keyframe
    assert [s.kind for s in cot.symbols][-1] == "crosshair" and cot.symbols[-1].pos == (500, 500)
    subtask = next(r for r in records if r.tag == "subtask_localization_qa")
    assert subtask.answer == "Reach the block."
    assert services.corrections.get(record_id).final.failure_reason == "The gripper missed."


def test_tiny_qwen3vl_through_the_transformers_backend(tiny_model_dir: Path, tmp_path: Path, clip: Path) -> None:
    services = make_services(tmp_path / "data", backend="transformers", model=str(tiny_model_dir), max_new_tokens=32)
    assert not services.diagnosis.loaded, "the model must load lazily, not at start-up"
    demo, client = start(services)
    try:
        diagnose(client, clip)  # loads the model
        out2 = diagnose(client, clip)  # on the loaded model
        assert services.diagnosis.loaded and services.diagnosis.status().startswith("Model:")
        reasoning, summary, gallery = out2[:3]
        assert reasoning and len(gallery) == 4
        assert "Unreadable answer" in summary or "Failed" in summary or "Successful" in summary
    finally:
        demo.close()
        services.close()


def test_a_clip_sent_after_picking_an_example_is_the_one_diagnosed(scripted_app, clip: Path) -> None:
    """The API does not clear a pick the way the page's upload event does: the video given to /diagnose wins."""
    services, client = scripted_app
    label = services.examples.choices()[1][1]  # a failure example (its annotation has subtasks)
    client.predict(label, api_name="/pick_example")
    out = diagnose(client, clip)  # the test's own clip, not the example
    names = [n for n in RUN_OUTPUTS if not n.endswith("_state")]
    assert len(out[names.index("gallery")]) == 4  # the example clips sample to more frames than this 3 s clip
    example = services.examples.get(label)
    video, task, *_ = client.predict(label, api_name="/pick_example")
    job = client.submit(video=handle_file(video), task=task, mode="avoidance", api_name="/diagnose")
    again = job.result(timeout=CLIENT_TIMEOUT_S)  # the example's own clip (a copy): still the example
    assert again[names.index("subtasks")] == "\n".join(services.examples.annotation(example).subtasks)
