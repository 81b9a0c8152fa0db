"""Frame-state probes: questions only the pixels answer, written from the simulator's exact state.

The eleven ViFailback questions can be answered surprisingly well from the text and the number of frames alone
(``python -m experiments.frame_reading priors``), and a small model trained from scratch learns those priors first
and then stops looking at the images (``python -m eval run --frames shuffled`` scores the same). A probe asks, for
every image of an episode, what each gripper does (open, half-closed, closed, holding something; at, beside or
above an object), where each movable object is, and whether a human hand is in view. Its answer differs from
episode to episode and frame to frame in ways the prompt cannot give away, so the only way to lower its loss is to
read the frames: a curriculum for the vision tower. Probes are extra training records (tag ``frame_states_probe``);
the benchmark never asks them. Train on them by listing the probe file in ``train_files`` (``path:4`` repeats it
four times; the product's ``tag_weights`` know only the bench's 11 tags).

``write_probes`` (``python -m experiments.frame_reading probes --data DIR``) re-simulates the episodes of a dataset
written by ``vifailback sim generate`` from its manifest (simulation without rendering takes ~20 ms an episode) and
points the probe records at the JPEG frames already on disk; a mismatch with the dataset's own annotations (another
seed, an edited manifest) stops with an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vifailback_demo.core.dataset import VQARecord, parse_frame_name, read_json, vqa_frame_names
from vifailback_demo.errors import SimError
from vifailback_demo.sim.dataset_writer import JsonListStream, episode_dir
from vifailback_demo.sim.episode import Episode, make_episode
from vifailback_demo.sim.generate import GenerateConfig, split_of, task_of
from vifailback_demo.sim.scene import ObjectSpec
from vifailback_demo.sim.world import ARM_NAMES, HAND, MAX_GAP, WorldState

#: Training-only probe questions: the benchmark never asks them.
TAG_FRAME_STATES = "frame_states_probe"
PROBE_TAGS: tuple[str, ...] = (TAG_FRAME_STATES,)
PROBE_FILES = {"train": "VQA/ViFailback_VQA_probes_train.json", "benchmark": "VQA/ViFailback_VQA_probes_benchmark.json"}

#: Finger gaps (metres) that read as open / closed; in between is "half-closed" (a weak grasp is 6-7 cm).
OPEN_GAP, CLOSED_GAP = MAX_GAP - 0.005, 0.015
#: Fingertip-to-object distances (metres) for "at" (a grasp would hold), "beside" and "above" an object.
AT_XY, BESIDE_XY, ABOVE_Z = 0.02, 0.09, 0.025


def probe_prompt(task: str) -> str:
    return (
        f'The images are frames, in order, of a robot carrying out the task "{task}". For each image, say what '
        "the left and right grippers do, where each movable object is, and whether a human hand is in view: "
        "the first image in full, then only what changed since the image before."
    )


def gripper_state(state: WorldState, arm: int, specs: list[ObjectSpec]) -> tuple[str, str, int]:
    """(shape, relation, object): shape open / half-closed / closed / holds; relation at / above / beside / "" to
    the object index given (-1 for none; for "holds", the object held)."""
    held = state.held_by(arm)
    if held is not None:
        return "holds", "", held
    x, y, z, _, gap = state.arms[arm]
    shape = "open" if gap >= OPEN_GAP else "closed" if gap <= CLOSED_GAP else "half-closed"
    # The nearest free graspable object within reach of the fingertip, if any (not when passing high above it).
    near = [
        (math.hypot(x - state.objects[i, 0], y - state.objects[i, 1]), i)
        for i, spec in enumerate(specs)
        if spec.graspable and state.holder[i] < 0 and z <= state.objects[i, 2] + spec.top + 0.1
    ]
    d, i = min(near, default=(math.inf, -1))
    if d <= BESIDE_XY:
        low = z <= state.objects[i, 2] + specs[i].grasp_height + ABOVE_Z
        if d <= AT_XY:
            return shape, "at" if low else "above", i
        if low:
            return shape, "beside", i
    return shape, "", -1


def _gripper(state: WorldState, arm: int, specs: list[ObjectSpec]) -> str:
    shape, relation, i = gripper_state(state, arm, specs)
    if shape == "holds":
        return f"{ARM_NAMES[arm]} gripper holds the {specs[i].name}"
    where = f" {relation} the {specs[i].name}" if relation else ""
    return f"{ARM_NAMES[arm]} gripper {shape}{where}"


def _place(state: WorldState, i: int, specs: list[ObjectSpec]) -> str:
    holder = int(state.holder[i])
    if holder == HAND:
        return f"{specs[i].name} in the human hand"
    if holder >= 0:
        return f"{specs[i].name} in the {ARM_NAMES[holder]} gripper"
    below = int(state.support[i])
    if below < 0:
        return f"{specs[i].name} on the table"
    return f"{specs[i].name} {'in' if specs[below].container else 'on'} the {specs[below].name}"


NO_HAND = "no human hand in view"


def frame_facts(state: WorldState, specs: list[ObjectSpec]) -> dict[str, str]:
    """One image's state by subject: both grippers, every graspable object, and the human hand."""
    facts = {ARM_NAMES[arm]: _gripper(state, arm, specs) for arm in range(len(ARM_NAMES))}
    facts.update({spec.name: _place(state, i, specs) for i, spec in enumerate(specs) if spec.graspable})
    facts["hand"] = "a human hand is in view" if state.hand[0] > 0 else NO_HAND
    return facts


