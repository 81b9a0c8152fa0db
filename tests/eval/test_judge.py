"""The LLM judge against a real HTTP server on 127.0.0.1 with canned judgements (good, malformed, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.jsonl import read_jsonl
from eval.judge import (
    CRITERIA,
    JUDGEMENTS_FILE,
    JudgeFormatError,
    LLMJudge,
    build_judge_messages,
    judge_samples,
    parse_judgement,
)
from tests.fakes.httpserver import fake_openai_server
from vifailback_demo.errors import BackendError, BackendTimeoutError, PermanentBackendError
from vifailback_demo.models.openai_http import ChatClient

GOOD = json.dumps({"semantic_similarity": 8, "completeness": 6, "functional_equivalence": 7, "rationale": "close"})
SAMPLE = {
    "id": "000001-abc",
    "tag": "failure_reason_qa",
    "split": "hard",
    "prompt": "The task is to: 'stack the cups'. Explain the reason for the failure.",
    "reference": "The left gripper did not close, so the cup slipped.",
    "prediction": "The gripper failed to close around the cup.",
}


def make_judge(url: str, *, retries: int = 2, timeout_s: float = 5.0, key: str | None = None) -> LLMJudge:
    client = ChatClient(url, "judge-model", api_key=key, timeout_s=timeout_s, retries=retries, backoff_s=0.01)
    return LLMJudge(client, retries=retries)


def test_parse_judgement_validates() -> None:
    result = parse_judgement(GOOD)
    assert result["scores"] == {"semantic_similarity": 8.0, "completeness": 6.0, "functional_equivalence": 7.0}
    assert result["score"] == pytest.approx(0.7)
    assert parse_judgement(f"Here you go:\n```json\n{GOOD}\n```")["score"] == pytest.approx(0.7)
    for bad in (
        "not json",
        "{'semantic_similarity': 8}",
        json.dumps({"semantic_similarity": 8, "completeness": 6}),
        json.dumps({"semantic_similarity": 11, "completeness": 6, "functional_equivalence": 7}),
        json.dumps({"semantic_similarity": "8", "completeness": 6, "functional_equivalence": 7}),
        json.dumps({"semantic_similarity": True, "completeness": 6, "functional_equivalence": 7}),
        "[1, 2, 3]",
    ):
        with pytest.raises(JudgeFormatError):
            parse_judgement(bad)


def test_prompt_holds_question_reference_answer_and_criteria() -> None:
    messages = build_judge_messages(SAMPLE)
    user = messages[-1]["content"]
    assert SAMPLE["reference"] in user and SAMPLE["prediction"] in user and "stack the cups" in user
    for criterion in CRITERIA:
        assert criterion in user
    assert "failure reason" in user


def test_good_judgement_over_http_with_temperature_zero_and_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_openai_server(lambda req, n: (200, GOOD)) as server:
        result = make_judge(server.url, key="sk-test-secret").judge(SAMPLE)
    assert result["score"] == pytest.approx(0.7) and result["attempts"] == 1
    assert len(server.requests) == 1
    assert server.requests[0]["temperature"] == 0.0
    assert server.requests[0]["model"] == "judge-model"
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret"


def test_malformed_json_is_retried_then_accepted() -> None:
    replies = ["I think it is good", '{"semantic_similarity": 9, "completeness": ', GOOD]
    with fake_openai_server(lambda req, n: (200, replies[n])) as server:
        result = make_judge(server.url, retries=2).judge(SAMPLE)
    assert result["attempts"] == 3 and len(server.requests) == 3


def test_always_malformed_fails_after_bounded_retries() -> None:
    with (
        fake_openai_server(lambda req, n: (200, "nope")) as server,
        pytest.raises(JudgeFormatError, match="3 attempts"),
    ):
        make_judge(server.url, retries=2).judge(SAMPLE)
    assert len(server.requests) == 3


def test_server_errors_are_retried_and_client_errors_are_not() -> None:
    with fake_openai_server(lambda req, n: (503, b"busy") if n < 2 else (200, GOOD)) as server:
        assert make_judge(server.url, retries=2).judge(SAMPLE)["score"] == pytest.approx(0.7)
    assert len(server.requests) == 3
    with fake_openai_server(lambda req, n: (500, b"boom")) as server, pytest.raises(BackendError, match="HTTP 500"):
        make_judge(server.url, retries=1).judge(SAMPLE)
    assert len(server.requests) == 2
    unauthorised = fake_openai_server(lambda req, n: (401, b'{"error": "bad key"}'))
    with unauthorised as server, pytest.raises(PermanentBackendError, match="401"):
        make_judge(server.url, retries=3).judge(SAMPLE)
    assert len(server.requests) == 1
    not_json = fake_openai_server(lambda req, n: (200, b"<html>not json</html>"))
    with not_json as server, pytest.raises(BackendError, match="chat completion"):
        make_judge(server.url, retries=0).judge(SAMPLE)


def test_timeout_is_enforced() -> None:
    with fake_openai_server(lambda req, n: (200, GOOD), delay_s=1.0) as server, pytest.raises(BackendTimeoutError):
        make_judge(server.url, retries=0, timeout_s=0.2).judge(SAMPLE)


def test_judge_samples_appends_successes_and_resumes(tmp_path: Path) -> None:
    samples = [dict(SAMPLE, id=f"s{i}", prediction=f"answer {i}") for i in range(6)]
    samples.append(dict(SAMPLE, id="lite", split="lite", tag="failure_detection_qa"))

    def respond(req: dict, n: int) -> tuple[int, str]:
        bad = "answer 3" in req["messages"][-1]["content"]  # one sample always gets garbage
        return 200, ("garbage" if bad else GOOD)

    logs: list[str] = []
    with fake_openai_server(respond) as server:
        stats = judge_samples(samples, make_judge(server.url, retries=1), tmp_path, concurrency=3, log=logs.append)
    assert (stats.judged, stats.failed, stats.to_judge) == (5, 1, 6)
    lines = read_jsonl(tmp_path / JUDGEMENTS_FILE)
    assert sorted(j["id"] for j in lines) == ["s0", "s1", "s2", "s4", "s5"]
    assert all(j["judge_model"] == "judge-model" and j["score"] == pytest.approx(0.7) for j in lines)
    assert logs and "rerun" in logs[0]
    with fake_openai_server(lambda req, n: (200, GOOD)) as server:
        stats = judge_samples(samples, make_judge(server.url), tmp_path, concurrency=3, log=logs.append)
    assert (stats.judged, stats.skipped) == (1, 5) and len(server.requests) == 1
    other = LLMJudge(ChatClient(server.url, "another-judge", timeout_s=1))
    with pytest.raises(BackendError, match="never mixed"):
        judge_samples(samples, other, tmp_path)


def test_permanent_error_stops_judging(tmp_path: Path) -> None:
    samples = [dict(SAMPLE, id=f"s{i}") for i in range(20)]
    no_model = fake_openai_server(lambda req, n: (404, b"no such model"))
    with no_model as server, pytest.raises(BackendError, match="judge stopped"):
        judge_samples(samples, make_judge(server.url), tmp_path, concurrency=2, log=lambda m: None)
    assert len(server.requests) < 20
