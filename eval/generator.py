"""What the runner needs from a model: images + prompt in, text out (optionally a batch at a time).

Any object with ``generate(images, prompt) -> str`` works: the backends of ``vifailback_demo.models`` (through
:mod:`eval.backends`), :class:`eval.backends.OpenAIChatGenerator` (a served model), or a fake in a test. A generator
that also has ``generate_batch`` gets whole batches from the runner (local GPU inference); a remote one is called
from several threads at once and must be thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Generator(Protocol):
    def generate(self, images: list[np.ndarray], prompt: str) -> str:
        """The model's reply to ``prompt`` about ``images`` (RGB uint8 arrays, in order)."""
        ...


@runtime_checkable
class BatchGenerator(Generator, Protocol):
    def generate_batch(self, requests: Sequence[tuple[list[np.ndarray], str]]) -> list[str]:
        """One reply per ``(images, prompt)`` request, in order."""
        ...


class ReferenceGenerator:
    """Answers each prompt with its reference reply from the bench: a scorer sanity check (should score 100%).

    Prompts that occur several times with different references get the first one.
    """

    def __init__(self, answers: dict[str, str]) -> None:
        self._answers = answers

    def generate(self, images: list[np.ndarray], prompt: str) -> str:
        return self._answers.get(prompt, "")
