"""The one interface every VLM backend implements: frames + prompt in, text out, optional streaming.

A backend never parses: it returns the model's text exactly, and the diagnoser parses it. Streaming is a callback
(``on_text`` receives each new piece of text as it is generated); :func:`stream_text` turns that into an iterator
for callers that prefer one (the app). Implementations: :mod:`.transformers_backend`, :mod:`.openai_backend`,
:mod:`.scripted` (deterministic, for the offline demo and tests).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vifailback_demo.errors import BackendError

TextCallback = Callable[[str], None]

#: The paper evaluates greedily with up to 2,048 new tokens.
DEFAULT_MAX_NEW_TOKENS = 2048


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


def check_frames(frames: Sequence[np.ndarray]) -> None:
    """Backends accept 1+ RGB uint8 images of shape (H, W, 3)."""
    if not frames:
        raise BackendError("no frames: expected at least one RGB image")
    for i, f in enumerate(frames, start=1):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            shape = getattr(f, "shape", None)
            raise BackendError(f"frame {i}: expected an RGB uint8 array (H, W, 3), got {type(f).__name__} {shape}")


_DONE = object()


def stream_text(
    backend: VLMBackend,
    frames: Sequence[np.ndarray],
    prompt: str,
    *,
    settings: GenerationSettings | None = None,
    timeout_s: float | None = None,
) -> Iterator[str | GenerationResult]:
    """Yield text pieces as they are generated, then the final :class:`GenerationResult` as the last item.

    Generation runs in a worker thread; an exception there is re-raised here. ``timeout_s`` bounds the wait for
    each next piece (a stuck backend raises :class:`~vifailback_demo.errors.BackendTimeoutError`).
    """
    from vifailback_demo.errors import BackendTimeoutError

    pieces: queue.Queue[Any] = queue.Queue()

    def work() -> None:
        try:
            result = backend.generate(frames, prompt, settings=settings, on_text=pieces.put)
            pieces.put(result)
        except BaseException as exc:
            pieces.put(exc)
        finally:
            pieces.put(_DONE)

    thread = threading.Thread(target=work, name="vlm-generate", daemon=True)
    thread.start()
    while True:
        try:
            item = pieces.get(timeout=timeout_s)
        except queue.Empty:
            raise BackendTimeoutError(
                f"{backend.name}: no output for {timeout_s:.0f} s; expected streamed text"
            ) from None
        if item is _DONE:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join(timeout=1.0)
