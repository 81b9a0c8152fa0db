"""Accepts per second into the corrections store: crash-and-power-safe (``durability="full"``, the default)
against ``durability="normal"`` (kill -9 safe, may lose the last commits on power loss), in the same process.

    python benchmarks/store.py [--records 100] [--threads 1 8]

Each record has 3 frames of 64x48 plus symbols, as an accept from the app does. Quote the ratio; this machine is
noisy, and fsync cost depends on the disk.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.store.store_worker import make_item
from vifailback_demo.store import CorrectionsStore


def accepts_per_second(durability: str, records: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = CorrectionsStore(Path(tmp) / "data", durability=durability)
        items = [make_item(f"bench-{durability}", i) for i in range(records)]
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            ids = list(pool.map(store.add, items))
        seconds = time.perf_counter() - started
        assert len(set(ids)) == records and store.count() == records
        store.close()
    return records / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    for threads in args.threads:
        full = accepts_per_second("full", args.records, threads)
        normal = accepts_per_second("normal", args.records, threads)
        print(
            f"{threads} thread(s): full {full:.0f} accepts/s | normal {normal:.0f} accepts/s | full/normal x{full / normal:.2f}"
        )


if __name__ == "__main__":
    main()
