"""Launch settings: Gradio 6 takes theme and css in ``launch()``, with the upload limit and allowed paths."""

from __future__ import annotations

from typing import Any

import gradio as gr

from vifailback_demo.services import Services
from vifailback_demo.services.config import ASSETS_DIR

CSS = """
#keyframe-editor img { cursor: crosshair; }
#frames .caption-label { font-size: 0.75rem; }
#model-status { padding: 0.4rem 0.8rem; border-left: 4px solid var(--color-accent); }
footer { display: none !important; }
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="amber", secondary_hue="slate", neutral_hue="slate")


def launch_kwargs(services: Services, **overrides: Any) -> dict[str, Any]:
    cfg = services.config
    allowed = [str(cfg.data_dir.resolve()), str(ASSETS_DIR), str(cfg.examples_dir.resolve())]
    if cfg.dataset_root is not None:
        allowed.append(str(cfg.dataset_root))  # episode videos are shown in the player
    kwargs: dict[str, Any] = {
        "server_name": cfg.host,
        "server_port": cfg.port,
        "auth": list(cfg.auth) or None,
        "max_file_size": cfg.max_upload_bytes,
        "allowed_paths": allowed,
        "share": cfg.share,
        "theme": theme(),
        "css": CSS,
        "show_error": True,
    }
    kwargs.update(overrides)
    return kwargs


def launch(demo: gr.Blocks, services: Services, **overrides: Any) -> Any:
    demo.queue(default_concurrency_limit=4)
    return demo.launch(**launch_kwargs(services, **overrides))
