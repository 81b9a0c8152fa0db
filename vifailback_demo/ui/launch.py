"""Launch settings: Gradio 6 takes theme and css in ``launch()``, with the upload limit and the served paths.

What gradio serves by URL (``/gradio_api/file=<path>``): ``allowed_paths``, its own upload/cache folder
(``GRADIO_TEMP_DIR``, default ``<tmp>/gradio``) and ``.gradio/cached_examples``. The corrections store is none
of these: the data directory holds the SQLite file (every record, who made it), its WAL, the stored frames and
the outbox, and a visitor needs none of them. It is left out of ``allowed_paths`` and put in ``blocked_paths``,
which wins over everything else, so even a data dir placed under the temp dir or the dataset root stays private.
Pictures a page shows leave the handlers as copies (``ui/image_files.py`` -> gradio's cache), never as paths
into the data dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from vifailback_demo.services import Services
from vifailback_demo.services.config import ASSETS_DIR
from vifailback_demo.ui.errors import hide_paths_under
from vifailback_demo.ui.shortcuts import SHORTCUTS_JS

CSS = """
#keyframe-editor img { cursor: crosshair; }
#frames .caption-label { font-size: 0.75rem; }
#model-status { padding: 0.4rem 0.8rem; border-left: 4px solid var(--color-accent); }
footer { display: none !important; }
#live-stop { background: #dc2626 !important; color: #fff !important; font-weight: 700; }
#live-frame { width: 100%; max-width: 480px; image-rendering: auto; }
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="amber", secondary_hue="slate", neutral_hue="slate")


def served_paths(services: Services) -> list[str]:
    """Folders a page may load files from: the bundled assets/examples and the operator's dataset (videos)."""
    cfg = services.config
    allowed = [str(ASSETS_DIR), str(cfg.examples_dir.resolve())]
    if cfg.dataset_root is not None:
        allowed.append(str(cfg.dataset_root))  # episode videos are shown in the player
    if cfg.queue_dir is not None:
        allowed.append(str(cfg.queue_dir))  # the review queue's clips, likewise
    return allowed


def _check_data_dir(data_dir: Path, served: list[str]) -> None:
    """Blocking a data dir that holds a served folder would break the page (and hints at a mistaken --data-dir)."""
    for folder in served:
        if Path(folder).resolve().is_relative_to(data_dir):
            raise ValueError(
                f"--data-dir: the corrections store must be a folder of its own; {data_dir} contains {folder}, "
                "which the app serves to visitors"
            )


def launch_kwargs(services: Services, **overrides: Any) -> dict[str, Any]:
    cfg = services.config
    data_dir = cfg.data_dir.resolve()
    allowed = served_paths(services)
    _check_data_dir(data_dir, [*allowed, get_upload_folder()])
    hide_paths_under(data_dir, get_upload_folder())  # error messages name files, never these folders
    kwargs: dict[str, Any] = {
        "server_name": cfg.host,
        "server_port": cfg.port,
        "auth": list(cfg.auth) or None,
        "max_file_size": cfg.max_upload_bytes,
        "allowed_paths": allowed,
        "blocked_paths": [str(data_dir)],
        "share": cfg.share,
        "theme": theme(),
        "css": CSS,
        "js": SHORTCUTS_JS,  # the Diagnose tab's keyboard shortcuts (ui/shortcuts.py)
        # Only gr.Error messages reach clients (handlers turn every failure into one: ui/wiring.py); an exception
        # gradio raises around a handler (a malformed payload's raw pydantic/TypeError text) stays in the log.
        "show_error": False,
    }
    kwargs.update(overrides)
    return kwargs


def launch(demo: gr.Blocks, services: Services, **overrides: Any) -> Any:
    demo.queue(default_concurrency_limit=4)
    return demo.launch(**launch_kwargs(services, **overrides))
