"""Which model to load, decided offline.

Order: an explicit ``--model`` / ``VIFAILBACK_MODEL`` > the paper's model ``sii-rhos-ai/ViFailback-8B`` if it is in
the local Hugging Face cache > the bundled tiny model in ``assets/models/vifailback-tiny``. Only the cache directory
on disk is inspected (``try_to_load_from_cache`` reads files, never the network); a missing model gives a message
that says what to download and how. Light module: no torch, no transformers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.errors import ModelNotFoundError

PAPER_MODEL = "sii-rhos-ai/ViFailback-8B"
MODEL_ENV = "VIFAILBACK_MODEL"
BUNDLED_MODEL_RELPATH = Path("assets") / "models" / "vifailback-tiny"


def bundled_model_dir() -> Path:
    """``assets/models/vifailback-tiny`` at the repository root (beside the package)."""
    return Path(__file__).resolve().parents[2] / BUNDLED_MODEL_RELPATH


@dataclass(frozen=True)
class ModelChoice:
    """The resolved model: ``spec`` as named, ``path`` on disk, and why it was chosen (``source``)."""

    spec: str
    path: Path
    source: str  # "flag" | "env" | "hf-cache" | "bundled"


def looks_like_path(spec: str) -> bool:
    """A filesystem path rather than a Hub id (``owner/name``)."""
    if spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1:
        return True
    return Path(spec).exists()


def is_model_dir(path: Path) -> bool:
    """A usable checkpoint: a config plus safetensors weights (an adapter has ``adapter_config.json``)."""
    has_config = (path / "config.json").is_file() or (path / "adapter_config.json").is_file()
    return path.is_dir() and has_config and any(path.glob("*.safetensors"))


def cached_snapshot(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The local snapshot directory of ``repo_id`` if a complete download is in the cache, else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    except (ValueError, OSError):  # not a valid repo id, unreadable cache
        return None
    if not isinstance(found, str):
        return None
    snapshot = Path(found).parent
    return snapshot if is_model_dir(snapshot) else None


def download_hint(repo_id: str) -> str:
    return f"hf download {repo_id}  (older hubs: huggingface-cli download {repo_id})"


def missing_model_message(spec: str) -> str:
    return (
        f"model {spec!r} is not in the local Hugging Face cache and ViFailback never downloads at run time; "
        f"get it with: {download_hint(spec)} - or pass a local directory with --model"
    )


def no_model_message(bundled: Path) -> str:
    return (
        f"no model available: {PAPER_MODEL} is not in the local Hugging Face cache and the bundled tiny model is "
        f"missing ({bundled}; it is built by the training module). Download the paper's model with "
        f"{download_hint(PAPER_MODEL)}, pass --model DIR or set {MODEL_ENV}, or use --backend scripted (demo answers) "
        "or --backend openai (a served model)"
    )


def _explicit(spec: str, source: str, cache_dir: str | os.PathLike | None) -> ModelChoice:
    path = Path(spec).expanduser()
    if looks_like_path(spec):
        if not path.is_dir():
            raise ModelNotFoundError(
                f"model directory {spec} ({source}) not found; expected config.json + *.safetensors"
            )
        if not is_model_dir(path):
            raise ModelNotFoundError(f"{spec} ({source}) is not a model: expected config.json and *.safetensors inside")
        return ModelChoice(spec, path, source)
    snapshot = cached_snapshot(spec, cache_dir)
    if snapshot is None:
        raise ModelNotFoundError(missing_model_message(spec))
    return ModelChoice(spec, snapshot, source)


def resolve_model(
    explicit: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    bundled_dir: str | os.PathLike | None = None,
) -> ModelChoice:
    """The model to load for the transformers backend; raises :class:`ModelNotFoundError` with a how-to."""
    env = os.environ if env is None else env
    if explicit:
        return _explicit(explicit, "flag", cache_dir)
    if env.get(MODEL_ENV):
        return _explicit(env[MODEL_ENV], "env", cache_dir)
    snapshot = cached_snapshot(PAPER_MODEL, cache_dir)
    if snapshot is not None:
        return ModelChoice(PAPER_MODEL, snapshot, "hf-cache")
    bundled = Path(bundled_dir) if bundled_dir is not None else bundled_model_dir()
    if is_model_dir(bundled):
        return ModelChoice(str(bundled), bundled, "bundled")
    raise ModelNotFoundError(no_model_message(bundled))
