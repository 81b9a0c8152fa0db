"""ViFailback-Bench evaluation: run a diagnosis backend over a bench file, score each sample, aggregate, report.

Layout (one concept per module): :mod:`eval.tasks` (the 11 task types), :mod:`eval.bench` (reading and checking a
bench file), :mod:`eval.generator` (what the runner needs from a model), :mod:`eval.backends` (building one from
CLI flags; served models and the judge use the library's HTTP client :mod:`vifailback_demo.models.openai_http`),
:mod:`eval.runner` (generation, resumable JSONL), :mod:`eval.lite` / :mod:`eval.structured` / :mod:`eval.overlap`
(offline scorers), :mod:`eval.judge` (LLM judge), :mod:`eval.aggregate` and :mod:`eval.report` (summary files),
:mod:`eval.cli`.
"""
