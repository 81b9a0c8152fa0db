"""Hard scoring with an LLM judge behind any OpenAI-compatible endpoint (the paper used GPT-4o; its prompt is not
public, so this one is ours and documented in docs/eval.md).

The judge sees the question (images omitted), the reference answer and the model's answer, and returns JSON with
three integer scores 0-10: semantic similarity, completeness and functional equivalence. The sample's judge score
is their mean / 10 (reported x100 as a percentage). Temperature 0. A reply that is not valid JSON with the three
scores in range is asked again, at most ``retries`` more times; transport errors are retried by the client the
same number of times. Judgements are appended to ``judgements.jsonl`` (one per Hard sample, resumable); they are
never mixed with the offline scores.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.jsonl import JsonlAppender, read_jsonl
from eval.pool import run_bounded
from eval.tasks import COT_TAGS, HARD, TASKS
from eval.textnorm import final_reply
from vifailback_demo.errors import BackendError, PermanentBackendError
from vifailback_demo.models.openai_http import ChatClient

JUDGEMENTS_FILE = "judgements.jsonl"
CRITERIA: tuple[str, ...] = ("semantic_similarity", "completeness", "functional_equivalence")
#: The question is cut to this many characters in the judge prompt (the CoT instructions are long and generic).
MAX_QUESTION_CHARS = 6000

SYSTEM_PROMPT = (
    "You are a strict, fair evaluator of answers about robot manipulation failures. You compare a model's answer "
    "with a reference answer written by an expert and reply with JSON only."
)

USER_TEMPLATE = """Task type: {task}

Question given to the model (the camera images are omitted):
<question>
{question}
</question>

Reference answer:
<reference>
{reference}
</reference>

Model answer:
<model_answer>
{prediction}
</model_answer>

Score the model answer against the reference on three criteria, each an integer from 0 (not at all) to 10 (fully):
- semantic_similarity: does it state the same facts as the reference (success or failure, keyframe, failure type, \
the gripper, directions and objects involved, the reason)?
- completeness: does it contain every element of the reference (for answers with <Think>/<Answer>: success \
detection, keyframe, low-level command and visual prompts with the same symbols)?
- functional_equivalence: would a robot that follows the model answer end up doing the same thing as one that \
follows the reference, even if the wording differs?
Wording, formatting and length do not matter by themselves. A contradiction (another arm, direction, object, \
keyframe or failure type) must lower every score. An empty or off-topic answer scores 0 on all three.

Reply with only this JSON object and nothing else:
{{"semantic_similarity": <0-10>, "completeness": <0-10>, "functional_equivalence": <0-10>, "rationale": "<one sentence>"}}"""


class JudgeFormatError(BackendError):
    """The judge's reply is not the JSON object the prompt asks for."""


