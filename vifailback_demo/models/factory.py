"""Build a backend by name (``transformers`` | ``openai`` | ``scripted`` | ``reference``): the one place that
chooses a backend, for the app, the CLI and the bench (``python -m eval``, whose flags ``eval/backends.py`` maps
onto these options)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vifailback_demo.errors import BackendError
from vifailback_demo.models.backend import VLMBackend

#: The backends the app and the CLI offer.
BACKENDS: tuple[str, ...] = ("transformers", "openai", "scripted")
#: Also built here: ``reference``, the bench's scorer check (``answers=``: prompt -> reply; no model).
KINDS: tuple[str, ...] = (*BACKENDS, "reference")
#: Default server for ``--backend openai`` (a local vLLM); override with ``VIFAILBACK_OPENAI_BASE_URL``.
DEFAULT_OPENAI_URL = "http://127.0.0.1:8000/v1"


def create_backend(kind: str, model: str | None = None, **options: Any) -> VLMBackend:
    """A ready backend. ``model``: a directory or cached Hub id (transformers), a served model name (openai), or a
    file whose text is the answer (scripted). Other ``options`` go to the backend's options dataclass."""
    if kind == "reference":
        from vifailback_demo.models.scripted import ReferenceBackend

        return ReferenceBackend(answers=dict(options.get("answers") or {}))
    if kind == "scripted":
        from vifailback_demo.models.scripted import ScriptedBackend

        answers = None
        if model:
            path = Path(model)
            if not path.is_file():
                raise BackendError(f"scripted backend: --model must be a text file holding the answer, got {model}")
            answers = path.read_text(encoding="utf-8")
        return ScriptedBackend(answers=answers, mode=options.get("mode", "avoidance"))
    if kind == "openai":
        from vifailback_demo.models.openai_backend import OpenAICompatibleBackend, OpenAIOptions

        base_url = options.pop("base_url", None) or os.environ.get("VIFAILBACK_OPENAI_BASE_URL") or DEFAULT_OPENAI_URL
        name = model or os.environ.get("VIFAILBACK_OPENAI_MODEL")
        if not name:
            raise BackendError("openai backend: name the served model with --model (or VIFAILBACK_OPENAI_MODEL)")
        allowed = {
            "api_key_env",
            "timeout_s",
            "deadline_s",
            "max_retries",
            "backoff_s",
            "max_concurrency",
            "jpeg_quality",
        }
        return OpenAICompatibleBackend(
            OpenAIOptions(
                base_url=base_url, model=name, **{k: v for k, v in options.items() if k in allowed and v is not None}
            )
        )
    if kind == "transformers":
        from vifailback_demo.models.resolve import resolve_model
        from vifailback_demo.models.transformers_backend import TransformersBackend, TransformersOptions

        choice = resolve_model(model)
        allowed = set(TransformersOptions.__dataclass_fields__) - {"model"}
        kwargs = {k: v for k, v in options.items() if k in allowed and v is not None}
        backend = TransformersBackend(TransformersOptions(model=str(choice.path), **kwargs))
        if choice.source == "hf-cache" or (choice.spec and not Path(choice.spec).exists()):
            backend.name = choice.spec  # a Hub id reads better than its snapshot hash
        return backend
    raise BackendError(f"backend: expected one of {list(KINDS)}, got {kind!r}")
