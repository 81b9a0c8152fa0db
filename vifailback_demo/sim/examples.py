"""Build the bundled example clips: one per failure type plus one success, in the official layout.

Rebuild with ``python -m vifailback_demo.sim.examples --out assets/examples`` (deterministic). ``index.json`` lists
each clip with its task and ground truth; the annotation records sit beside the clips as in any generated dataset.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from vifailback_demo.core.dataset import write_json_atomic
from vifailback_demo.sim.dataset_writer import write_episode
from vifailback_demo.sim.episode import make_episode

#: (name, task, variant or None for success, episode index) -- indices picked once for clear-looking clips.
EXAMPLES: tuple[tuple[str, str, str | None, int], ...] = (
    ("success", "place_block_in_bowl", None, 1),
    ("gripper_state", "place_block_in_basket", "no_close", 2),
    ("gripper_6d_pose", "stack_blocks", "offset_y", 3),
    ("task_planning", "place_block_in_bowl", "wrong_object", 4),
    ("human_intervention", "put_cup_in_basket", "hand_moves_object", 5),
)
SEED = 2026


def build_examples(out: str | Path) -> list[dict[str, Any]]:
    root = Path(out)
    if (root / "annotated_data").exists():
        shutil.rmtree(root / "annotated_data")
    entries = []
    for number, (name, task, variant, index) in enumerate(EXAMPLES):
        ep = make_episode(SEED, index, tasks=(task,), variant=variant)
        record = write_episode(ep, root, number)
        truth = ep.truth
        entries.append(
            {
                "name": name,
                "clip": record.video,
                "annotation": f"annotated_data/{task}/annotations/episode_{number}.json",
                "task": ep.task.instruction,
                "task_id": task,
                "frames": ep.num_frames,
                "success": ep.success,
                "failure_type": truth.failure_type if truth else None,
                "variant": truth.variant if truth else None,
                "failed_subtask": truth.failed_subtask if truth else None,
                "avoid_keyframe": truth.avoid_frame if truth else None,
                "correct_keyframe": truth.correct_frame if truth else None,
                "avoidance": truth.avoidance.low_level if truth else None,
                "correction": truth.correction.low_level if truth else None,
                "failure_reason": truth.reason if truth else None,
            }
        )
    write_json_atomic(root / "index.json", {"seed": SEED, "examples": entries})
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/examples", help="output directory (default assets/examples)")
    args = parser.parse_args(argv)
    for entry in build_examples(args.out):
        print(f"{entry['name']}: {entry['clip']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
