"""``python -m eval recovery``: the paper's Table 4 on the simulated robot: the same episodes with and without
live supervision.

Episode ``k`` is the simulated robot with sim seed ``seed + k`` driven by the built-in policy (policy seed ``seed``,
``--failure-rate``), run twice in this process (no websocket; as fast as the CPU allows unless ``--fps``):

* **unsupervised**: the policy alone, ``rows_per_chunk`` rows of each chunk executed, until the task succeeds or
  ``--max-frames`` world frames have passed;
* **supervised**: the same seed under :class:`~vifailback_demo.live.supervisor.Supervisor` with ``auto_accept``, the
  diagnoser (``oracle``: :class:`~vifailback_demo.live.oracle.SimOracleBackend`; ``scripted``: always "Failed";
  else a local model path or id, or a served model with ``--base-url``) checking every ``--every`` chunks, and the
  executor (``vsf`` | ``pmc``), with the same frame budget (time does not pass while the robot is held).

The evaluator may read the ground truth (the policy's ``episode_info``): failure type and variant, the frame the
failure started. It watches the diagnoser (every check: the robot frame of the newest image it saw, and whether
the answer said "Failed") and the executor (every execution), so the numbers do not depend on the supervisor's
log format. One line per episode goes to ``samples.jsonl`` (rerunning the same command skips finished episodes;
more ``--episodes`` extend a run); ``report.json`` / ``report.md`` come from :mod:`eval.recovery_report`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.jsonl import JsonlAppender, read_jsonl
from eval.recovery_arms import (
    IDENTITY,
    Factories,
    RecoveryConfig,
    default_executor,
    default_supervisor,
    make_policy,
    run_supervised,
    run_unsupervised,
)
from eval.recovery_report import SAMPLES_FILE, episode_summary, write_recovery_reports
from vifailback_demo.core.dataset import read_json, write_json_atomic
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.oracle import SimOracleBackend
from vifailback_demo.models.backend import VLMBackend
from vifailback_demo.robot.sim_robot import SimRobot, build_scene

__all__ = ["Factories", "RecoveryConfig", "add_parser", "default_executor", "default_supervisor", "run_recovery"]

MANIFEST_FILE = "run.json"


# --- episodes and the run ----------------------------------------------------------------------------------------


def run_episode(cfg: RecoveryConfig, index: int, factories: Factories) -> dict[str, Any]:
    sim_seed = cfg.seed + index
    started = time.perf_counter()
    task = build_scene(None, sim_seed, 64, 48)[0]  # the task this seed draws, as SimRobot(seed=sim_seed)
    info = make_policy(cfg).episode_info(sim_seed, task.task_id)
    unsupervised = run_unsupervised(cfg, sim_seed)
    supervised = run_supervised(cfg, sim_seed, factories)
    line = {
        "episode": index,
        "sim_seed": sim_seed,
        "task": task.task_id,
        "instruction": task.instruction,
        "failure": info is not None,
        "failure_type": info["type"] if info else None,
        "variant": info["variant"] if info else None,
        "start_frame": info["start_frame"] if info else None,
        "correct_frame": info["correct_frame"] if info else None,
        "unsupervised": unsupervised,
        "supervised": supervised,
    }
    line["summary"] = episode_summary(line)
    line["wall_s"] = round(time.perf_counter() - started, 3)
    return line


def oracle_factory(cfg: RecoveryConfig, robot: SimRobot) -> VLMBackend:
    return SimOracleBackend(robot, make_policy(cfg), reaction_frames=cfg.reaction_frames)


def backend_factory(cfg: RecoveryConfig) -> Callable[[RecoveryConfig, SimRobot], VLMBackend]:
    """The diagnoser's backend per episode: the oracle sees each episode's robot; a model is loaded once."""
    if cfg.diagnoser == "oracle":
        return oracle_factory
    from vifailback_demo.models.factory import create_backend

    if cfg.diagnoser == "scripted":
        shared = create_backend("scripted", mode="correction")
    elif cfg.base_url:
        shared = create_backend("openai", cfg.diagnoser, base_url=cfg.base_url)
    else:
        shared = create_backend("transformers", cfg.diagnoser)
    return lambda _cfg, _robot: shared


def _check_manifest(out: Path, cfg: RecoveryConfig) -> None:
    path = out / MANIFEST_FILE
    identity = cfg.identity()
    if path.is_file():
        stored = read_json(path).get("config", {})
        changed = [k for k in IDENTITY if stored.get(k) != identity[k]]
        if changed:
            raise ViFailbackError(
                f"{out} holds a recovery run with other settings ({', '.join(changed)}); expected the same to "
                "resume: use another --out"
            )
    write_json_atomic(path, {"experiment": "recovery", "robot": "sim", "config": identity})


def run_recovery(
    cfg: RecoveryConfig, out: str | Path, *, factories: Factories | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every episode not yet in ``out/samples.jsonl``, then write the reports; returns the report."""
    cfg.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, cfg)
    factories = factories or Factories(backend_factory(cfg))
    done = {s.get("episode") for s in read_jsonl(out / SAMPLES_FILE)}
    todo = [k for k in range(cfg.episodes) if k not in done]
    log(
        f"recovery: {cfg.episodes} episodes, {cfg.episodes - len(todo)} already done, diagnoser {cfg.diagnoser}, "
        f"executor {cfg.executor}"
    )
    with JsonlAppender(out / SAMPLES_FILE) as appender:
        for n, k in enumerate(todo, start=1):
            line = run_episode(cfg, k, factories)
            appender.append(line)
            s = line["summary"]
            what = f"{line['failure_type']}/{line['variant']}" if line["failure"] else "no failure"
            log(
                f"recovery: {n}/{len(todo)} episode {k} (seed {line['sim_seed']}, {what}): unsupervised "
                f"{'ok' if s['unsupervised_success'] else 'fail'}, supervised {'ok' if s['supervised_success'] else 'fail'}"
                f" ({s['interventions']} interventions, {s['false_alarms']} false alarms, delay "
                f"{s['detection_delay_frames']}) [{line['wall_s']:.1f} s]"
            )
    samples = [s for s in read_jsonl(out / SAMPLES_FILE) if isinstance(s.get("episode"), int)]
    return write_recovery_reports(out, samples, cfg.episodes, cfg.identity())


