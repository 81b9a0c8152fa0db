"""The app's configuration: command-line flags over environment variables over defaults (no gradio here).

Precedence per setting: flag > environment > default. Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
are honoured because Hugging Face Spaces set them. ``--auth`` / ``VIFAILBACK_AUTH`` hold ``user:pass`` (several
pairs separated by commas); the password is never printed (see :meth:`AppConfig.describe`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from vifailback_demo.models.factory import BACKENDS
from vifailback_demo.services.hub import HUB_REPO_ENV, validate_repo_id
from vifailback_demo.store.store import DATA_DIR_ENV, DEFAULT_DATA_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = REPO_ROOT / "assets"
EXAMPLES_DIR = ASSETS_DIR / "examples"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 200
#: "auto": the transformers backend if a model resolves, else the scripted demo (demo mode, said plainly).
BACKEND_CHOICES: tuple[str, ...] = ("auto", *BACKENDS)


@dataclass(frozen=True)
class AppConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: (user, password) pairs; kept out of the generated repr, masked in :meth:`__repr__` (configs get logged).
    auth: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    model: str | None = None
    backend: str = "auto"
    openai_base_url: str | None = None
    max_new_tokens: int = 2048
    dataset_root: Path | None = None
    examples_dir: Path = EXAMPLES_DIR
    share: bool = False
    #: Seconds one GPU call may take on ZeroGPU (``@spaces.GPU(duration=...)``).
    gpu_duration_s: int = 120
    #: Pause between streamed pieces of a scripted answer, so the demo visibly streams (tests set 0).
    scripted_delay_s: float = 0.004
    #: Seconds one model call may take in all, for any backend (``--model-deadline-s``); the model queue is free
    #: again after it. None: sized from max_new_tokens (60 s + 0.1 s a token; models.backend.default_deadline_s).
    model_deadline_s: float | None = None
    #: The only Hub repo the UI pushes to (``--hub-repo``); see services/hub.py for who may push.
    hub_repo: str | None = None
    #: A folder of videos or a dataset root to review clip by clip (``--queue``; services/review_queue.py).
    queue_dir: Path | None = None
    #: Seconds a claimed queue clip may sit untouched before another reviewer may take it.
    queue_lease_s: float = 1800.0

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def __repr__(self) -> str:
        """Every field as the dataclass shows it, but each password as ``***`` (str() uses this too)."""
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr]
        masked = tuple((user, "***") for user, _ in self.auth)
        return f"{type(self).__name__}({', '.join(shown)}, auth={masked!r})"

    def describe(self) -> dict[str, object]:
        """Loggable summary: no passwords."""
        return {
            "host": self.host,
            "port": self.port,
            "auth": [user for user, _ in self.auth],
            "max_upload_mb": self.max_upload_mb,
            "data_dir": str(self.data_dir),
            "backend": self.backend,
            "model": self.model,
            "dataset_root": str(self.dataset_root) if self.dataset_root else None,
            "share": self.share,
            "hub_repo": self.hub_repo,
            "model_deadline_s": self.model_deadline_s,
            "queue": str(self.queue_dir) if self.queue_dir else None,
        }


def parse_auth(text: str | None) -> tuple[tuple[str, str], ...]:
    """``"user:pass[,user2:pass2]"`` -> pairs; a malformed entry is a ValueError naming the expected form."""
    if not text or not text.strip():
        return ()
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("auth: expected user:password (several separated by commas)")
        pairs.append((user, password))
    return tuple(pairs)


MODEL_DEADLINE_ENV = "VIFAILBACK_MODEL_DEADLINE_S"
QUEUE_ENV = "VIFAILBACK_QUEUE"


def parse_deadline(text: str | None, source: str) -> float | None:
    """``"300"`` -> 300.0; empty or ``auto`` -> None (sized from max_new_tokens); else a one-line ValueError."""
    if text is None or text.strip().lower() in ("", "auto"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(f"{source}: expected seconds > 0 (or auto), got {text.strip()[:40]!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python app.py",
        description="ViFailback Studio: diagnose robot failures, edit the corrective symbols, collect corrections.",
    )
    p.add_argument("--host", help="address to bind (else $GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"port (else $GRADIO_SERVER_PORT, else {DEFAULT_PORT})")
    p.add_argument("--auth", help="user:password for a login page (else $VIFAILBACK_AUTH); comma-separate pairs")
    p.add_argument("--max-upload-mb", type=int, default=DEFAULT_MAX_UPLOAD_MB, help="upload size limit in MiB")
    p.add_argument("--data-dir", help=f"corrections store (else ${DATA_DIR_ENV}, else ./{DEFAULT_DATA_DIR})")
    p.add_argument("--model", help="model directory or cached Hub id (transformers), or served name (openai)")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default=None, help="VLM backend (default auto)")
    p.add_argument("--openai-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--max-new-tokens", type=int, default=2048, help="generation limit (paper: 2048)")
    p.add_argument(
        "--model-deadline-s",
        metavar="SECONDS",
        help=f"seconds one model call may take in all (else ${MODEL_DEADLINE_ENV}, else 60 + 0.1 per new token)",
    )
    p.add_argument("--dataset-root", help="a ViFailback-layout dataset whose episodes visitors may pick")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--hub-repo", help=f"the one Hub repo exports may be pushed to (else ${HUB_REPO_ENV})")
    p.add_argument(
        "--queue",
        metavar="DIR",
        help=f"review the clips of a folder of videos or a dataset root one by one (else ${QUEUE_ENV})",
    )
    p.add_argument(
        "--queue-lease-s",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="idle seconds after which a reviewer's claimed clip may go to another reviewer (default 1800)",
    )
    return p


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    port_text = env.get("GRADIO_SERVER_PORT")
    port = args.port if args.port is not None else int(port_text) if port_text else DEFAULT_PORT
    if args.max_upload_mb < 1:
        raise ValueError(f"--max-upload-mb: expected a positive number of MiB, got {args.max_upload_mb}")
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens: expected >= 1, got {args.max_new_tokens}")
    if args.model_deadline_s is not None:
        deadline = parse_deadline(args.model_deadline_s, "--model-deadline-s")
    else:
        deadline = parse_deadline(env.get(MODEL_DEADLINE_ENV), f"${MODEL_DEADLINE_ENV}")
    root = args.dataset_root or env.get("VIFAILBACK_DATASET_ROOT")
    hub_repo = (args.hub_repo if args.hub_repo is not None else env.get(HUB_REPO_ENV, "")).strip()
    if root and not Path(root).is_dir():
        raise ValueError(f"--dataset-root: expected a directory in the ViFailback layout, got {root}")
    queue = args.queue or env.get(QUEUE_ENV)
    if queue and not Path(queue).is_dir():
        raise ValueError(f"--queue: expected a folder of videos or a dataset root, got {queue}")
    if not 0 < args.queue_lease_s < math.inf:
        raise ValueError(f"--queue-lease-s: expected seconds > 0, got {args.queue_lease_s}")
    return AppConfig(
        host=args.host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        port=port,
        auth=parse_auth(args.auth if args.auth is not None else env.get("VIFAILBACK_AUTH")),
        max_upload_mb=args.max_upload_mb,
        data_dir=Path(args.data_dir or env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR),
        model=args.model or None,
        backend=args.backend or env.get("VIFAILBACK_BACKEND") or "auto",
        openai_base_url=args.openai_base_url,
        max_new_tokens=args.max_new_tokens,
        model_deadline_s=deadline,
        dataset_root=Path(root).resolve() if root else None,
        share=args.share,
        hub_repo=validate_repo_id(hub_repo, "--hub-repo") if hub_repo else None,
        queue_dir=Path(queue).resolve() if queue else None,
        queue_lease_s=args.queue_lease_s,
    )
