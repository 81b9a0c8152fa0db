"""Time ``parse_answer`` on normal answers and on every adversarial class, per kB, in one run.

    python benchmarks/parse.py [--sizes 10000 40000 160000] [--repeats 3] [--classes NAME ...]

The baseline is normal model output measured in the same process: the official example answer
(tests/data/reference) and answers written by ``format_cot_answer`` with 1-8 symbols. Each adversarial class
(tests/core/adversarial.py: whitespace after a quote, repeated prefixes, runs of braces, digits, quotes or escaped
newlines) is then parsed at each size. Printed per class and size: ms per parse, us per kB, the ratio to the
normal answers' us per kB, and the growth of the per-kB cost from the smallest to the largest size. Linear
parsing keeps that growth near 1; a quadratic pattern multiplies it by the size ratio (16 for 10k -> 160k).
Target: growth under 3 for every class (exit 1 otherwise). This machine is noisy: compare ratios, quote absolute
times only from a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.adversarial import CLASSES, build
from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer, parse_answer
from vifailback_demo.core.symbols import Crosshair, GripperState, RotatingArrow, StraightArrow

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference" / "example_direct_draw.json"
MAX_GROWTH = 3.0


def normal_answers(count: int = 40) -> list[str]:
    """The official example plus formatted answers of the official shape, 1-8 symbols each."""
    answers = [json.loads(REFERENCE.read_text())[0]["messages"][0]["content"]]
    rng = random.Random(0)
    pool = [
        StraightArrow((602, 179), (689, 325), ("green", "red")),
        RotatingArrow((550, 179), "clockwise"),
        Crosshair((300, 600)),
        GripperState((450, 700), "OFF"),
    ]
    for _ in range(count):
        answers.append(
            format_cot_answer(
                success=False,
                keyframe=rng.randint(1, 40),
                failure_type=rng.choice(FAILURE_TYPES),
                low_level="Move the right gripper to the right significantly and backward significantly.",
                symbols=[rng.choice(pool) for _ in range(rng.randint(1, 8))],
                mode=rng.choice(["avoidance", "correction"]),
            )
        )
    answers.append(format_cot_answer(success=True))
    return answers


def best_seconds(texts: list[str], repeats: int) -> float:
    """Best-of-``repeats`` time to parse all ``texts`` once (garbage collection off while timing)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for text in texts:
                parse_answer(text)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000], help="characters")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per measurement")
    parser.add_argument("--classes", nargs="+", choices=sorted(CLASSES), help="only these adversarial classes")
    args = parser.parse_args()
    sizes = sorted(args.sizes)

    normal = normal_answers()
    normal_kb = sum(len(t) for t in normal) / 1000
    normal_us_per_kb = best_seconds(normal, max(args.repeats, 5)) * 1e6 / normal_kb
    print(
        f"normal answers: {len(normal)} answers, {normal_kb * 1000 / len(normal):.0f} chars each on average, "
        f"{normal_us_per_kb:.1f} us/kB (baseline)"
    )
    print(
        f"{'class':36s} {'size':>8s} {'ms/parse':>9s} {'us/kB':>9s} {'x normal':>9s}  growth {sizes[0] // 1000}k->"
        f"{sizes[-1] // 1000}k"
    )
    failed = []
    for name in args.classes or list(CLASSES):
        per_kb = {}
        for size in sizes:
            text = build(name, size)
            seconds = best_seconds([text], args.repeats)
            per_kb[size] = seconds * 1e6 / (len(text) / 1000)
            line = f"{name:36s} {len(text):8d} {seconds * 1000:9.2f} {per_kb[size]:9.1f} {per_kb[size] / normal_us_per_kb:9.2f}"
            if size == sizes[-1]:
                growth = per_kb[size] / per_kb[sizes[0]]
                status = "ok" if growth < MAX_GROWTH else "SUPER-LINEAR"
                line += f"  x{growth:.2f} {status}"
                if growth >= MAX_GROWTH:
                    failed.append(name)
            print(line, flush=True)
    print(f"{len(failed)} of {len(args.classes or CLASSES)} classes over growth x{MAX_GROWTH}: {failed or 'none'}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
