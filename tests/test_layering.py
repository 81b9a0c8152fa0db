"""Heavy libraries load lazily: the CLI, the diagnoser and the backend factory import without torch/av."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_light_imports_stay_light() -> None:
    code = (
        "import sys\n"
        "import vifailback_demo.cli.main as m\n"
        "m.build_parser()\n"
        "import vifailback_demo.diagnosis, vifailback_demo.models.factory, vifailback_demo.models.resolve\n"
        "import vifailback_demo.models.backend, vifailback_demo.models.scripted, vifailback_demo.models.openai_backend\n"
        "import vifailback_demo.models.transformers_backend, vifailback_demo.models.tiny, vifailback_demo.video.sampling\n"
        "heavy = sorted(n for n in ('torch', 'transformers', 'av', 'peft', 'bitsandbytes') if n in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_core_imports_no_engine_libraries() -> None:
    for path in (ROOT / "vifailback_demo" / "core").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for lib in ("torch", "cv2", "av", "transformers"):
            assert f"import {lib}" not in text and f"from {lib} " not in text, f"{path.name} imports {lib}"


def test_the_product_imports_nothing_from_the_experiments() -> None:
    """``experiments/`` builds on the product; the product never reaches back into it."""
    pattern = re.compile(r"^\s*(?:from\s+experiments\b|import\s+experiments\b)", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("vifailback_demo", "training", "eval")
        for path in sorted((ROOT / package).rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert pattern.search("x = 1\n    from experiments.frame_reading import cli\n")  # the scan does find one
