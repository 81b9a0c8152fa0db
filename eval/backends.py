"""Map ``python -m eval``'s model flags onto :func:`vifailback_demo.models.factory.create_backend`.

The bench asks its model through the same :class:`~vifailback_demo.models.backend.VLMBackend` interface, built by
the same factory, as the app and the CLI; this module only turns flags into the factory's arguments:

* ``transformers``: a local checkpoint or Hugging Face cache ID (torch is only loaded when one is used);
* ``openai``: any OpenAI-compatible server (vLLM, SGLang, ...): the library's
  :class:`~vifailback_demo.models.openai_backend.OpenAICompatibleBackend` (its HTTP client is
  :class:`~vifailback_demo.models.openai_http.ChatClient`, which the judge uses too), with eval's key variable,
  timeouts, retries and ``--concurrency`` requests in flight;
* ``reference``: replies with the bench's own reference answers (a scorer sanity check: scores 100%).

``auto`` picks ``openai`` when ``--base-url`` is given, else ``transformers``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from eval.bench import BenchItem
from vifailback_demo.errors import BackendError
from vifailback_demo.models.backend import GenerationSettings, VLMBackend, check_deadline
from vifailback_demo.models.factory import create_backend

BACKENDS: tuple[str, ...] = ("auto", "transformers", "openai", "reference")
#: First retry delay for served models and the judge (then doubled per retry).
BACKOFF_S = 0.5
#: Requests in flight for a served model unless ``--concurrency`` says otherwise (local models: one at a time).
SERVED_CONCURRENCY = 16


def resolve_backend(args: argparse.Namespace) -> str:
    if args.backend != "auto":
        return args.backend
    if args.base_url:
        return "openai"
    if args.model:
        return "transformers"
    raise BackendError(
        "no model given: expected --model PATH|ID (local), --base-url URL (served) or --backend reference"
    )


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """What produced the predictions (stored in run.json and the report; never holds a secret)."""
    backend = resolve_backend(args)
    info: dict[str, Any] = {"backend": backend, "model": args.model, "max_new_tokens": args.max_new_tokens}
    if backend == "openai":
        info.update(base_url=args.base_url, served_model=args.served_model or args.model)
    elif backend == "transformers":
        info.update(dtype=args.dtype, quantization=args.quantization, adapter=args.adapter, device=args.device)
    return info


def api_key(env: str | None) -> tuple[str | None, str | None]:
    """The key in ``$env`` (``env`` empty: no key) and where it came from, for the hint on HTTP 401/403."""
    return (os.environ.get(env), f"${env}") if env else (None, None)


def concurrency(args: argparse.Namespace) -> int:
    """Requests in flight: ``--concurrency``, else 16 for a served model and 1 for the others."""
    given = getattr(args, "concurrency", None)
    if given is not None:
        return given
    return SERVED_CONCURRENCY if resolve_backend(args) == "openai" else 1


def generation_settings(args: argparse.Namespace) -> GenerationSettings:
    """Greedy, up to ``--max-new-tokens`` (the paper: 2,048)."""
    return GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0)


def backend_arguments(args: argparse.Namespace, items: Sequence[BenchItem]) -> tuple[str, str | None, dict[str, Any]]:
    """``(kind, model, options)`` for :func:`~vifailback_demo.models.factory.create_backend`, from eval's flags."""
    kind = resolve_backend(args)
    if kind == "reference":
        answers: dict[str, str] = {}
        for it in items:  # a prompt asked several times with different references gets the first one
            answers.setdefault(it.prompt, it.reference)
        return kind, None, {"answers": answers}
    if kind == "openai":
        if not args.base_url:
            raise BackendError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
        model = args.served_model or args.model
        if not model:
            raise BackendError("--backend openai needs --served-model (or --model) naming the model on the server")
        deadline = getattr(args, "request_deadline", None)
        check_deadline(deadline, "request deadline")
        served = {
            "base_url": args.base_url,
            "api_key_env": args.api_key_env or "",  # only this variable; "" sends no key
            "timeout_s": args.request_timeout,
            "deadline_s": deadline,
            "max_retries": args.retries,
            "backoff_s": BACKOFF_S,
            "max_concurrency": concurrency(args),
        }
        return kind, model, served
    if not args.model:
        raise BackendError("the transformers backend needs --model PATH|ID")
    local = {
        "adapter": args.adapter,
        "dtype": args.dtype,
        "quantization": args.quantization,
        "device_map": None if args.device == "auto" else args.device,
    }
    return kind, args.model, local


def build_backend(args: argparse.Namespace, items: Sequence[BenchItem]) -> VLMBackend:
    """The backend the flags ask for, built by the library's factory (``items``: the reference answers)."""
    kind, model, options = backend_arguments(args, items)
    return create_backend(kind, model, **options)
