"""``vifailback policy serve|check``: the built-in policy of the simulated robot, and a check of any policy server.

``serve`` runs the scripted expert of the synthetic world as an openpi-compatible websocket policy server (the
offline stand-in for a VLA such as pi0.5; a real openpi server is the same URL). ``check`` connects to any
openpi-compatible server, prints its metadata, its ``/healthz`` answer, the shape of one inference and the
latency. The API key, when a server needs one, comes from ``VIFAILBACK_POLICY_API_KEY`` (never a flag, so it
does not land in shell history or process lists).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time
from typing import Any

import numpy as np

from vifailback_demo.cli.main import CommandResult
from vifailback_demo.errors import PolicyError

API_KEY_ENV = "VIFAILBACK_POLICY_API_KEY"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("policy", help="VLA policy link: serve the built-in policy, check a server", description=__doc__)
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")

    s = psub.add_parser(
        "serve",
        parents=[common],
        help="serve the simulated robot's built-in policy (openpi-compatible websocket)",
        description="Serve the scripted expert of the synthetic world as a chunked policy (actions [50, 10]) over "
        "openpi's websocket protocol. It fails like the dataset's episodes at --failure-rate and follows a "
        "low-level command given as the prompt. Stops on Ctrl-C or SIGTERM. With "
        f"{API_KEY_ENV} set, clients must send 'Authorization: Api-Key <key>'.",
    )
    s.add_argument("--robot", default="sim", choices=["sim"], help="which built-in policy (only sim)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 = any free port)")
    s.add_argument("--failure-rate", type=float, default=0.5, help="share of episodes with an injected failure")
    s.add_argument("--seed", type=int, default=0, help="seed of the failure draws (default 0)")
    s.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run)")
    s.set_defaults(handler=cmd_serve)

    c = psub.add_parser(
        "check",
        parents=[common],
        help="metadata, health, one inference and its latency from a policy server",
        description="Connect to an openpi-compatible policy server, print its metadata and /healthz answer, send "
        "--reps inferences of one recorded observation and print the action shape and the median latency. "
        "--like sim sends the simulated robot's observation (state [10], cam_high HxWx3); --like aloha sends "
        "pi0/pi0.5 ALOHA's (state [14], cam_high/cam_left_wrist/cam_right_wrist uint8 3x224x224).",
    )
    c.add_argument("--url", required=True, help="ws://HOST:PORT of the policy server")
    c.add_argument("--like", choices=["sim", "aloha"], default="sim", help="observation shape to send (default sim)")
    c.add_argument("--prompt", default=None, help="prompt to send (default: the simulated task's instruction)")
    c.add_argument("--reps", type=int, default=3, help="number of inferences to time (default 3)")
    c.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per inference (default 30)")
    c.set_defaults(handler=cmd_check)
    p.set_defaults(handler=_need_subcommand)


def _need_subcommand(args: argparse.Namespace) -> CommandResult:
    raise PolicyError("policy needs a subcommand: serve or check (see vifailback policy --help)")


def cmd_serve(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.policy.server import PolicyServer
    from vifailback_demo.policy.sim_policy import SimPolicy

    if not 0.0 <= args.failure_rate <= 1.0:
        raise PolicyError(f"--failure-rate must be between 0 and 1, got {args.failure_rate}")
    if not 0 <= args.port <= 65535:
        raise PolicyError(f"--port must be 0..65535, got {args.port}")
    policy = SimPolicy(failure_rate=args.failure_rate, seed=args.seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = PolicyServer(policy, host=args.host, port=args.port, api_key=os.environ.get(API_KEY_ENV) or None)
    server.start()
    url = server.url
    try:
        print(f"serving the built-in sim policy on {url} (health: {_health_url(url)})", flush=True)
        stop.wait(args.duration)
    finally:
        server.close()
    return CommandResult(data={"url": url, "stopped": True}, text="stopped")


def _health_url(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/") + "/healthz"


def recorded_observation(like: str, prompt: str | None) -> dict[str, Any]:
    """One observation from the simulated robot (seed 0), shaped like the sim policy or like pi0/pi0.5 ALOHA."""
    import cv2

    from vifailback_demo.policy.observation import policy_observation
    from vifailback_demo.robot.sim_robot import SimRobot

    with SimRobot(seed=0) as robot:
        obs = policy_observation(robot, robot.get_observation(), prompt or robot.instruction)
    if like == "sim":
        return obs
    chw = np.ascontiguousarray(cv2.resize(obs["images"]["cam_high"], (224, 224)).transpose(2, 0, 1))
    return {
        "state": np.zeros(14, dtype=np.float32),
        "images": {"cam_high": chw, "cam_left_wrist": chw.copy(), "cam_right_wrist": chw.copy()},
        "prompt": obs["prompt"],
    }


def cmd_check(args: argparse.Namespace) -> CommandResult:
    if args.reps < 1 or args.timeout <= 0:
        raise PolicyError(f"--reps must be >= 1 and --timeout positive, got {args.reps} and {args.timeout}")
    from vifailback_demo.policy.client import PolicyClient

    observation = recorded_observation(args.like, args.prompt)
    api_key = os.environ.get(API_KEY_ENV) or None
    with PolicyClient(args.url, timeout_s=args.timeout, api_key=api_key) as client:
        healthy = client.health(timeout_s=min(args.timeout, 5.0))
        latencies, reply = [], {}
        for _ in range(args.reps):
            started = time.perf_counter()
            reply = client.infer(observation)
            latencies.append((time.perf_counter() - started) * 1000)
        metadata = client.metadata
    actions = np.asarray(reply.get("actions"))
    if actions.ndim != 2:
        raise PolicyError(f"the server's 'actions' must be [horizon, dim], got shape {list(actions.shape)}")
    data = {
        "url": args.url,
        "metadata": _plain(metadata),
        "healthz": healthy,
        "actions_shape": list(actions.shape),
        "latency_ms_median": round(statistics.median(latencies), 2),
        "latency_ms": [round(x, 2) for x in latencies],
    }
    text = (
        f"{args.url}: healthz {'OK' if healthy else 'not OK'}; metadata {data['metadata']}; "
        f"actions {actions.shape[0]}x{actions.shape[1]}; median latency {data['latency_ms_median']} ms "
        f"over {args.reps}"
    )
    return CommandResult(data=data, text=text)


def _plain(value: Any) -> Any:
    """Metadata made printable as JSON (numpy arrays and scalars become lists and numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
