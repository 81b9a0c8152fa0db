"""The bundled example clips (``assets/examples/index.json``): names, clips, tasks and their annotations.

The index is read once and kept; a missing or broken index gives an empty list (the app still runs, with upload
and webcam only). Every path in the index is resolved under the examples root, never outside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.core.dataset import AnnotationRecord, read_json, resolve_in_root
from vifailback_demo.errors import DatasetError, ViFailbackError


@dataclass(frozen=True)
class Example:
    name: str
    clip: Path
    task: str
    annotation: Path | None
    failure_type: str | None
    success: bool | None
    number: int = 0  # 1-based position in the index

    @property
    def label(self) -> str:
        """What the dropdown shows: a number and the task, never the outcome (that is the question; the ground
        truth is shown after the run, beside the model's answer)."""
        task = self.task if len(self.task) <= 60 else self.task[:57].rstrip() + "..."
        return f"Example {self.number}: {task}" if task else f"Example {self.number}"


class ExamplesService:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._examples: list[Example] | None = None
        self.problem: str | None = None

    def _load(self) -> list[Example]:
        index = self.root / "index.json"
        if not index.is_file():
            self.problem = f"no bundled examples at {index}"
            return []
        try:
            data = read_json(index)
            out = []
            for entry in data.get("examples", []):
                clip = resolve_in_root(self.root, entry["clip"], what="example clip")
                ann = entry.get("annotation")
                annotation = resolve_in_root(self.root, ann, what="example annotation") if ann else None
                if clip.is_file():
                    out.append(
                        Example(
                            name=str(entry["name"]),
                            clip=clip,
                            task=str(entry.get("task") or ""),
                            annotation=annotation if annotation and annotation.is_file() else None,
                            failure_type=entry.get("failure_type"),
                            success=entry.get("success"),
                            number=len(out) + 1,
                        )
                    )
            return out
        except (ViFailbackError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            self.problem = f"examples index {index} is unreadable: {exc}"
            return []

    def list(self) -> list[Example]:
        if self._examples is None:
            self._examples = self._load()
        return self._examples

    def labels(self) -> list[str]:
        return [e.label for e in self.list()]

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown: the label is shown, the stable name is the value."""
        return [(e.label, e.name) for e in self.list()]

    def get(self, label_or_name: str) -> Example:
        for example in self.list():
            if label_or_name in (example.label, example.name):
                return example
        raise DatasetError(f"no bundled example {label_or_name!r}; expected one of {self.labels()}")

    def annotation(self, example: Example) -> AnnotationRecord | None:
        if example.annotation is None:
            return None
        try:
            return AnnotationRecord.from_dict(read_json(example.annotation))
        except ViFailbackError:
            return None
