"""ZeroGPU support: on a Hugging Face ZeroGPU Space only the model call may hold the GPU.

``spaces`` is imported only when it is installed (it is on Spaces, not here), and only the backend's
``generate`` is wrapped with ``@spaces.GPU(duration=...)``. Everywhere else the backend is returned unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from vifailback_demo.models.backend import GenerationResult, GenerationSettings, TextCallback, VLMBackend


def zerogpu_available() -> bool:
    return importlib.util.find_spec("spaces") is not None


class GPUBackend:
    """Delegates to ``inner``; ``generate`` runs inside ``spaces.GPU``."""

    def __init__(self, inner: VLMBackend, duration_s: int) -> None:
        import spaces

        self.inner = inner
        self.name = inner.name
        self._generate = spaces.GPU(duration=duration_s)(inner.generate)

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        return self._generate(frames, prompt, settings=settings, on_text=on_text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wrap_for_gpu(backend: VLMBackend, duration_s: int) -> VLMBackend:
    from vifailback_demo.models.scripted import ScriptedBackend

    if isinstance(backend, ScriptedBackend) or not zerogpu_available():
        return backend
    return GPUBackend(backend, duration_s)
