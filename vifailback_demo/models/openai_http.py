"""The one HTTP client for OpenAI-compatible ``/chat/completions`` servers (vLLM, SGLang, a hosted API).

Standard library only (``urllib``). Used by the library's :class:`~.openai_backend.OpenAICompatibleBackend` and by
the evaluation's served generator and LLM judge. Every request has a timeout; failures that may pass (connection
errors, timeouts, HTTP 408, 429 and 5xx) are retried a bounded number of times with exponential backoff; other HTTP
errors (400, 401, 404, ...) fail at once with :class:`~vifailback_demo.errors.PermanentBackendError` and the
server's message, since retrying cannot fix them. A streamed answer is never retried once text has been passed on.
The API key is resolved by the caller and only ever sent in the ``Authorization`` header: never put in a message,
an error or a ``repr``.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from vifailback_demo.errors import BackendError, BackendTimeoutError, PermanentBackendError
from vifailback_demo.models.backend import GenerationResult, TextCallback

RETRY_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
#: Server error bodies are cut to this many characters in messages.
_BODY_SNIPPET = 300


def chat_url(base_url: str) -> str:
    """``http://host:port/v1`` (the usual base URL) -> ``http://host:port/v1/chat/completions`` (kept if given)."""
    url = base_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise BackendError(f"server URL: expected http://host:port/v1, got {base_url!r:.80}")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class _Retryable(Exception):
    """A failure worth another try (after backoff)."""


class ChatClient:
    """POST ``/chat/completions``; thread-safe (no per-request state), so callers may keep many requests in flight.

    ``key_source`` names where the key comes from (e.g. ``$OPENAI_API_KEY``) for the hint on HTTP 401/403.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        key_source: str | None = None,
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
        self.key_source = key_source

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(url={self.url!r}, model={self.model!r})"

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 2048,
        extra: dict[str, Any] | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        """The first choice's text (streamed to ``on_text`` piece by piece when given) and the token usage.

        ``extra`` adds fields to the request body (e.g. vLLM's ``min_tokens``).
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": on_text is not None,
            **(extra or {}),
        }
        attempts = made = self.retries + 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            streamed: list[str] = []

            def relay(piece: str, streamed=streamed) -> None:
                streamed.append(piece)
                on_text(piece)  # type: ignore[misc]

            try:
                return self._once(body, relay if on_text else None)
            except _Retryable as exc:
                last = exc
                if streamed:  # the caller has seen text already; a retry would repeat it
                    made = attempt + 1
                    break
        if isinstance(last, _Retryable) and isinstance(last.__cause__, TimeoutError | socket.timeout):
            raise BackendTimeoutError(
                f"{self.url}: no answer within {self.timeout_s:g} s after {made} attempt(s)"
            ) from None
        raise BackendError(f"{self.url}: failed after {made} attempt(s): {last}") from None

    def _request(self, body: dict[str, Any]) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")

    def _once(self, body: dict[str, Any], on_text: TextCallback | None) -> GenerationResult:
        request = self._request(body)
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if on_text is not None:
                    return self._read_stream(response, on_text, start)
                payload = response.read()
        except urllib.error.HTTPError as exc:
            snippet = exc.read(_BODY_SNIPPET).decode("utf-8", "replace").strip() if exc.fp else ""
            exc.close()
            message = f"HTTP {exc.code} {exc.reason}: {snippet}" if snippet else f"HTTP {exc.code} {exc.reason}"
            if exc.code in RETRY_STATUS:
                raise _Retryable(message) from None
            hint = ""
            if exc.code in (401, 403):
                hint = f" (check the API key in {self.key_source})" if self.key_source else " (check the API key)"
            raise PermanentBackendError(f"{self.url}: {message}{hint}") from None
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.timeout_s:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise _Retryable(f"timed out after {self.timeout_s:g} s") from exc.reason
            raise _Retryable(f"cannot connect ({exc.reason})") from None
        except (ConnectionError, OSError) as exc:
            raise _Retryable(f"connection failed ({exc})") from None
        return self._parse(payload)

    def _parse(self, payload: bytes) -> GenerationResult:
        try:
            data = json.loads(payload)
            content = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError):
            snippet = payload[:_BODY_SNIPPET].decode("utf-8", "replace")
            raise BackendError(
                f"{self.url}: expected a chat completion with choices[0].message.content, got {snippet!r}"
            ) from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
        if content is not None and not isinstance(content, str):
            raise BackendError(f"{self.url}: expected message content as text, got {type(content).__name__}")
        return GenerationResult(
            text=content or "", prompt_tokens=usage.get("prompt_tokens"), new_tokens=usage.get("completion_tokens")
        )

    def _read_stream(self, response: Any, on_text: TextCallback, start: float) -> GenerationResult:
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
