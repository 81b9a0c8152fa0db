"""Synthetic-world throughput: episodes per second for simulate+render+write, single process and the default pool.

Run: ``.venv/bin/python benchmarks/sim.py [--episodes 20]``. Prints episodes/s and the ratio of the pooled run to
the single-process baseline measured in the same process (these machines are noisy).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vifailback_demo.sim.generate import GenerateConfig, generate


def run(episodes: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(GenerateConfig(episodes=episodes, seed=0, out=tmp, workers=workers, progress=False))
        return episodes / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    base = run(args.episodes, 1)
    pooled = run(args.episodes, 0)
    print(f"single process: {base:.2f} episodes/s")
    print(f"default workers: {pooled:.2f} episodes/s ({pooled / base:.2f}x the single-process baseline)")
    print(f"projected time for 100 episodes: {100 / pooled:.1f} s")


if __name__ == "__main__":
    main()
