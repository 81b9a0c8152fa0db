"""A small OpenAI-compatible chat client (stdlib only), used by the served generator and by the LLM judge.

Every request has a timeout; transient failures (connection errors, timeouts, HTTP 408/429/5xx, a body that is not
a chat completion) are retried a bounded number of times with a short backoff; other HTTP errors (400, 401, 404)
fail at once with :class:`BackendError`, since retrying cannot fix them. The API key is read by the caller from an
environment variable and only ever sent in the ``Authorization`` header, never put in a message.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from vifailback_demo.errors import BackendError, BackendTimeoutError
from vifailback_demo.imageio import encode_image

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class PermanentBackendError(BackendError):
    """An HTTP answer that retrying cannot fix (bad request, authentication, unknown model or path)."""


def chat_url(base_url: str) -> str:
    """``http://host:port/v1`` (the usual base URL) -> ``http://host:port/v1/chat/completions``."""
    url = base_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise BackendError(f"server URL: expected http://host:port/v1, got {base_url!r:.80}")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class OpenAIChatClient:
    """POST ``/chat/completions``; returns the first choice's message text."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 0.5,
    ) -> None:
        if timeout_s <= 0:
            raise BackendError(f"request timeout: expected > 0 seconds, got {timeout_s}")
        if retries < 0:
            raise BackendError(f"retries: expected >= 0, got {retries}")
        self.url = chat_url(base_url)
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChatClient(url={self.url!r}, model={self.model!r})"

    def _post_once(self, payload: dict[str, Any]) -> str:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            body = response.read()
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.url}: expected a chat completion JSON body, got {body[:120]!r}") from exc
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise BackendError(f"{self.url}: expected message content as text, got {type(content).__name__}")
        return content

    def chat(self, messages: list[dict[str, Any]], *, temperature: float = 0.0, max_tokens: int = 2048) -> str:
        payload = {"model": self.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * attempt)
            try:
                return self._post_once(payload)
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", "replace") if exc.fp else ""
                exc.close()
                if exc.code not in _RETRY_STATUS:
                    raise PermanentBackendError(f"{self.url}: HTTP {exc.code} {exc.reason}: {detail}") from None
                last = BackendError(f"{self.url}: HTTP {exc.code} {exc.reason}")
            except TimeoutError as exc:
                last = BackendTimeoutError(f"{self.url}: no answer within {self.timeout_s:g} s ({exc})")
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    last = BackendTimeoutError(f"{self.url}: no answer within {self.timeout_s:g} s")
                else:
                    last = BackendError(f"{self.url}: cannot connect ({exc.reason})")
            except (ConnectionError, OSError) as exc:
                last = BackendError(f"{self.url}: connection failed ({exc})")
            except BackendError as exc:
                last = exc
        assert last is not None
        raise type(last)(f"{last} (after {self.retries + 1} attempts)") from None


def image_data_url(image: np.ndarray, *, quality: int = 90) -> str:
    """An RGB image as a base64 JPEG data URL (what vLLM and SGLang accept in ``image_url`` blocks)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(image, ".jpg", quality=quality)).decode()


class OpenAIChatGenerator:
    """A served VLM as a :class:`eval.generator.Generator`: images first, then the prompt, in one user message.

    Thread-safe (no shared mutable state), so the runner can keep many requests in flight.
    """

    def __init__(self, client: OpenAIChatClient, *, max_tokens: int = 2048, temperature: float = 0.0) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature

    def generate(self, images: list[np.ndarray], prompt: str) -> str:
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": image_data_url(im)}} for im in images
        ]
        content.append({"type": "text", "text": prompt})
        return self.client.chat(
            [{"role": "user", "content": content}], temperature=self.temperature, max_tokens=self.max_tokens
        )