def frame_states_answer(states: list[WorldState], specs: list[ObjectSpec]) -> str:
    """The first image in full, then for each image only what changed since the one before ("no change").

    Reporting changes keeps the answer short (most of an episode is a gripper moving between two events) and makes
    the model compare consecutive frames, which is what finding a keyframe needs.
    """
    lines, before = [], None
    for k, state in enumerate(states, start=1):
        facts = frame_facts(state, specs)
        if before is None:
            told = [f for subject, f in facts.items() if not (subject == "hand" and f == NO_HAND)]
        else:
            told = [f for subject, f in facts.items() if before[subject] != f] or ["no change"]
        lines.append(f"Image {k}: {'; '.join(told)}.")
        before = facts
    return "\n".join(lines)


def frame_states_record(ep: Episode, images: list[str], frame_indices: list[int]) -> VQARecord:
    """The probe record of one episode: one answer line per image, ``Image k: ...``."""
    if len(images) != len(frame_indices):
        raise SimError(f"probe: {len(images)} images for {len(frame_indices)} frame indices")
    answer = frame_states_answer([ep.states[f] for f in frame_indices], ep.task.specs)
    return VQARecord.build(probe_prompt(ep.task.instruction), answer, images, TAG_FRAME_STATES)


@dataclass(frozen=True)
class DatasetEpisode:
    episode: Episode
    images: list[str]  # paths under the dataset root, in the order the VQA records give them
    frames: list[int]  # the simulator frame each image shows
    split: str
    video: str  # the episode's video under the dataset root: every simulator frame, frame k = state k


def _frames_of(ep: Episode) -> tuple[list[str], list[int]]:
    truth = ep.truth
    names = vqa_frame_names(ep.num_frames, truth.avoid_frame if truth else None, truth.correct_frame if truth else None)
    return names, [parse_frame_name(n)[0] for n in names]


def config_from_manifest(root: Path) -> GenerateConfig:
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise SimError(f"--data {root}: no manifest.json; expected a dataset written by 'vifailback sim generate'")
    manifest = read_json(manifest_path)
    s = manifest.get("settings") if isinstance(manifest, dict) else None
    if not isinstance(s, dict) or not isinstance(manifest.get("episodes"), int):
        raise SimError(f"{manifest_path}: expected the manifest of 'vifailback sim generate' (settings, episodes)")
    try:
        return GenerateConfig(
            episodes=manifest["episodes"],
            seed=int(s["seed"]),
            out=str(root),
            split=str(s["split"]),
            bench_fraction=float(s["bench_fraction"]),
            width=int(s["width"]),
            height=int(s["height"]),
            tasks=tuple(s["tasks"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SimError(
            f"{manifest_path}: settings lack or garble {exc}; expected the manifest of 'sim generate'"
        ) from None


def simulated_episodes(data: str | Path, *, progress: bool = False) -> Iterator[DatasetEpisode]:
    """Re-simulate every episode of a dataset written by ``vifailback sim generate``, checked against its frames.

    Yields each episode with its image paths (relative to the dataset root), the simulator frame each image shows,
    and its split. An episode that does not re-simulate to the images in annotations.json stops with an error.
    """
    root = Path(data)
    cfg = config_from_manifest(root)
    annotations = read_json(root / "annotations.json")
    if not isinstance(annotations, list) or len(annotations) != cfg.episodes:
        raise SimError(f"{root / 'annotations.json'}: expected {cfg.episodes} annotation records (the manifest's)")
    numbers: dict[str, int] = {}
    from tqdm import tqdm

    for index in tqdm(range(cfg.episodes), desc="episodes", unit="ep", disable=not progress):
        task = task_of(cfg, index)
        number = numbers.get(task, 0)
        numbers[task] = number + 1
        ep = make_episode(cfg.seed, index, tasks=cfg.tasks, width=cfg.width, height=cfg.height)
        names, frames = _frames_of(ep)
        images = [f"{episode_dir(task, number)}/{name}" for name in names]
        if annotations[index].get("images") != images:
            raise SimError(
                f"{root}: episode {index} does not re-simulate to the frames on disk; expected the dataset "
                "written by 'vifailback sim generate' with its manifest unchanged"
            )
        yield DatasetEpisode(ep, images, frames, split_of(cfg, index), str(annotations[index].get("video", "")))


def write_probes(data: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """Write the probe VQA files of a generated dataset next to its VQA files; returns counts and paths."""
    root = Path(data)
    config_from_manifest(root)  # a bad manifest fails before any file is opened
    streams = {split: JsonListStream(root / rel) for split, rel in PROBE_FILES.items()}
    try:
        for item in simulated_episodes(root, progress=progress):
            streams[item.split].add(frame_states_record(item.episode, item.images, item.frames).to_dict())
    except BaseException:
        for s in streams.values():
            s.abort()
        raise
    counts = {split: s.count for split, s in streams.items()}
    paths = {split: str(s.close()) for split, s in streams.items()}
    return {"data": str(root), "records": counts, "files": paths}
