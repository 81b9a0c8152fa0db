"""The diagnosis service: owns the VLM backend (built lazily, once, under a lock) and runs diagnoses.

Nothing is loaded at import or start-up: the first diagnosis builds the backend, so the app starts in seconds
even with an 8B model configured. When no model can be found (``backend="auto"``) the service falls back to the
scripted demo backend and says so in :meth:`status` ("demo mode: ..."), with the how-to from model resolution.
:meth:`run` is a generator of :class:`Stage` / text / :class:`Diagnosis` items so the UI can show progress and
stream the model's reasoning. On a ZeroGPU Space the model call is wrapped in ``spaces.GPU`` (see :mod:`.gpu`).

Every model call is bounded by the model deadline (``AppConfig.model_deadline_s``, ``--model-deadline-s``; unset,
sized from ``max_new_tokens``): past it the run fails with a one-line timeout and the model queue moves on, whatever
the backend does. The OpenAI-compatible client gets the same deadline and closes its connection then; a local
generation cannot be interrupted and finishes in the background (its text is dropped).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.errors import BackendError, ModelNotFoundError, VideoError
from vifailback_demo.models.backend import DeadlineBackend, GenerationSettings, VLMBackend, default_deadline_s
from vifailback_demo.models.scripted import ScriptedBackend
from vifailback_demo.services.config import AppConfig
from vifailback_demo.services.gpu import wrap_for_gpu
from vifailback_demo.video.reader import VIDEO_SUFFIXES, SampledFrames
from vifailback_demo.video.sampling import SamplingSpec
from vifailback_demo.video.sources import IMAGE_SUFFIXES, read_frames

#: Frames wider than this are scaled down when read: the model sees a few hundred pixels anyway.
MAX_FRAME_SIDE = 960


#: Said wherever the bundled tiny model is the one answering (a Space visitor must know what they are looking at).
TINY_NOTE = (
    "This is the bundled tiny model: a small offline demo that often misreads the frames. For real diagnoses run "
    "the paper's model: `python app.py --model sii-rhos-ai/ViFailback-8B` on a GPU (after `hf download "
    "sii-rhos-ai/ViFailback-8B`)."
)


@dataclass(frozen=True)
class Stage:
    """A progress step: ``name`` in sampling | model | parsing | rendering, ``fraction`` 0-1 of the whole run."""

    name: str
    fraction: float
    detail: str = ""


class DiagnosisService:
    def __init__(self, config: AppConfig, backend: VLMBackend | None = None) -> None:
        self.config = config
        self.settings = GenerationSettings(max_new_tokens=config.max_new_tokens)
        self.deadline_s = config.model_deadline_s or default_deadline_s(config.max_new_tokens)
        self.sampling = SamplingSpec()
        self._backend = backend
        self._lock = threading.Lock()
        self.model_lock = threading.Lock()
        self._demo_reason: str | None = None
        self._load_error: str | None = None
        self.load_seconds: float | None = 0.0 if backend is not None else None
        self._plan = self._decide(config) if backend is None else "given"

    # --- backend ---------------------------------------------------------------------------------------------

    def _decide(self, config: AppConfig) -> str:
        """Which backend the first run builds; resolves the model now (files only, no torch) to say so early."""
        if config.backend in ("scripted", "openai"):
            return config.backend
        from vifailback_demo.models.resolve import resolve_model

        try:
            self._choice = resolve_model(config.model)
        except ModelNotFoundError as exc:
            if config.backend == "transformers" or config.model:
                raise  # an operator who named a model wants it, not a demo: fail at start-up, clearly
            self._demo_reason = str(exc)
            return "scripted"
        return "transformers"

    @property
    def demo_mode(self) -> bool:
        return self._demo_reason is not None

    @property
    def is_scripted(self) -> bool:
        return self._plan == "scripted" or isinstance(self._backend, ScriptedBackend)

    def status(self) -> str:
        """One line for the UI: what answers, and whether it is loaded."""
        if self._demo_reason is not None:
            return (
                "**Demo mode: no VLM found** - answers are scripted (ground truth on the bundled examples, a fixed "
                f"demo answer otherwise). To use a real model: {self._demo_reason}"
            )
        if self._load_error:
            return f"**Model failed to load:** {self._load_error}"
        if self._plan == "scripted" or isinstance(self._backend, ScriptedBackend):
            return "Backend: scripted demo answers (`--backend scripted`)."
        if self._backend is not None:
            took = f", loaded in {self.load_seconds:.1f} s" if self.load_seconds else ""
            choice = getattr(self, "_choice", None)
            bundled = choice is not None and choice.source == "bundled"
            return f"Model: `{self._backend.name}` ({self._plan} backend{took})." + (f" {TINY_NOTE}" if bundled else "")
        if self._plan == "openai":
            return f"Model: `{self.config.model}` served at {self.config.openai_base_url or 'the default URL'}."
        choice = self._choice
        text = f"Model: `{choice.spec}` ({choice.source}); loads on the first run."
        return text + (f" {TINY_NOTE}" if choice.source == "bundled" else "")

    def backend(self) -> VLMBackend:
        """The backend, built on first use; one build even when several sessions ask at once."""
        if self._backend is not None:
            return self._backend
        with self._lock:
            if self._backend is None:
                start = time.perf_counter()
                try:
                    self._backend = wrap_for_gpu(self._build(), self.config.gpu_duration_s)
                except BackendError as exc:
                    self._load_error = str(exc)
                    raise
                self.load_seconds = time.perf_counter() - start
                self._load_error = None
        return self._backend

    def _build(self) -> VLMBackend:
        from vifailback_demo.models.factory import create_backend

        if self._plan == "scripted":
            return ScriptedBackend(name="scripted-demo" if self.demo_mode else "scripted")
        if self._plan == "openai":
            return create_backend(
                "openai", self.config.model, base_url=self.config.openai_base_url, deadline_s=self.deadline_s
            )
        return create_backend("transformers", str(self._choice.path))

    def shared_backend(self) -> VLMBackend:
        """The backend for another user of the same model (the Live tab's checks): each call takes the model lock,
        so a live check and a Diagnose run (or a queue pre-fetch) never generate at once on one model."""
        return _LockedBackend(self.backend(), self.model_lock)

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    # --- input -----------------------------------------------------------------------------------------------

    def check_upload(self, path: str | Path | None) -> Path:
        """A visitor's file: present, a video by name, within the size limit (decoding checks the rest)."""
        if not path:
            raise VideoError("no video: upload a clip, record one with the webcam, or pick an example")
        p = Path(path)
        if not p.is_file():
            raise VideoError("the uploaded file is gone; upload it again")
        suffix = p.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            kind = "an image" if suffix in IMAGE_SUFFIXES else f"a {suffix or 'suffix-less'} file"
            raise VideoError(f"{p.name} is {kind}; expected a video ({', '.join(VIDEO_SUFFIXES)})")
        size = p.stat().st_size
        if size > self.config.max_upload_bytes:
            raise VideoError(
                f"{p.name} is {size / 2**20:.1f} MiB; the limit is {self.config.max_upload_mb} MiB - cut the clip "
                "around the failure"
            )
        return p

    def sample(self, source: str | Path) -> SampledFrames:
        sampled = read_frames(Path(source), self.sampling, max_side=MAX_FRAME_SIDE)
        if len(sampled) == 0:
            raise VideoError(f"{Path(source).name}: no frames could be read")
        return sampled

    # --- running ---------------------------------------------------------------------------------------------

    def run(
        self, sampled: SampledFrames, task: str, mode: str, *, scripted_answer: str | None = None
    ) -> Iterator[Stage | str | Diagnosis]:
        """Stages, then the model's text as it is generated, then the :class:`Diagnosis` (last item)."""
        if not task or not task.strip():
            raise VideoError("the task instruction is empty; describe what the robot was asked to do")
        if mode not in ("avoidance", "correction"):
            raise VideoError(f"mode: expected avoidance or correction, got {mode!r}")
        needs_load = not self.loaded
        yield Stage("model", 0.15, "loading the model" if needs_load else "generating")
        backend = self.backend()
        if isinstance(backend, ScriptedBackend):
            # A fresh scripted backend per run: ground truth for an annotated clip, the mode's wording, and no
            # answers shared between concurrent sessions. A small delay makes the streaming visible in the demo.
            backend = ScriptedBackend(
                answers=scripted_answer, name=backend.name, mode=mode, delay_s=self.config.scripted_delay_s
            )
        else:
            hint = " (the model deadline: raise it with --model-deadline-s or VIFAILBACK_MODEL_DEADLINE_S)"
            backend = DeadlineBackend(backend, self.deadline_s, hint=hint)
        if needs_load:
            yield Stage("model", 0.25, "generating")
        diagnoser = Diagnoser(backend, sampling=self.sampling, settings=self.settings)
        # One generation at a time, whoever asks (the Diagnose button, the review queue's pre-fetch worker): two
        # at once on one model would each take twice as long. Held while the text streams; a closed stream
        # (GeneratorExit) releases it. Scripted answers share nothing and need no turn.
        with contextlib.nullcontext() if isinstance(backend, ScriptedBackend) else self.model_lock:
            for item in diagnoser.stream(sampled, task, mode):
                if isinstance(item, Diagnosis):
                    yield Stage("parsing", 0.9, "parsed and drawn")
                yield item


class _LockedBackend:
    """``inner`` whose ``generate`` runs under ``lock`` (see :meth:`DiagnosisService.shared_backend`)."""

    def __init__(self, inner: VLMBackend, lock: threading.Lock) -> None:
        self.inner, self.lock, self.name = inner, lock, inner.name

    def generate(self, frames, prompt, *, settings=None, on_text=None):
        with self.lock:
            return self.inner.generate(frames, prompt, settings=settings, on_text=on_text)
