"""Build the runner's generator from CLI flags (the only place that knows the model backends).

Backends:

* ``transformers``: a local checkpoint or Hugging Face cache ID through ``vifailback_demo.models`` (imported lazily:
  torch is only loaded when a local model is used);
* ``openai``: any OpenAI-compatible server (vLLM, SGLang, ...) through the library's HTTP client
  (:class:`vifailback_demo.models.openai_http.ChatClient`, wrapped by :class:`OpenAIChatGenerator`);
* ``reference``: replies with the bench's own reference answers (a scorer sanity check: scores 100%).

``auto`` picks ``openai`` when ``--base-url`` is given, else ``transformers``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.bench import BenchItem
from eval.generator import Generator, ReferenceGenerator
from vifailback_demo.errors import BackendError
from vifailback_demo.models.openai_backend import build_messages
from vifailback_demo.models.openai_http import ChatClient

BACKENDS: tuple[str, ...] = ("auto", "transformers", "openai", "reference")
#: First retry delay for served models and the judge (then doubled per retry).
BACKOFF_S = 0.5


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


class OpenAIChatGenerator:
    """A served VLM as a :class:`eval.generator.Generator`: images first, then the prompt, in one user message.

    Thread-safe (the client holds no per-request state), so the runner can keep many requests in flight.
    """

    def __init__(self, client: ChatClient, *, max_tokens: int = 2048, temperature: float = 0.0) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature

    def generate(self, images: list[np.ndarray], prompt: str) -> str:
        messages = build_messages(images, prompt)
        return self.client.chat(messages, temperature=self.temperature, max_tokens=self.max_tokens).text


def api_key(env: str | None) -> tuple[str | None, str | None]:
    """The key in ``$env`` (``env`` empty: no key) and where it came from, for the hint on HTTP 401/403."""
    return (os.environ.get(env), f"${env}") if env else (None, None)


class _LocalBackendGenerator:
    """Adapts a ``vifailback_demo.models`` backend (``generate(frames, prompt, settings=) -> GenerationResult``)."""

    def __init__(self, backend: Any, settings: Any) -> None:
        self.backend = backend
        self.settings = settings
        if callable(getattr(backend, "generate_batch", None)):  # batched local inference, when the backend has it
            self.generate_batch = self._generate_batch

    def generate(self, images: list[np.ndarray], prompt: str) -> str:
        result = self.backend.generate(images, prompt, settings=self.settings)
        return str(getattr(result, "text", result))

    def _generate_batch(self, requests: Sequence[tuple[list[np.ndarray], str]]) -> list[str]:
        results = self.backend.generate_batch(list(requests), settings=self.settings)
        return [str(getattr(r, "text", r)) for r in results]


def _load_local(args: argparse.Namespace) -> Generator:
    try:  # lazy: pulls in torch/transformers only when a local model is used
        from vifailback_demo.models.backend import GenerationSettings
        from vifailback_demo.models.factory import create_backend
    except ImportError as exc:
        raise BackendError(
            f"the transformers backend needs vifailback_demo.models, which cannot be imported ({exc}); "
            "install the model extras (pip install -e '.[model]') or use --base-url with a served model"
        ) from None
    backend = create_backend(
        "transformers",
        args.model,
        adapter=args.adapter,
        dtype=args.dtype,
        quantization=args.quantization,
        device_map=None if args.device == "auto" else args.device,
    )
    return _LocalBackendGenerator(backend, GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0))


def build_generator(args: argparse.Namespace, items: Sequence[BenchItem]) -> Generator:
    backend = resolve_backend(args)
    if backend == "reference":
        answers: dict[str, str] = {}
        for it in items:
            answers.setdefault(it.prompt, it.reference)
        return ReferenceGenerator(answers)
    if backend == "openai":
        if not args.base_url:
            raise BackendError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
        model = args.served_model or args.model
        if not model:
            raise BackendError("--backend openai needs --served-model (or --model) naming the model on the server")
        key, key_source = api_key(args.api_key_env)
        client = ChatClient(
            args.base_url,
            model,
            api_key=key,
            timeout_s=args.request_timeout,
            deadline_s=getattr(args, "request_deadline", None),
            retries=args.retries,
            backoff_s=BACKOFF_S,
            key_source=key_source,
        )
        return OpenAIChatGenerator(client, max_tokens=args.max_new_tokens)
    if not args.model:
        raise BackendError("the transformers backend needs --model PATH|ID")
    return _load_local(args)
