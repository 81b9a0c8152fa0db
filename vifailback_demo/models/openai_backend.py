"""A model served behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, ...).

Standard library only (``urllib``). Every request has a timeout; failures that may pass (connection errors,
timeouts, 429 and 5xx) are retried a bounded number of times with exponential backoff; other HTTP errors fail at
once with the server's message. A semaphore caps concurrent requests per backend. Images travel as base64 JPEG
data URLs, one ``image_url`` block per frame, with the prompt text last (the official layout: images first). The
API key is read from the environment and never logged or put in an error message.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vifailback_demo.errors import BackendError, BackendTimeoutError
from vifailback_demo.models.backend import GenerationResult, GenerationSettings, TextCallback, check_frames

API_KEY_ENVS: tuple[str, ...] = ("VIFAILBACK_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
#: Server error bodies are cut to this many characters in messages.
_BODY_SNIPPET = 300


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 120.0
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


def image_data_url(frame: np.ndarray, quality: int = 90) -> str:
    from vifailback_demo.imageio import encode_image

    data = encode_image(frame, ".jpg", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def build_messages(frames: Sequence[np.ndarray], prompt: str, quality: int = 90) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_url(f, quality)}} for f in frames
    ]
    content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


class _Retryable(Exception):
    """A failure worth another try (after backoff)."""


class OpenAICompatibleBackend:
    def __init__(self, options: OpenAIOptions) -> None:
        self.options = options
        self.name = options.model
        self.url = options.base_url.rstrip("/") + "/chat/completions"
        self._slots = threading.BoundedSemaphore(options.max_concurrency)

    def _api_key(self) -> str | None:
        names = (self.options.api_key_env,) if self.options.api_key_env else API_KEY_ENVS
        for name in names:
            value = os.environ.get(name)
            if value:
                return value
        return None

    def _request(self, body: dict[str, Any]) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")

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
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": build_messages(frames, prompt, self.options.jpeg_quality),
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "stream": on_text is not None,
        }
        if settings.min_new_tokens:
            body["min_tokens"] = settings.min_new_tokens  # vLLM extension; other servers ignore it
        t1 = time.perf_counter()
        with self._slots:
            result = self._with_retries(body, on_text)
        result.timings = {"prepare": t1 - t0, "generate": time.perf_counter() - t1, **result.timings}
        result.model = self.name
        return result

    def _with_retries(self, body: dict[str, Any], on_text: TextCallback | None) -> GenerationResult:
        attempts = self.options.max_retries + 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 1))
            streamed: list[str] = []

            def relay(piece: str, streamed=streamed) -> None:
                streamed.append(piece)
                on_text(piece)  # type: ignore[misc]

            try:
                return self._once(body, relay if on_text else None)
            except _Retryable as exc:
                last = exc
                if streamed:  # the caller has seen text already; a retry would repeat it
                    break
        if isinstance(last, _Retryable) and isinstance(last.__cause__, TimeoutError | socket.timeout):
            raise BackendTimeoutError(
                f"{self.url}: no answer within {self.options.timeout_s:g} s after {attempts} attempt(s)"
            ) from None
        raise BackendError(f"{self.url}: failed after {attempts} attempt(s): {last}") from None

    def _once(self, body: dict[str, Any], on_text: TextCallback | None) -> GenerationResult:
        request = self._request(body)
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                if body["stream"]:
                    return self._read_stream(response, on_text, start)  # type: ignore[arg-type]
                payload = response.read()
        except urllib.error.HTTPError as exc:
            snippet = exc.read(_BODY_SNIPPET).decode("utf-8", "replace").strip()
            message = f"HTTP {exc.code} {exc.reason}: {snippet}" if snippet else f"HTTP {exc.code} {exc.reason}"
            if exc.code in RETRY_STATUS:
                raise _Retryable(message) from None
            hint = " (check the API key in $VIFAILBACK_API_KEY or $OPENAI_API_KEY)" if exc.code in (401, 403) else ""
            raise BackendError(f"{self.url}: {message}{hint}") from None
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.options.timeout_s:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise _Retryable(f"timed out after {self.options.timeout_s:g} s") from exc.reason
            raise _Retryable(f"cannot connect ({exc.reason})") from None
        except (ConnectionError, OSError) as exc:
            raise _Retryable(f"connection failed ({exc})") from None
        return self._parse(payload)

    def _parse(self, payload: bytes) -> GenerationResult:
        try:
            data = json.loads(payload)
            text = data["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            snippet = payload[:_BODY_SNIPPET].decode("utf-8", "replace")
            raise BackendError(
                f"{self.url}: expected a chat completion with choices[0].message.content, got {snippet!r}"
            ) from None
        usage = data.get("usage") or {}
        return GenerationResult(
            text=text or "", prompt_tokens=usage.get("prompt_tokens"), new_tokens=usage.get("completion_tokens")
        )

    def _read_stream(self, response, on_text: TextCallback, start: float) -> GenerationResult:
        """Server-sent events: ``data: {chunk}`` lines until ``data: [DONE]``."""
        pieces: list[str] = []
        first = None
        usage: dict[str, Any] = {}
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise BackendError(f"{self.url}: unreadable stream event {data[:80]!r}") from None
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    first = first if first is not None else time.perf_counter() - start
                    pieces.append(piece)
                    on_text(piece)
        timings = {"first_token": first} if first is not None else {}
        return GenerationResult(
            text="".join(pieces),
            prompt_tokens=usage.get("prompt_tokens"),
            new_tokens=usage.get("completion_tokens"),
            timings=timings,
        )
