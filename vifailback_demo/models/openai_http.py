"""The one HTTP client for OpenAI-compatible ``/chat/completions`` servers (vLLM, SGLang, a hosted API).

Standard library only (``urllib``). Used by :class:`~.openai_backend.OpenAICompatibleBackend` (the app's, the
CLI's and the bench's served model) and by the evaluation's LLM judge. Two bounds hold every call:

* ``timeout_s`` bounds each socket wait (connect, or silence between two reads);
* the *deadline* bounds the whole call by the wall clock: connect, headers, the whole body or stream, retries and
  their backoff together. A socket timeout alone cannot: a server that sends a keep-alive line every few seconds
  never trips it. So a timer shuts down the call's socket when the deadline passes, which ends a blocked read at
  once, and the call raises :class:`~vifailback_demo.errors.BackendTimeoutError`. Unset, the deadline is sized
  from ``max_tokens`` (:func:`~.backend.default_deadline_s`, never below ``timeout_s``).

Failures that may pass (connection errors, socket timeouts, HTTP 408, 429 and 5xx) are retried a bounded number of
times with exponential backoff, within the deadline; other HTTP errors (400, 401, 404, ...) fail at once with
:class:`~vifailback_demo.errors.PermanentBackendError` and the server's message. A streamed answer is never retried
once text has been passed on. When streaming was asked for, the reply must be server-sent events ending in
``data: [DONE]`` (or with a ``finish_reason``); a plain JSON chat completion is also read, as some servers ignore
``stream``. Anything else (HTML, other text, an empty body, no text, a stream cut short) is a one-line
:class:`~vifailback_demo.errors.BackendError` naming what was seen, never an empty answer. The API key is resolved
by the caller and only ever sent in the ``Authorization`` header: never put in a message, an error or a ``repr``.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from vifailback_demo.errors import BackendError, BackendTimeoutError, PermanentBackendError
from vifailback_demo.models.backend import GenerationResult, TextCallback, check_deadline, default_deadline_s
from vifailback_demo.models.http_deadline import Deadline, DeadlinePassed, opener
from vifailback_demo.models.openai_reply import BODY_SNIPPET, one_line, parse_completion, read_body, read_stream

RETRY_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


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
    ``deadline_s``: seconds one :meth:`chat` call may take in all (None: sized from ``max_tokens`` per call).
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
        deadline_s: float | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise BackendError(f"request timeout: expected > 0 seconds, got {timeout_s}")
        if retries < 0:
            raise BackendError(f"retries: expected >= 0, got {retries}")
        check_deadline(deadline_s, "request deadline")
        self.url = chat_url(base_url)
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.key_source = key_source
        self.deadline_s = deadline_s

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(url={self.url!r}, model={self.model!r})"

    def deadline_for(self, max_tokens: int) -> float:
        return self.deadline_s or default_deadline_s(max_tokens, at_least=self.timeout_s)

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
        deadline = Deadline(self.deadline_for(max_tokens))
        try:
            return self._attempts(body, on_text, deadline)
        finally:
            deadline.cancel()

    def _attempts(self, body: dict[str, Any], on_text: TextCallback | None, deadline: Deadline) -> GenerationResult:
        made = 0
        last: Exception | None = None
        streamed: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff_s * 2 ** (attempt - 1)
                if pause >= deadline.left():
                    break  # no time left for another try: report the last failure
                time.sleep(pause)
            streamed = []

            def relay(piece: str, streamed=streamed) -> None:
                streamed.append(piece)
                on_text(piece)  # type: ignore[misc]

            made = attempt + 1
            try:
                return self._once(body, relay if on_text else None, deadline)
            except DeadlinePassed:
                got = sum(map(len, streamed))
                cut = f"; the answer was cut after {got} characters" if got else ""
                raise BackendTimeoutError(
                    f"{self.url}: no complete answer within the {deadline.seconds:g} s deadline "
                    f"({made} attempt(s){cut})"
                ) from None
            except _Retryable as exc:
                last = exc
                if streamed:  # the caller has seen text already; a retry would repeat it
                    break
        if isinstance(last, _Retryable) and isinstance(last.__cause__, TimeoutError | socket.timeout):
            raise BackendTimeoutError(
                f"{self.url}: no answer within {self.timeout_s:g} s after {made} attempt(s)"
            ) from None
        raise BackendError(f"{self.url}: failed after {made} attempt(s): {last}") from None

    def _request(self, body: dict[str, Any]) -> urllib.request.Request:
        accept = "text/event-stream, application/json" if body["stream"] else "application/json"
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")

    def _once(self, body: dict[str, Any], on_text: TextCallback | None, deadline: Deadline) -> GenerationResult:
        left = deadline.left()
        if left <= 0:
            raise DeadlinePassed
        # The socket timeout is a backstop past the deadline, so that the deadline's timer (with its message) wins
        # whenever the deadline is the tighter bound.
        timeout = min(self.timeout_s, left + 1.0)
        start = time.perf_counter()
        try:
            with opener(deadline).open(self._request(body), timeout=timeout) as response:
                if on_text is not None:
                    return read_stream(response, self.url, on_text, start, deadline)
                payload = read_body(response, self.url)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (BackendError, DeadlinePassed):
            raise
        except (OSError, http.client.HTTPException) as exc:
            if deadline.over():  # the timer shut the socket; whatever the read saw, the cause is the deadline
                raise DeadlinePassed from None
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _Retryable(f"timed out after {self.timeout_s:g} s") from reason
            if isinstance(exc, urllib.error.URLError):
                raise _Retryable(f"cannot connect ({one_line(str(reason), 200)})") from None
            raise _Retryable(f"connection failed ({one_line(str(exc) or type(exc).__name__, 200)})") from None
        try:
            return parse_completion(payload, self.url)
        except BackendError:
            if deadline.over():  # the timer cut the body short
                raise DeadlinePassed from None
            raise

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        try:
            snippet = one_line(exc.read(BODY_SNIPPET), BODY_SNIPPET) if exc.fp else ""
        except (OSError, http.client.HTTPException):
            snippet = ""
        exc.close()
        reason = one_line(str(exc.reason), 80)
        message = f"HTTP {exc.code} {reason}: {snippet}" if snippet else f"HTTP {exc.code} {reason}"
        if exc.code in RETRY_STATUS:
            return _Retryable(message)
        hint = ""
        if exc.code in (401, 403):
            hint = f" (check the API key in {self.key_source})" if self.key_source else " (check the API key)"
        return PermanentBackendError(f"{self.url}: {message}{hint}")
