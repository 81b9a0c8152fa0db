"""``vifailback live``: a headless supervised run (the policy acts, the model checks every K chunks) for scripts.

Writes ``DIR/events.jsonl`` (every check, proposal, decision and execution, as it happens) and ``DIR/summary.json``
(outcome, counts, the supervisor's final status; for the simulated robot also whether the task succeeded, the
injected failure and the detection delay in frames, computed here from the policy's script, never inside the
supervisor).

Without ``--auto-accept`` nobody is there to review a proposal: it is written to ``DIR/proposal/`` (``proposal.json``
with the pre-filled correction, ``diagnosis.json``, the frames the model saw and the drawn ``keyframe.png``), then
the run is stopped (the robot is emergency-stopped, i.e. held) and the command exits 0 with outcome
``awaiting_review``; review it in the app or re-run with ``--auto-accept``. ``--auto-accept`` executes every proposal
unreviewed and is meant for experiments only: it is announced on stderr.

Every proposal of the run is then stored as a correction record (source ``live_run``, ref ``<run id>:check<N>``)
in the corrections store (``--data-dir``, default ``$VIFAILBACK_DATA_DIR`` or ``./vifailback_data``): accepted
ones with their correction (they export as VQA training pairs), rejected ones as rejected, and one left awaiting
review (or refused by auto-accept) as "skipped", so it shows up in the app's Corrections tab for review. The notes
say whether the simulated task then succeeded and, with the built-in policy, which failure was injected.
``summary.json`` is written before the store is touched and then gets ``records`` (the ids) and ``data_dir``; a
store failure is a warning and exit code 1, never a lost summary. ``--no-record`` stores nothing (and creates no
data directory; neither does a run without proposals).

The simulated robot runs unpaced (as fast as the CPU allows) with the loop waiting for each check, so a run gives
the same result on any machine, and ends when the world says the task succeeded or after ``--max-steps`` (default
1500 for the simulator); other robots run paced at ``--fps`` (default 25) until ``--max-steps``, a proposal, an
error, or Ctrl-C (which stops the robot).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from vifailback_demo.cli.main import CommandResult
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.robot.factory import SPEC_HELP

#: Steps a headless simulated run gets when ``--max-steps`` is not given (60 s of robot time at 25 fps).
SIM_MAX_STEPS = 1500


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "live",
        parents=[common],
        help="a headless supervised run: policy + robot + model every K chunks; writes events.jsonl, summary.json",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--robot", required=True, help=SPEC_HELP)
    p.add_argument("--policy", required=True, help="ws://HOST:PORT of an openpi policy server, or 'builtin' (sim)")
    p.add_argument("--model", required=True, help="model dir / Hub id / served name / answer file, or 'oracle' (sim)")
    p.add_argument("--backend", choices=("transformers", "openai", "scripted"), default="transformers")
    p.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--out", required=True, help="output folder for events.jsonl, summary.json (and proposal/)")
    p.add_argument("--task", help="the task prompt (default: the simulated robot's instruction)")
    p.add_argument("--every", type=int, default=6, help="check every K policy chunks (default 6, as the paper)")
    p.add_argument("--rows-per-chunk", type=int, default=25, help="actions executed per policy call (default 25)")
    p.add_argument("--check-frames", type=int, default=8, help="frames the model sees per check (default 8)")
    p.add_argument("--mode", choices=("correction", "avoidance"), default="correction")
    p.add_argument("--executor", choices=("vsf", "pmc"), default="vsf", help="how an accepted correction runs")
    p.add_argument("--calibration", help="PMC: camera calibration file (default: the robot's own)")
    p.add_argument("--auto-accept", action="store_true", help="EXPERIMENTS ONLY: execute every proposal unreviewed")
    p.add_argument("--max-steps", type=int, help=f"end after N robot actions (default {SIM_MAX_STEPS} for sim)")
    p.add_argument("--seed", type=int, default=0, help="episode seed of the simulated robot and the built-in policy")
    p.add_argument("--failure-rate", type=float, help="built-in policy only: share of episodes with a failure")
    p.add_argument("--fps", type=float, help="action rate; 0 = unpaced (default: 25, unpaced for sim)")
    p.add_argument("--watchdog", type=float, default=5.0, help="seconds of policy/robot/camera silence -> hold")
    p.add_argument("--camera", help="camera for a serial robot: device index, file or URL")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds allowed for each robot I/O call")
    p.add_argument("--policy-timeout", type=float, default=30.0, help="seconds allowed per policy inference")
    p.add_argument(
        "--data-dir", help="corrections store for the interventions (default $VIFAILBACK_DATA_DIR or ./vifailback_data)"
    )
    p.add_argument("--no-record", action="store_true", help="do not store the interventions as correction records")
    p.set_defaults(handler=cmd_live)


def _validate(args: argparse.Namespace, is_sim: bool) -> None:
    builtin = args.policy == "builtin"
    if args.failure_rate is not None and not builtin:
        raise ViFailbackError("--failure-rate only applies to the built-in policy (--policy builtin)")
    if args.failure_rate is not None and not 0.0 <= args.failure_rate <= 1.0:
        raise ViFailbackError(f"--failure-rate must be between 0 and 1, got {args.failure_rate}")
    if builtin and not is_sim:
        raise ViFailbackError("the built-in policy drives the simulated robot only (--robot sim); give a policy URL")
    if args.model == "oracle" and not is_sim:
        raise ViFailbackError("--model oracle reads the simulated world: it needs --robot sim")
    if args.max_steps is not None and args.max_steps < 1:
        raise ViFailbackError(f"--max-steps must be >= 1, got {args.max_steps}")
    if args.fps is not None and args.fps < 0:
        raise ViFailbackError(f"--fps must be >= 0 (0 = unpaced), got {args.fps}")
    if not args.task and not is_sim:
        raise ViFailbackError("--task is required for a robot that does not know its task (only the simulator does)")


def cmd_live(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.robot.factory import open_robot, parse_robot_spec

    is_sim = parse_robot_spec(args.robot).kind == "sim"
    _validate(args, is_sim)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    robot = open_robot(args.robot, seed=args.seed, camera=args.camera, timeout_s=args.timeout)
    stack: list[Any] = []  # things to close, last first
    try:
        return _run(args, robot, is_sim, out, stack)
    finally:
        for thing in reversed(stack):
            with contextlib.suppress(Exception):  # closing must not hide the run's own outcome
                thing()
        robot.disconnect()


def _policy(args: argparse.Namespace, stack: list[Any]) -> tuple[Any, Any]:
    """The policy client, and the built-in policy object when it runs here (the oracle reads its failure choice)."""
    from vifailback_demo.cli.policy import API_KEY_ENV
    from vifailback_demo.policy.client import PolicyClient

    sim_policy = None
    url = args.policy
    if args.policy == "builtin":
        from vifailback_demo.policy.server import PolicyServer
        from vifailback_demo.policy.sim_policy import SimPolicy

        rate = 0.5 if args.failure_rate is None else args.failure_rate
        sim_policy = SimPolicy(failure_rate=rate, seed=args.seed)
        server = PolicyServer(sim_policy, host="127.0.0.1", port=0).start()  # a real websocket, on loopback
        stack.append(server.close)
        url = server.url
    client = PolicyClient(url, timeout_s=args.policy_timeout, api_key=os.environ.get(API_KEY_ENV) or None)
    stack.append(client.close)
    return client.connect(), sim_policy


def _diagnoser(args: argparse.Namespace, robot: Any, sim_policy: Any):
    from vifailback_demo.diagnosis.diagnoser import Diagnoser

    if args.model == "oracle":
        from vifailback_demo.live.oracle import SimOracleBackend

        return Diagnoser(SimOracleBackend(robot, sim_policy, mode=args.mode))
    from vifailback_demo.models.factory import create_backend

    return Diagnoser(create_backend(args.backend, args.model, mode=args.mode, base_url=args.base_url))


def _run(args: argparse.Namespace, robot: Any, is_sim: bool, out: Path, stack: list[Any]) -> CommandResult:
    from vifailback_demo.live.base import LiveState
    from vifailback_demo.live.executors import make_executor
    from vifailback_demo.live.runlog import RunLog
    from vifailback_demo.live.supervisor import Supervisor, SupervisorConfig

    options = {"calibration": args.calibration} if args.executor == "pmc" and args.calibration else {}
    executors = {args.executor: make_executor(args.executor, **options)}
    robot.connect()
    client, sim_policy = _policy(args, stack)
    diagnoser = _diagnoser(args, robot, sim_policy)
    fps = (None if is_sim else 25.0) if args.fps is None else (args.fps or None)
    config = SupervisorConfig(
        every=args.every,
        rows_per_chunk=args.rows_per_chunk,
        check_frames=args.check_frames,
        mode=args.mode,
        watchdog_s=args.watchdog,
        auto_accept=args.auto_accept,
        max_steps=args.max_steps or (SIM_MAX_STEPS if is_sim else None),
        fps=fps,
        executor=args.executor,
        sync_checks=fps is None,
        stop_when=(lambda: robot.success) if is_sim else None,
    )
    events_path = out / "events.jsonl"
    events_path.unlink(missing_ok=True)
    log = RunLog(events_path)
    stack.append(log.close)
    sup = Supervisor(robot, client, diagnoser, executors, config, log=log)
    stack.append(lambda: sup.close(wait_s=60.0))  # let a check in the model finish before exit
    if args.auto_accept:
        print(
            f"warning: --auto-accept: every proposal is executed with {args.executor} without a human review "
            "(experiments only)",
            file=sys.stderr,
            flush=True,
        )
    task = args.task or robot.instruction
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: sup.stop())
    outcome = None
    started = time.monotonic()
    try:
        sup.start(task)
        watch = {LiveState.STOPPED, LiveState.ERROR} | (set() if args.auto_accept else {LiveState.AWAITING_REVIEW})
        while (state := sup.wait_for(watch, 0.5)) not in watch:
            pass
        if state == LiveState.AWAITING_REVIEW:
            _write_proposal(sup, out / "proposal", args.executor)
            outcome = "awaiting_review"
            sup.stop()
        sup.join(10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = sup.status()
    if outcome is None:
        reason = status["reason"] or ""
        outcome = {"stop_when": "succeeded", "max_steps": "max_steps"}.get(reason, status["state"])
    summary = _summary(args, robot, sim_policy, sup, status, outcome, time.monotonic() - started, is_sim)
    from vifailback_demo.core.dataset import write_json_atomic
    from vifailback_demo.store.store import default_data_dir

    data_dir = None if args.no_record else Path(args.data_dir) if args.data_dir else default_data_dir()
    summary["data_dir"] = None if data_dir is None else str(data_dir)
    summary["records"] = None  # filled in once they are committed
    write_json_atomic(out / "summary.json", summary)  # first: a store failure below never loses the run
    text = (
        f"{status['run_id']}: {outcome}; {status['steps']} actions, {status['checks']} checks, "
        f"{status['proposals']} proposals, {status['executions']} executions"
        + ("" if summary.get("success") is None else f"; task {'succeeded' if summary['success'] else 'not done'}")
    )
    warnings = [f"the run ended in error: {status['error']}"] if outcome == "error" else []
    exit_code = 1 if outcome == "error" else 0
    if data_dir is not None:
        try:
            summary["records"] = _record(sup, summary, data_dir)
        except (ViFailbackError, OSError, sqlite3.Error) as exc:
            summary["record_error"] = str(exc)
            warnings.append(f"the interventions were not recorded in {data_dir}: {exc}")
            exit_code = 1
        else:
            n = len(summary["records"])
            text += f"\n{n} intervention{'' if n == 1 else 's'} recorded in {data_dir}"
        write_json_atomic(out / "summary.json", summary)
    text += f"\n-> {out / 'summary.json'}"
    return CommandResult(data=summary, text=text, exit_code=exit_code, warnings=warnings)


def _record(sup: Any, summary: dict[str, Any], data_dir: Path) -> list[int]:
    """Every intervention of the run as a correction record (an unreviewed proposal as "skipped")."""
    interventions = sup.interventions
    if not interventions:
        return []  # nothing to store: no data directory is created
    from vifailback_demo.live.records import record_run
    from vifailback_demo.store.store import CorrectionsStore

    extra = {"failure": summary["failure"]} if "failure" in summary else None
    with CorrectionsStore(data_dir) as store:
        return record_run(
            store, interventions, summary["run_id"], summary["task"], summary["success"], extra=extra,
            mode=sup.config.mode,
        )  # fmt: skip


def _summary(args, robot, sim_policy, sup, status, outcome, duration_s, is_sim) -> dict[str, Any]:
    events = sup.events
    checks = [e for e in events if e["event"] == "check"]
    summary: dict[str, Any] = {
        "run_id": status["run_id"],
        "outcome": outcome,
        "robot": args.robot,
        "policy": args.policy,
        "model": args.model,
        "backend": "oracle" if args.model == "oracle" else args.backend,
        "executor": args.executor,
        "auto_accept": args.auto_accept,
        "seed": args.seed,
        "task": status["task"],
        "duration_s": round(duration_s, 3),
        "status": status,
        "checks": [{k: c.get(k) for k in ("check", "robot_frame", "latency_s", "status")} for c in checks],
        "success": bool(robot.success) if is_sim else None,
    }
    if sim_policy is not None:
        # Ground truth for the summary only (the supervisor never sees it): when did the injected failure start?
        failure = sim_policy.episode_info(robot.seed, robot.task_id)
        summary["failure"] = failure
        first = next((c for c in checks if c["status"] == "failed"), None)
        delay = None
        if failure is not None and first is not None:
            delay = first["robot_frame"] - int(failure["start_frame"])
        summary["detection_delay_frames"] = delay
    return summary


def _write_proposal(sup: Any, folder: Path, executor: str) -> None:
    """The proposal for a later review: diagnosis.json + keyframe.png, the frames, and the pre-filled correction."""
    from vifailback_demo.core.dataset import write_json_atomic
    from vifailback_demo.core.symbol_codec import symbols_to_code
    from vifailback_demo.diagnosis import write_diagnosis
    from vifailback_demo.imageio import write_image_rgb
    from vifailback_demo.live.supervisor import correction_from_proposal

    proposal = sup.proposal
    if proposal is None:  # stopped in the meantime
        return
    write_diagnosis(proposal.diagnosis, folder)
    names = []
    for i, frame in enumerate(proposal.frames, start=1):
        names.append(write_image_rgb(folder / f"frame_{i:02d}.png", frame).name)
    c = correction_from_proposal(proposal, executor, reviewer="")
    write_json_atomic(
        folder / "proposal.json",
        {
            "run_id": sup.run_id,
            "check": proposal.check,
            "robot_frame": proposal.robot_frame,
            "latency_s": round(proposal.latency_s, 6),
            "frames": names,
            "correction": {
                "low_level": c.low_level,
                "symbols": symbols_to_code(c.symbols),
                "keyframe": c.keyframe,
                "failure_type": c.failure_type,
                "executor": c.executor,
            },
        },
    )
