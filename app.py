"""ViFailback Studio's Gradio app: parse the configuration, build the services, build the UI, launch.

    python app.py [--host H] [--port P] [--auth user:pass] [--data-dir DIR] [--model ID|DIR]
                  [--backend auto|transformers|openai|scripted] [--dataset-root DIR] [--max-upload-mb N] [--share]
                  [--model-deadline-s S] [--hub-repo NAMESPACE/NAME]     (python app.py --help explains each)

Nothing heavy happens here: the model is loaded on the first diagnosis, not at start-up.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> int:
    from vifailback_demo.errors import ViFailbackError
    from vifailback_demo.services import build_services, load_config

    try:
        config = load_config(argv)
        services = build_services(config)
    except (ValueError, ViFailbackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from vifailback_demo.ui import build_demo, launch

    print(f"ViFailback Studio: {config.describe()}", flush=True)
    print(services.diagnosis.status(), flush=True)
    demo = build_demo(services)
    try:
        launch(demo, services)
    except ValueError as exc:  # launch settings refused before serving (e.g. a data dir holding a served folder)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
