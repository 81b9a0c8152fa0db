"""Does the live monitor slow the robot's control loop? And how long does one check take, per diagnoser backend?

    python benchmarks/live_loop.py [--steps 1500] [--repeats 3] [--fps 25] [--size 224] [--delay 0] [--tiny]
                                   [--monitor oracle|tiny]

Loop period: the simulated robot driven by the built-in policy through the live :class:`Supervisor`, the same
episode (no injected failure, so nothing pauses the loop) run with the monitor off (``monitor=False``) and on (the
oracle diagnoser on the supervisor's model thread, a check every 6 chunks of 25 actions, 8 frames each), in the
same process, alternating A/B ``--repeats`` times. The period is the mean time between two actions reaching the
robot, measured at the robot. Unpaced (the default) the loop runs as fast as the CPU allows, so any cost of the
monitor (sampling the camera ring, the model thread competing for the CPU and the GIL) shows up in full; with
``--fps 25`` the loop is paced like a real robot and what matters is whether it still keeps its 40 ms. ``--delay``
makes the oracle take that long per check (a slow model that sleeps, releasing the CPU); ``--monitor tiny`` puts
the bundled tiny model in the loop instead, computing on the same CPU (the honest case for a paced robot:
``--monitor tiny --fps 25``). Target: the monitor costs at most 5% of the period.

Check latency: ``Diagnoser.diagnose`` over 8 frames of the same camera (sampling, generation, parsing, keyframe
rendering) with the oracle, the scripted backend, and with ``--tiny`` the bundled tiny model on CPU
(``assets/models/vifailback-tiny``, greedy, 256 new tokens). This machine is noisy; quote the ratio, and absolute
times only from a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vifailback_demo.diagnosis.diagnoser import Diagnoser  # noqa: E402
from vifailback_demo.live.oracle import SimOracleBackend  # noqa: E402
from vifailback_demo.live.supervisor import Supervisor, SupervisorConfig  # noqa: E402
from vifailback_demo.models.scripted import ScriptedBackend  # noqa: E402
from vifailback_demo.policy.observation import policy_observation  # noqa: E402
from vifailback_demo.policy.sim_policy import SimPolicy  # noqa: E402
from vifailback_demo.robot.sim_robot import SimRobot  # noqa: E402

SEED = 1
LIMIT = 1.05


class TimedSimRobot(SimRobot):
    """The simulated robot noting when each action arrives."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.times: list[float] = []
        super().__init__(*args, **kw)

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        self.times.append(time.perf_counter())
        return super()._send_action(action)


def loop_run(monitor: bool, args: argparse.Namespace) -> dict[str, float]:
    policy = SimPolicy(failure_rate=0.0)
    robot = TimedSimRobot(seed=SEED, width=args.size, height=args.size)
    robot.connect()
    backend = args.monitor_backend or SimOracleBackend(robot, policy, delay_s=args.delay)
    config = SupervisorConfig(
        every=6, rows_per_chunk=25, check_frames=8, max_steps=args.steps, fps=args.fps, monitor=monitor, watchdog_s=30.0
    )
    sup = Supervisor(robot, policy, Diagnoser(backend, settings=args.settings), {}, config)
    sup.start(robot.instruction)
    sup.join(600)
    sup.close()
    robot.disconnect()
    gaps = np.diff(robot.times)
    checks = [e["latency_s"] for e in sup.events if e["event"] == "check"]
    state = sup.status()
    if state["reason"] != "max_steps":
        raise SystemExit(f"the run ended early: {state}")
    wall = robot.times[-1] - robot.times[0]
    return {
        "period_ms": float(gaps.mean() * 1000),
        "p99_ms": float(np.percentile(gaps, 99) * 1000),
        "max_ms": float(gaps.max() * 1000),
        "checks": len(checks),
        "check_ms": statistics.median(checks) * 1000 if checks else float("nan"),
        "busy": sum(checks) / wall,
    }


def check_latency(diagnoser: Diagnoser, frames: list[np.ndarray], task: str, reps: int) -> float:
    """Median milliseconds of one full diagnosis, after one warm-up call (model load, caches)."""
    diagnoser.diagnose(frames, task, "correction")
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        diagnoser.diagnose(frames, task, "correction")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def failing_clip(size: int) -> tuple[SimRobot, SimPolicy, list[np.ndarray]]:
    """A connected robot whose injected failure is visible, and 8 frames of its last 150 (the oracle's longest
    answer: "Failed" with a correction)."""
    robot = SimRobot(seed=SEED, width=size, height=size)
    robot.connect()
    policy = SimPolicy(failure_rate=1.0)
    while robot.frame < 250:
        reply = policy.infer(policy_observation(robot, robot.get_observation(), robot.instruction))
        for i in range(25):
            robot.send_chunk_step(reply, i)
    ring = robot.cameras["head"].ring.recent(150)
    return robot, policy, [ring[i].image for i in np.linspace(0, len(ring) - 1, 8).round().astype(int)]


