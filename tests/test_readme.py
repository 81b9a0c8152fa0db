"""The README is also the Hugging Face Space's card: its front matter must match what the Space runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vifailback_demo.models.resolve import PAPER_MODEL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 180


def _front_matter() -> dict:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "the README must open with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_the_space_runs_the_pinned_gradio_and_preloads_the_papers_model() -> None:
    meta = _front_matter()
    pinned = re.search(r"^gradio==([\w.]+)\b", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt must pin gradio"
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pinned.group(1)
    assert PAPER_MODEL in meta["preload_from_hub"] and PAPER_MODEL in meta["models"]
    assert (ROOT / meta["app_file"]).is_file()


def test_the_readme_stays_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; keep it under {MAX_LINES} (details: docs/)"
    for link in re.findall(r"\]\(((?:docs|experiments)/[^)#]+)", "\n".join(lines)):
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
