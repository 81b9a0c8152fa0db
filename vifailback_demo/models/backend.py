"""The one interface every VLM backend implements: frames + prompt in, text out, optional streaming.

A backend never parses: it returns the model's text exactly, and the diagnoser parses it. Streaming is a callback
(``on_text`` receives each new piece of text as it is generated); :func:`stream_pieces` is the one helper that turns
such a callback into an iterator (:func:`stream_text` for a backend, ``Diagnoser.stream`` for a diagnosis). A
backend may also have ``generate_batch`` (:class:`BatchVLMBackend`: several requests in one forward pass, what
``python -m eval run --batch-size`` uses). Every backend is built by :func:`.factory.create_backend`.
Implementations: :mod:`.transformers_backend`, :mod:`.openai_backend`, :mod:`.scripted` (deterministic, for the
offline demo and tests, and the bench's reference answerer).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from vifailback_demo.errors import BackendError, BackendTimeoutError

TextCallback = Callable[[str], None]
#: One request of a batch: the frames and the prompt.
BatchRequest = tuple[Sequence[np.ndarray], str]
T = TypeVar("T")

#: The paper evaluates greedily with up to 2,048 new tokens.
DEFAULT_MAX_NEW_TOKENS = 2048

#: The overall deadline of one model call when none is set: a base for connecting, queueing on a busy server and
#: reading up to 32 images (prefill), plus an allowance per new token. 0.1 s a token is a slow 10 tokens/s server,
#: so the paper's 2,048-token answer fits (60 + 204.8 = 264.8 s), while a silent or keep-alive-dripping server
#: frees its caller in under 5 minutes instead of never. Set it explicitly for slower hardware (e.g. an 8B on CPU).
DEADLINE_BASE_S = 60.0
DEADLINE_PER_TOKEN_S = 0.1


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings shared by every backend (greedy unless ``temperature`` > 0)."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    #: Force exactly ``max_new_tokens`` (ignore end-of-sequence): used by benchmarks to time a fixed length.
    min_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class GenerationResult:
    """The text a backend produced plus what it knows about the run (all optional except ``text``)."""

    text: str
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    #: Seconds: "prepare" (pre-processing), "generate" (model time), "first_token" (time to first text).
    timings: dict[str, float] = field(default_factory=dict)
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VLMBackend(Protocol):
    """Frames (RGB uint8 arrays, in time order) + a prompt (without image tokens) -> the model's answer text."""

    #: A short, human-readable name of the model behind the backend (recorded in every diagnosis).
    name: str

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        """Run the model; call ``on_text`` with each new piece of text when given; raise :class:`BackendError`."""
        ...


@runtime_checkable
class BatchVLMBackend(VLMBackend, Protocol):
    """A backend that can also answer several requests in one forward pass (local models: throughput)."""

    def generate_batch(
        self, requests: Sequence[BatchRequest], *, settings: GenerationSettings | None = None
    ) -> list[GenerationResult]:
        """One result per ``(frames, prompt)`` request, in order; what :meth:`generate` gives each alone."""
        ...


def default_deadline_s(max_new_tokens: int, *, at_least: float = 0.0) -> float:
    """Seconds one model call may take in all (see :data:`DEADLINE_BASE_S`); never below ``at_least``."""
    return max(DEADLINE_BASE_S + DEADLINE_PER_TOKEN_S * max_new_tokens, at_least)


def check_deadline(seconds: float | None, what: str = "deadline") -> None:
    """None (automatic) or a finite number of seconds > 0; else a one-line :class:`BackendError`."""
    if seconds is not None and not (isinstance(seconds, int | float) and 0 < seconds < math.inf):
        raise BackendError(f"{what}: expected seconds > 0, got {seconds!r}")


class DeadlineBackend:
    """``inner`` with a wall-clock bound on each ``generate``: the caller gets an answer or a
    :class:`~vifailback_demo.errors.BackendTimeoutError` within ``deadline_s``, whatever the model does.

    A thread cannot be killed, so ``inner.generate`` runs in a worker that is left behind on timeout: it ends by
    its own bounds (the OpenAI client closes its socket at the same deadline; a local generation runs to
    ``max_new_tokens``) and the text it still produces is dropped. ``hint`` ends the message (where to raise it).
    """

    def __init__(self, inner: VLMBackend, deadline_s: float, hint: str = "") -> None:
        check_deadline(deadline_s)
        self.inner = inner
        self.name = inner.name
        self.deadline_s = deadline_s
        self.hint = hint

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        box: queue.Queue[tuple[bool, Any]] = queue.Queue()
        late = threading.Event()

        def relay(piece: str) -> None:
            if not late.is_set():
                on_text(piece)  # type: ignore[misc]

        def work() -> None:
            try:
                result = self.inner.generate(frames, prompt, settings=settings, on_text=relay if on_text else None)
            except BaseException as exc:
                box.put((False, exc))
            else:
                box.put((True, result))

        threading.Thread(target=work, name="vlm-deadline", daemon=True).start()
        try:
            ok, value = box.get(timeout=self.deadline_s)
        except queue.Empty:
            late.set()
            raise BackendTimeoutError(
                f"{self.name}: no complete answer within {self.deadline_s:g} s{self.hint}"
            ) from None
        if not ok:
            raise value
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def check_frames(frames: Sequence[np.ndarray]) -> None:
    """Backends accept 1+ RGB uint8 images of shape (H, W, 3)."""
    if not frames:
        raise BackendError("no frames: expected at least one RGB image")
    for i, f in enumerate(frames, start=1):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            shape = getattr(f, "shape", None)
            raise BackendError(f"frame {i}: expected an RGB uint8 array (H, W, 3), got {type(f).__name__} {shape}")


_DONE = object()


def stream_pieces(
    run: Callable[[TextCallback], T],
    *,
    timeout_s: float | None = None,
    who: str = "model",
    thread_name: str = "vlm-generate",
) -> Iterator[str | T]:
    """Yield the text pieces ``run`` passes to its callback as they come, then what ``run`` returns, last.

    ``run(on_text)`` runs in a worker thread; an exception there is re-raised here. ``timeout_s`` bounds the wait
    for each next piece (then :class:`~vifailback_demo.errors.BackendTimeoutError`, naming ``who``).
    """
    pieces: queue.Queue[Any] = queue.Queue()

    def work() -> None:
        try:
            pieces.put(run(pieces.put))
        except BaseException as exc:
            pieces.put(exc)
        finally:
            pieces.put(_DONE)

    thread = threading.Thread(target=work, name=thread_name, daemon=True)
    thread.start()
    while True:
        try:
            item = pieces.get(timeout=timeout_s)
        except queue.Empty:
            raise BackendTimeoutError(f"{who}: no output for {timeout_s:.0f} s; expected streamed text") from None
        if item is _DONE:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join(timeout=1.0)


def stream_text(
    backend: VLMBackend,
    frames: Sequence[np.ndarray],
    prompt: str,
    *,
    settings: GenerationSettings | None = None,
    timeout_s: float | None = None,
) -> Iterator[str | GenerationResult]:
    """Yield text pieces as they are generated, then the final :class:`GenerationResult` as the last item.

    Generation runs in a worker thread (:func:`stream_pieces`); an exception there is re-raised here. ``timeout_s``
    bounds the wait for each next piece (a stuck backend raises :class:`~vifailback_demo.errors.BackendTimeoutError`).
    """
    return stream_pieces(
        lambda on_text: backend.generate(frames, prompt, settings=settings, on_text=on_text),
        timeout_s=timeout_s,
        who=backend.name,
    )