class ComputeThenSucceed:
    """A real model's full generation (the CPU it takes is the point), answered as "Successful" so that a false
    alarm of the bundled model does not hold the robot and end the timing run."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, f"{inner.name} (answer replaced)"

    def generate(self, frames: Any, prompt: str, **kw: Any) -> Any:
        from dataclasses import replace

        from vifailback_demo.core.answer import format_cot_answer

        return replace(
            self.inner.generate(frames, prompt, **kw), text=format_cot_answer(success=True, mode="correction")
        )


def tiny_backend(model: str) -> tuple[Any, Any]:
    """The bundled tiny model on CPU, greedy, 256 new tokens (as the app runs it)."""
    from vifailback_demo.models.backend import GenerationSettings
    from vifailback_demo.models.transformers_backend import TransformersBackend, TransformersOptions

    return TransformersBackend(TransformersOptions(model=model, dtype="float32")), GenerationSettings(
        max_new_tokens=256
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="actions per run (1500 = 10 checks)")
    parser.add_argument("--repeats", type=int, default=3, help="A/B pairs (3)")
    parser.add_argument("--fps", type=float, default=None, help="pace the loop (default: as fast as possible)")
    parser.add_argument("--size", type=int, default=224, help="camera image side in pixels (224)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds the oracle sleeps per check (0)")
    parser.add_argument("--reps", type=int, default=20, help="diagnoses per backend for the latency (20)")
    parser.add_argument("--tiny", action="store_true", help="also time the bundled tiny model on CPU")
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "vifailback-tiny"))
    parser.add_argument(
        "--monitor",
        choices=("oracle", "tiny"),
        default="oracle",
        help="the diagnoser in the loop: the oracle (cheap) or the bundled tiny model, which "
        "computes on this CPU while the loop runs (use with --fps 25)",
    )
    args = parser.parse_args()
    args.monitor_backend, args.settings = None, None
    if args.monitor == "tiny":
        backend, args.settings = tiny_backend(args.model)
        args.monitor_backend = ComputeThenSucceed(backend)

    off, on = [], []
    loop_run(False, args)  # warm-up: first-call costs (imports, caches) would land on the first arm
    for i in range(args.repeats):  # alternate the order so that drift on a busy machine hits both arms alike
        for monitor in (False, True) if i % 2 == 0 else (True, False):
            (on if monitor else off).append(loop_run(monitor, args))
    p_off = statistics.median(r["period_ms"] for r in off)
    p_on = statistics.median(r["period_ms"] for r in on)
    pace = f"paced at {args.fps:g} fps" if args.fps else "unpaced"
    print(f"control loop, {args.steps} actions, {pace}, {args.size}x{args.size} camera, median of {args.repeats}:")
    print(f"  monitor off: {p_off:.3f} ms per action (p99 {statistics.median(r['p99_ms'] for r in off):.2f} ms)")
    print(
        f"  monitor on:  {p_on:.3f} ms per action (p99 {statistics.median(r['p99_ms'] for r in on):.2f} ms), "
        f"{on[0]['checks']} checks, check latency {statistics.median(r['check_ms'] for r in on):.2f} ms"
    )
    busy = statistics.median(r["busy"] for r in on)
    print(
        f"  the model thread was busy {100 * busy:.2f}% of the run (checks x latency / wall time: the most CPU a "
        "model that computes, rather than waits, can take from the loop, whatever else runs here)"
    )
    ratio = statistics.median(b["period_ms"] / a["period_ms"] for a, b in zip(off, on))  # pairs run back to back
    verdict = "OK" if ratio <= LIMIT else "TOO SLOW"
    print(
        f"  ratio on/off (median of the pairs): {ratio:.3f} ({verdict}: the monitor may add at most {100 * (LIMIT - 1):.0f}%)"
    )

    robot, policy, frames = failing_clip(args.size)
    diagnosers = [
        ("oracle", Diagnoser(SimOracleBackend(robot, policy)), args.reps),
        ("scripted", Diagnoser(ScriptedBackend(mode="correction")), args.reps),
    ]
    if args.tiny:
        if args.monitor_backend is not None:
            tiny, settings = args.monitor_backend.inner, args.settings
        else:
            tiny, settings = tiny_backend(args.model)
        diagnosers.append(("tiny (CPU)", Diagnoser(tiny, settings=settings), 3))
    print(f"check latency (Diagnoser.diagnose, 8 frames of {args.size}x{args.size}):")
    for name, diagnoser, reps in diagnosers:
        print(f"  {name}: {check_latency(diagnoser, frames, robot.instruction, reps):.2f} ms (median of {reps})")


if __name__ == "__main__":
    main()
