"""A model served behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, ...).

The app's, the CLI's and the bench's served model. The HTTP side (timeouts, the overall deadline, bounded retries
with backoff, streaming, errors) is :class:`.openai_http.ChatClient`, which the evaluation's LLM judge uses too. This
module adds what a diagnosis backend needs: frames -> messages (base64 JPEG data URLs, one ``image_url`` block per
frame, the prompt text last: the official layout, images first), decoding settings, timings and a semaphore capping
concurrent requests per backend. The API key is read from the environment and never logged
or put in an error message.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vifailback_demo.errors import BackendTimeoutError
from vifailback_demo.models.backend import (
    GenerationResult,
    GenerationSettings,
    TextCallback,
    check_deadline,
    check_frames,
)
from vifailback_demo.models.openai_http import ChatClient

API_KEY_ENVS: tuple[str, ...] = ("VIFAILBACK_API_KEY", "OPENAI_API_KEY")


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str
    model: str
    #: The variable holding the API key: None reads :data:`API_KEY_ENVS`; "" sends no key.
    api_key_env: str | None = None
    #: Seconds of silence allowed on the socket (connect, or between two reads).
    timeout_s: float = 120.0
    #: Seconds one answer may take in all, retries included; None: sized from max_new_tokens per call
    #: (:func:`~.backend.default_deadline_s`).
    deadline_s: float | None = None
    max_retries: int = 2
    backoff_s: float = 1.0
    max_concurrency: int = 4
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL: expected http(s)://host[:port]/v1, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model name is empty; expected the name the server serves (e.g. ViFailback-8B)")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.max_concurrency < 1:
            raise ValueError("timeout_s must be > 0, max_retries >= 0 and max_concurrency >= 1")
        check_deadline(self.deadline_s)


def image_data_url(frame: np.ndarray, quality: int = 90) -> str:
    """An RGB image as a base64 JPEG data URL (what vLLM and SGLang accept in ``image_url`` blocks)."""
    from vifailback_demo.imageio import encode_image

    data = encode_image(frame, ".jpg", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def build_messages(frames: Sequence[np.ndarray], prompt: str, quality: int = 90) -> list[dict[str, Any]]:
    """One user message: an ``image_url`` block per frame, then the prompt text."""
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_url(f, quality)}} for f in frames
    ]
    content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


def key_envs(name: str | None = None) -> tuple[str, ...]:
    """Where the key is read from: ``$name`` when a name is given, none for "", else :data:`API_KEY_ENVS`."""
    return API_KEY_ENVS if name is None else (name,) if name else ()


def api_key_from_env(name: str | None = None) -> str | None:
    """The key in the first variable of :func:`key_envs` that is set, or None."""
    for env in key_envs(name):
        value = os.environ.get(env)
        if value:
            return value
    return None


class OpenAICompatibleBackend:
    def __init__(self, options: OpenAIOptions) -> None:
        self.options = options
        self.name = options.model
        names = key_envs(options.api_key_env)
        self.client = ChatClient(
            options.base_url,
            options.model,
            api_key=api_key_from_env(options.api_key_env),
            timeout_s=options.timeout_s,
            retries=options.max_retries,
            backoff_s=options.backoff_s,
            key_source=" or ".join(f"${n}" for n in names) or None,
            deadline_s=options.deadline_s,
        )
        self.url = self.client.url
        self._slots = threading.BoundedSemaphore(options.max_concurrency)

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        check_frames(frames)
        settings = settings or GenerationSettings()
        t0 = time.perf_counter()
        messages = build_messages(frames, prompt, self.options.jpeg_quality)
        # min_tokens is a vLLM extension; other servers ignore it.
        extra = {"min_tokens": settings.min_new_tokens} if settings.min_new_tokens else None
        t1 = time.perf_counter()
        # The wait for a free slot is bounded too (by one deadline): the requests in flight end by theirs, so a
        # slot frees in time unless something is badly stuck.
        wait = self.client.deadline_for(settings.max_new_tokens)
        if not self._slots.acquire(timeout=wait):
            raise BackendTimeoutError(
                f"{self.url}: all {self.options.max_concurrency} request slots stayed busy for {wait:g} s"
            )
        try:
            result = self.client.chat(
                messages,
                temperature=settings.temperature,
                max_tokens=settings.max_new_tokens,
                extra=extra,
                on_text=on_text,
            )
        finally:
            self._slots.release()
        result.timings = {"prepare": t1 - t0, "generate": time.perf_counter() - t1, **result.timings}
        result.model = self.name
        return result
