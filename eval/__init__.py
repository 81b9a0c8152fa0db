"""ViFailback-Bench evaluation: run a diagnosis backend over a bench file, score each sample, aggregate, report.

Layout (one concept per module): :mod:`eval.tasks` (the 11 task types), :mod:`eval.bench` (reading and checking a
bench file), :mod:`eval.backends` (eval's model flags -> the library's ``create_backend``: the model is a
:class:`~vifailback_demo.models.backend.VLMBackend`, as in the app and the CLI), :mod:`eval.runner` (generation,
resumable JSONL), :mod:`eval.lite` / :mod:`eval.structured` / :mod:`eval.overlap` (offline scorers),
:mod:`eval.judge` (LLM judge, through the library's HTTP client :mod:`vifailback_demo.models.openai_http`),
:mod:`eval.aggregate` and :mod:`eval.report` (summary files), :mod:`eval.cli`.
"""
