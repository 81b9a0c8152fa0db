"""Reference-overlap score for free-text Hard answers (failure reason, high-level guidance): ROUGE-L F1 on words.

ROUGE-L (longest common subsequence of word tokens, F1 of LCS-precision and LCS-recall) rewards the same content
in the same order and needs no model, so it is always available offline. It measures wording, not meaning: use
the LLM judge for the paper's numbers.
"""

from __future__ import annotations

from typing import Any

from eval.textnorm import final_reply, words

#: Longest token list compared (the LCS table is quadratic); longer replies are cut, which only lowers recall.
MAX_TOKENS = 400


def lcs_length(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for token in a:
        cur = [0]
        for j, other in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if token == other else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> dict[str, float]:
    pred, ref = words(prediction)[:MAX_TOKENS], words(reference)[:MAX_TOKENS]
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall = lcs / len(pred), lcs / len(ref)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def score_free_text(reply: str | None, reference: str) -> dict[str, Any]:
    """Per-sample overlap result; ``score`` (0-1) is the ROUGE-L F1 of the final reply against the reference."""
    result = rouge_l(final_reply(reply), final_reply(reference))
    return {"metric": "rouge_l_f1", **result, "score": result["f1"]}
