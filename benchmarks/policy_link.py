"""Round-trip cost of the policy link: PolicyClient -> local PolicyServer -> policy, against calling the policy in process.

    python benchmarks/policy_link.py [--reps 200] [--warmup 10] [--cameras 1]

The policy is trivial (returns zeros [50, 14]) so that what is measured is the link: msgpack encoding of a
224x224x3 uint8 image (per camera) plus a 14-float state and a prompt, the websocket over 127.0.0.1, the hop to the
server's inference thread, and decoding the answer. Also timed, in the same run: the codec alone (encode and decode
the observation and the answer in process), which is the part of the overhead that is not the network or threads.
A real pi0 call takes 50-100 ms on a GPU, so a link overhead of a millisecond or two is what to expect. This machine
is noisy; compare the ratio and the overhead, and take absolute times only from a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vifailback_demo.policy.client import PolicyClient  # noqa: E402
from vifailback_demo.policy.codec import packb, unpackb  # noqa: E402
from vifailback_demo.policy.server import PolicyServer  # noqa: E402


class ZerosPolicy:
    metadata: ClassVar[dict] = {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]}

    def infer(self, observation: dict) -> dict:
        return {"actions": np.zeros((50, 14), np.float32)}


def observation(cameras: int) -> dict:
    rng = np.random.default_rng(0)  # random pixels: no accidental help from compressible data
    names = ["cam_high", "cam_left_wrist", "cam_right_wrist"][:cameras]
    return {
        "images": {name: rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for name in names},
        "state": rng.standard_normal(14).astype(np.float32),
        "prompt": "pick up the cup and put it in the bin",
    }


def median_ms(fn, reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cameras", type=int, default=1, choices=(1, 2, 3))
    args = parser.parse_args()

    policy, obs = ZerosPolicy(), observation(args.cameras)

    def codec_round_trip() -> None:
        unpackb(packb(obs))
        unpackb(packb(policy.infer(obs)))

    in_process = median_ms(lambda: policy.infer(obs), args.reps, args.warmup)
    codec_only = median_ms(codec_round_trip, args.reps, args.warmup)
    with PolicyServer(policy) as server, PolicyClient(server.url) as client:
        result = client.infer(obs)
        assert result["actions"].shape == (50, 14)
        link = median_ms(lambda: client.infer(obs), args.reps, args.warmup)

    frame_kb = len(packb(obs)) / 1024
    print(f"observation: {args.cameras} x 224x224x3 uint8 + state[14] + prompt = {frame_kb:.0f} KiB per frame")
    print(f"reps {args.reps} (after {args.warmup} warm-up), medians:")
    print(f"  in-process policy.infer      {in_process:9.4f} ms")
    print(f"  in-process codec round trip  {codec_only:9.4f} ms")
    print(f"  PolicyClient -> PolicyServer {link:9.4f} ms")
    print(f"link / in-process: {link / in_process:.0f}x; overhead {link - in_process:.3f} ms per call")
    print(f"  of which codec {codec_only:.3f} ms, websocket + threads {link - in_process - codec_only:.3f} ms")


if __name__ == "__main__":
    main()
