"""How the built-in policy of the simulated robot behaves: the numbers docs/robots.md quotes.

    python benchmarks/sim_policy.py --seeds 4

1. The closed-loop expert with no injected failure: success rate and frames to success over every task.
2. Every failure variant, forced: successes with no intervention, after the dataset's ground-truth correction at
   the failure's visible frame, after a wrong correction (the first reworded variant of it: another direction or
   gripper), and after the right correction 50 frames late. Then the task prompt again until success or a limit.
3. Time per ``infer`` by mode (expert / failing / command).

Robot and policy run in one process (no link): this measures the policy, not the websocket.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vifailback_demo.core.commands import command_variants, parse_command
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.policy.sim_script import ALL_VARIANTS
from vifailback_demo.robot.sim_robot import SimRobot
from vifailback_demo.sim.tasks import TASK_IDS

ROWS_PER_CALL = 25  # openpi clients execute 10-25 rows of a 50-row chunk before asking again
infer_times: dict[str, list[float]] = {}


def step(robot: SimRobot, policy: SimPolicy, prompt: str, rows: int) -> None:
    obs = policy_observation(robot, robot.get_observation(), prompt)
    started = time.perf_counter()
    reply = policy.infer(obs)
    infer_times.setdefault(reply["sim/mode"], []).append(time.perf_counter() - started)
    for i in range(rows):
        robot.send_chunk_step(reply, i)


def run_to(robot: SimRobot, policy: SimPolicy, prompt: str, frame: int) -> None:
    while robot.frame < frame:
        step(robot, policy, prompt, min(ROWS_PER_CALL, frame - robot.frame))


def run_until_success(robot: SimRobot, policy: SimPolicy, prompt: str, limit: int) -> bool:
    while robot.frame < limit and not robot.success:
        step(robot, policy, prompt, ROWS_PER_CALL)
    return robot.success


def expert(seeds: int) -> None:
    wins, frames = 0, []
    for task in TASK_IDS:
        for seed in range(seeds):
            with SimRobot(task, 100 + seed, width=64, height=48) as robot:
                wins += run_until_success(robot, SimPolicy(), robot.instruction, 800)
                frames.append(robot.frame)
    print(
        f"expert, no failure: {wins}/{len(frames)} succeeded; frames median {np.median(frames):.0f}, max {max(frames)}"
    )


def failures(seeds: int) -> None:
    print("variant: episodes | successes with no intervention, right correction, wrong correction, right but 50 late")
    totals = np.zeros(4, dtype=int)
    episodes = 0
    for variant in ALL_VARIANTS:
        outcomes = []
        for seed in range(200, 200 + seeds):
            policy = SimPolicy(failure_rate=1.0, variants=[variant], seed=1)
            info = policy.episode_info(seed)
            if info is None or info["variant"] != variant:
                continue  # e.g. wrong_yaw needs an object whose yaw matters
            robot = SimRobot(None, seed, width=64, height=48)
            robot.connect()
            run_to(robot, policy, robot.instruction, info["correct_frame"] + 550)
            row = [robot.success]
            for kind in ("right", "wrong", "late"):
                robot.new_episode(seed=seed)
                policy.reset()
                run_to(robot, policy, robot.instruction, info["correct_frame"] + (50 if kind == "late" else 0))
                command = info["correction"]
                if kind == "wrong":
                    command = command_variants(parse_command(command))[0].format()
                step(robot, policy, command, 50)
                row.append(run_until_success(robot, policy, robot.instruction, robot.frame + 600))
            robot.disconnect()
            outcomes.append(row)
        if outcomes:
            sums = np.array(outcomes, dtype=int).sum(axis=0)
            totals += sums
            episodes += len(outcomes)
            print(f"  {variant}: {len(outcomes)} | {' '.join(str(int(x)) for x in sums)}")
    print(f"  all: {episodes} | {' '.join(str(int(x)) for x in totals)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="episodes per task and per variant (default 4)")
    args = parser.parse_args()
    expert(args.seeds)
    failures(args.seeds)
    for mode, times in infer_times.items():
        ms = np.array(times) * 1000
        print(f"infer ({mode}): median {np.median(ms):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms, n={len(ms)}")


if __name__ == "__main__":
    main()
