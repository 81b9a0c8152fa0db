"""Inter-reviewer agreement: how often two people who decided the same clip gave the same answer.

The store groups the clips (:meth:`~vifailback_demo.store.queries.RecordQueries.reviewer_groups`); this module
scores them pair by pair. A field is compared only where both answers have it: outcome only when both accepted
(a rejected or skipped record has no answer of its own), failure type only when both said "failed", keyframe
only when both gave one (and counted as agreeing within +-1 frame, since neighbouring frames often show the same
moment of a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from vifailback_demo.store.queries import ReviewedClip, ReviewerDecision

FIELDS: tuple[str, ...] = ("decision", "outcome", "failure type", "keyframe")
KEYFRAME_TOLERANCE = 1
COLUMNS: tuple[str, ...] = ("clip", "task", "mode", "reviewers", *FIELDS, "differs")


@dataclass(frozen=True)
class Verdict:
    """One reviewer's answer on a clip, in the terms that are compared."""

    who: str
    record_id: int
    decision: str
    outcome: str | None  # "success" | "failed" | None (not accepted)
    failure_type: str | None
    keyframe: int | None

    @classmethod
    def of(cls, d: ReviewerDecision) -> Verdict:
        final = d.final if d.decision == "accepted" else None
        if final is None:
            return cls(d.who, d.record_id, d.decision, None, None, None)
        outcome = "success" if final.success else "failed"
        failure_type = final.failure_type if not final.success else None
        return cls(d.who, d.record_id, d.decision, outcome, failure_type, final.keyframe)


def compared(a: Verdict, b: Verdict) -> dict[str, bool]:
    """``{field: agrees}`` for the fields both answers have (see the module docstring)."""
    out = {"decision": a.decision == b.decision}
    if a.outcome and b.outcome:
        out["outcome"] = a.outcome == b.outcome
        if a.outcome == b.outcome == "failed":
            out["failure type"] = a.failure_type == b.failure_type
    if a.keyframe is not None and b.keyframe is not None:
        out["keyframe"] = abs(a.keyframe - b.keyframe) <= KEYFRAME_TOLERANCE
    return out


@dataclass(frozen=True)
class PairResult:
    clip: ReviewedClip
    a: Verdict
    b: Verdict
    agrees: dict[str, bool]

    @property
    def differing(self) -> list[str]:
        return [f for f in FIELDS if self.agrees.get(f) is False]

    def row(self) -> list[str]:
        def both(x: object, y: object) -> str:
            return f"{'-' if x is None else x} / {'-' if y is None else y}"

        a, b = self.a, self.b
        return [
            f"{self.clip.source.kind}:{self.clip.source.ref}"[:80],
            self.clip.task,
            self.clip.mode,
            f"{a.who} #{a.record_id} / {b.who} #{b.record_id}",
            both(a.decision, b.decision),
            both(a.outcome, b.outcome),
            both(a.failure_type, b.failure_type),
            both(a.keyframe, b.keyframe),
            ", ".join(self.differing) or "agree",
        ]


@dataclass
class AgreementReport:
    clips: int = 0
    pairs: list[PairResult] = field(default_factory=list)

    def rate(self, name: str) -> tuple[int, int]:
        """(pairs agreeing on ``name``, pairs where both answers had it)."""
        seen = [p.agrees[name] for p in self.pairs if name in p.agrees]
        return sum(seen), len(seen)

    def rows(self) -> list[list[str]]:
        return [p.row() for p in self.pairs]

    def markdown(self) -> str:
        if not self.clips:
            # Records without a reviewer name (an app without logins, nobody typed a name) cannot be compared.
            return "No clip has been decided by two named reviewers yet."

        def shown(name: str) -> str:
            agree, total = self.rate(name)
            label = "keyframe (within ±1)" if name == "keyframe" else name
            return f"{label}: {agree}/{total} ({agree / total:.0%})" if total else f"{label}: not comparable"

        clips = f"{self.clips} clip{'s' if self.clips != 1 else ''}"
        pairs = f"{len(self.pairs)} reviewer pair{'s' if len(self.pairs) != 1 else ''}"
        return f"**{clips} decided by two or more reviewers** ({pairs}).  \nAgreement - " + " · ".join(
            shown(name) for name in FIELDS
        )


def score(clips: list[ReviewedClip]) -> AgreementReport:
    """Every pair of reviewers on every clip, compared field by field."""
    report = AgreementReport(clips=len(clips))
    for clip in clips:
        verdicts = [Verdict.of(d) for d in clip.decisions]
        for a, b in combinations(verdicts, 2):
            report.pairs.append(PairResult(clip, a, b, compared(a, b)))
    return report