def build_judge_messages(sample: dict[str, Any]) -> list[dict[str, str]]:
    question = str(sample.get("prompt") or "")
    if len(question) > MAX_QUESTION_CHARS:
        question = question[:MAX_QUESTION_CHARS] + " [...]"
    tag = sample["tag"]
    # CoT answers are judged whole (think + answer); free-text answers by their final part.
    prediction = str(sample.get("prediction") or "")
    reference = str(sample.get("reference") or "")
    if tag not in COT_TAGS:
        prediction, reference = final_reply(prediction), final_reply(reference)
    user = USER_TEMPLATE.format(
        task=TASKS[tag].name if tag in TASKS else tag,
        question=question,
        reference=reference,
        prediction=prediction or "(empty)",
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _json_object(text: str) -> Any:
    t = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", t, re.S)
    if fence:
        t = fence.group(1).strip()
    start, end = t.find("{"), t.rfind("}")
    if start < 0 or end <= start:
        raise JudgeFormatError(f"judge reply has no JSON object: {text[:80]!r}")
    try:
        return json.loads(t[start : end + 1])
    except json.JSONDecodeError as exc:
        raise JudgeFormatError(f"judge reply is not valid JSON ({exc.msg}): {text[:80]!r}") from None


def parse_judgement(text: str) -> dict[str, Any]:
    """Validated judgement: the three scores (numbers in [0, 10]), their mean as ``score`` in [0, 1], rationale."""
    data = _json_object(text)
    if not isinstance(data, dict):
        raise JudgeFormatError(f"judge reply: expected a JSON object, got {type(data).__name__}")
    scores: dict[str, float] = {}
    for key in CRITERIA:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise JudgeFormatError(f"judge reply: expected '{key}' as a number 0-10, got {value!r:.40}")
        scores[key] = float(value)
    rationale = data.get("rationale")
    return {
        "scores": scores,
        "score": sum(scores.values()) / (10.0 * len(CRITERIA)),
        "rationale": rationale if isinstance(rationale, str) else "",
    }


class LLMJudge:
    """Judges one Hard sample; thread-safe (the client holds no per-request state)."""

    def __init__(self, client: ChatClient, *, retries: int = 2, max_tokens: int = 512) -> None:
        if retries < 0:
            raise ValueError(f"judge retries: expected >= 0, got {retries}")
        self.client = client
        self.retries = retries
        self.max_tokens = max_tokens

    @property
    def model(self) -> str:
        return self.client.model

    def judge(self, sample: dict[str, Any]) -> dict[str, Any]:
        messages = build_judge_messages(sample)
        last: JudgeFormatError | None = None
        for attempt in range(1, self.retries + 2):
            text = self.client.chat(messages, temperature=0.0, max_tokens=self.max_tokens).text
            try:
                return {**parse_judgement(text), "attempts": attempt}
            except JudgeFormatError as exc:
                last = exc
        assert last is not None
        raise JudgeFormatError(f"{last} (after {self.retries + 1} attempts)")


@dataclass
class JudgeStats:
    to_judge: int = 0
    skipped: int = 0
    judged: int = 0
    failed: int = 0
    first_errors: list[str] = field(default_factory=list)


def judge_samples(
    samples: list[dict[str, Any]],
    judge: LLMJudge,
    out_dir: str | Path,
    *,
    concurrency: int = 4,
    log: Callable[[str], None] | None = None,
) -> JudgeStats:
    """Judge every Hard sample not yet in ``judgements.jsonl``; failures are counted, not written (rerun retries)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    path = Path(out_dir) / JUDGEMENTS_FILE
    existing = read_jsonl(path)
    other = {str(j.get("judge_model")) for j in existing} - {judge.model}
    if other:
        raise BackendError(
            f"{path} holds judgements by {sorted(other)}; scores of two judges are never mixed: use another --out "
            f"or delete that file to judge with {judge.model!r}"
        )
    done = {str(j["id"]) for j in existing if "id" in j}
    hard = [s for s in samples if s.get("split") == HARD]
    todo = [s for s in hard if str(s["id"]) not in done]
    stats = JudgeStats(to_judge=len(todo), skipped=len(hard) - len(todo))
    abort: list[str] = []
    with JsonlAppender(path) as out:

        def on_result(sample: dict[str, Any], result: dict[str, Any] | None, error: BaseException | None) -> bool:
            if error is None and result is not None:
                out.append({"id": sample["id"], "tag": sample["tag"], "judge_model": judge.model, **result})
                stats.judged += 1
                return False
            stats.failed += 1
            message = f"{type(error).__name__}: {error}"
            if len(stats.first_errors) < 5:
                stats.first_errors.append(message)
            if isinstance(error, PermanentBackendError):
                abort.append(message)
                return True
            return False

        run_bounded(todo, judge.judge, on_result, concurrency=concurrency)
    if stats.failed:
        log(f"eval: judge failed on {stats.failed} samples (first: {stats.first_errors[0]}); rerun to retry them")
    if abort:
        raise BackendError(f"judge stopped: {abort[0]}")
    return stats