# --- command line ------------------------------------------------------------------------------------------------


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "recovery",
        help="live supervision on the simulated robot: success with and without it (the paper's Table 4)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--robot", choices=("sim",), default="sim", help="the simulated robot (the only one so far)")
    p.add_argument("--episodes", type=int, default=100, metavar="N", help="episodes per arm (100)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="policy seed; episode k uses sim seed S + k")
    p.add_argument("--failure-rate", type=float, default=1.0, metavar="R", help="share of failing episodes (1.0)")
    p.add_argument(
        "--diagnoser",
        default="oracle",
        metavar="oracle|scripted|MODEL",
        help="oracle (exact simulator state), scripted (always 'Failed'), or a model path/id",
    )
    p.add_argument("--base-url", metavar="URL", help="serve --diagnoser MODEL from this OpenAI-compatible server")
    p.add_argument("--executor", choices=("vsf", "pmc"), default="vsf")
    p.add_argument("--every", type=int, default=6, metavar="K", help="check every K action chunks (6)")
    p.add_argument("--max-frames", type=int, default=900, metavar="F", help="world frames per episode (900 = 36 s)")
    p.add_argument("--rows-per-chunk", type=int, default=25, metavar="N", help="actions executed per chunk (25)")
    p.add_argument("--check-frames", type=int, default=8, metavar="N", help="frames the diagnoser sees (8)")
    p.add_argument("--image-size", type=int, nargs=2, default=(224, 224), metavar=("W", "H"))
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="pace the control loop; 0: as fast as possible (default: 0 for oracle and scripted, 25 for a "
        "model, whose latency is then real time)",
    )
    p.add_argument("--reaction-frames", type=int, default=0, metavar="N", help="oracle: frames before it reacts")
    p.add_argument("--vsf-chunks", type=int, default=2, metavar="N", help="VSF: chunks with the command prompt (2)")
    p.add_argument("--episode-timeout", type=float, default=600.0, metavar="S", help="wall seconds per episode")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory (created; reused to resume)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(handler=cmd_recovery)
    return p


def config_from_args(args: argparse.Namespace) -> RecoveryConfig:
    fps = args.fps
    if fps is None:
        fps = 0.0 if args.diagnoser in ("oracle", "scripted") else 25.0
    cfg = RecoveryConfig(
        episodes=args.episodes,
        seed=args.seed,
        failure_rate=args.failure_rate,
        diagnoser=args.diagnoser,
        executor=args.executor,
        every=args.every,
        max_frames=args.max_frames,
        rows_per_chunk=args.rows_per_chunk,
        check_frames=args.check_frames,
        width=args.image_size[0],
        height=args.image_size[1],
        fps=fps or None,
        reaction_frames=args.reaction_frames,
        vsf_chunks=args.vsf_chunks,
        base_url=args.base_url,
        episode_timeout_s=args.episode_timeout,
    )
    cfg.validate()
    return cfg


def cmd_recovery(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    report = run_recovery(cfg, args.out, log=log)
    u, s = report["unsupervised"], report["supervised"]
    log(
        f"recovery: success {u['success_rate']:.1%} alone -> {s['success_rate']:.1%} supervised "
        f"({report['gain_points']:+.1f} points); report in {Path(args.out) / 'report.md'}"
    )
    return 0 if report["complete"] else 1
