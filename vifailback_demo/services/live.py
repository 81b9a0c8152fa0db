"""The live-robot service: one robot connection per app process, its policy link, its supervisor, its records.

The app's "Live robot" tab calls only this (no gradio here). It owns the robot, the policy client (and the
built-in policy's loopback server), the diagnoser and the :class:`~vifailback_demo.live.supervisor.Supervisor`;
per-session UI state holds plain data only. Every visitor of one app sees and drives the same robot, which is why
control is refused (:meth:`LiveService.refusal`) when the app listens beyond loopback, or is shared, without a
login: a robot must not be one click away from anybody who finds the URL.

Every decision becomes a correction record as it is made (source ``live_run``; see ``live/records.py``): accept
and reject write one at once, so a crash loses nothing decided; when the run ends (stop, success, error) the
proposals nobody decided are stored as skipped and, for the simulated robot, every record of the run gets whether
the task then succeeded.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from vifailback_demo.errors import LiveError
from vifailback_demo.live.base import Correction, LiveState, Proposal
from vifailback_demo.live.config import ACTIVE, SupervisorConfig
from vifailback_demo.live.records import source_ref
from vifailback_demo.services.config import AppConfig

#: Hosts that only this machine can reach.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DIAGNOSERS = ("app model", "oracle")
EXECUTORS = ("vsf", "pmc")


@dataclass(frozen=True)
class LiveSettings:
    """What the Connect button asks for."""

    robot: str = "sim"  # a robot spec (see vifailback_demo.robot.factory)
    policy: str = "builtin"  # ws://HOST:PORT of an openpi policy server, or "builtin" (simulated robot only)
    diagnoser: str = "app model"  # "app model" (the Diagnose tab's model) or "oracle" (simulated robot only)
    failure_rate: float = 1.0  # built-in policy: share of episodes with an injected failure
    seed: int = 0  # the simulated robot's first episode and the built-in policy's seed
    camera: str | None = None  # camera spec for a serial robot


@dataclass
class LiveSnapshot:
    """What the tab shows, read in one go: state, counters, the newest head frame and the proposal, if any."""

    connected: bool
    state: str
    status: dict[str, Any]
    frame: np.ndarray | None
    proposal: Proposal | None
    description: str
    records: list[int]


class LiveService:
    def __init__(
        self, config: AppConfig, diagnosis: Any, store: Any, *, fps: float = 25.0, watchdog_s: float = 5.0
    ) -> None:
        self.config, self.diagnosis, self.store = config, diagnosis, store
        self.fps = fps  # action rate: real time by default, also for the simulator, so an operator can follow it
        self.watchdog_s = watchdog_s  # policy / robot / camera silence that holds the robot
        self._lock = threading.RLock()  # connect / disconnect / start / decisions, one at a time
        self._robot: Any = None
        self._sup: Any = None
        self._stack: list[Any] = []  # closers of the policy link, last first
        self._settings: LiveSettings | None = None
        self._episode = 0  # simulated robot: episodes started (each run is a new episode)
        self._recorded: dict[str, dict[int, int]] = {}  # run id -> proposal check -> record id
        self._finalized: set[str] = set()

    # ---- guard -----------------------------------------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why this app may not drive a robot (None: it may)."""
        cfg = self.config
        if cfg.auth:
            return None
        if cfg.share:
            return "robot control is off: the app is shared (--share) without a login; restart it with --auth"
        if cfg.host not in LOOPBACK:
            return (
                f"robot control is off: the app listens on {cfg.host}, beyond this machine, without a login; "
                "restart it with --auth user:password (or on 127.0.0.1)"
            )
        return None

    def _guard(self) -> None:
        if (why := self.refusal()) is not None:
            raise LiveError(why)

    # ---- connection ------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._sup is not None

    def connect(self, settings: LiveSettings) -> str:
        """Open the robot, the policy link and the diagnoser; replaces nothing (disconnect first)."""
        self._guard()
        from vifailback_demo.robot.factory import open_robot, parse_robot_spec

        kind = parse_robot_spec(settings.robot).kind
        if settings.diagnoser not in DIAGNOSERS:
            raise LiveError(f"diagnoser: expected one of {list(DIAGNOSERS)}, got {settings.diagnoser!r:.40}")
        if kind != "sim" and settings.policy.strip() == "builtin":
            raise LiveError("the built-in policy drives the simulated robot only; give a ws:// policy URL")
        if kind != "sim" and settings.diagnoser == "oracle":
            raise LiveError("the oracle reads the simulated world: it needs the simulated robot (sim)")
        if not 0.0 <= settings.failure_rate <= 1.0:
            raise LiveError(f"failure rate: expected a number from 0 to 1, got {settings.failure_rate}")
        policy = settings.policy.strip()
        if policy != "builtin" and not policy.startswith(("ws://", "wss://")):  # checked before the robot opens
            raise LiveError(f"policy: expected 'builtin' or a ws://HOST:PORT URL, got {policy!r:.60}")
        with self._lock:
            if self._sup is not None:
                raise LiveError(f"already connected to {self._settings.robot}; disconnect first")
            robot = open_robot(settings.robot, seed=settings.seed, camera=settings.camera)
            stack: list[Any] = []
            try:
                robot.connect()
                client, sim_policy = self._policy(settings, stack)
                diagnoser = self._diagnoser(settings, robot, client, sim_policy)
                self._sup = self._supervisor(robot, client, diagnoser, kind == "sim")
            except BaseException:
                for close in reversed(stack):
                    with contextlib.suppress(Exception):
                        close()
                with contextlib.suppress(Exception):
                    robot.disconnect()
                raise
            self._robot, self._stack, self._settings, self._episode = robot, stack, settings, 0
            return self.describe()

    def _policy(self, s: LiveSettings, stack: list[Any]) -> tuple[Any, Any]:
        from vifailback_demo.cli.policy import API_KEY_ENV
        from vifailback_demo.policy.client import PolicyClient

        sim_policy, url = None, s.policy.strip()
        if url == "builtin":
            from vifailback_demo.policy.server import PolicyServer
            from vifailback_demo.policy.sim_policy import SimPolicy

            sim_policy = SimPolicy(failure_rate=s.failure_rate, seed=s.seed)
            server = PolicyServer(sim_policy, host="127.0.0.1", port=0).start()  # a real websocket, on loopback
            stack.append(server.close)
            url = server.url
        client = PolicyClient(url, timeout_s=30.0, api_key=os.environ.get(API_KEY_ENV) or None)
        stack.append(client.close)
        return client.connect(), sim_policy

    def _diagnoser(self, s: LiveSettings, robot: Any, client: Any, sim_policy: Any) -> Any:
        from vifailback_demo.diagnosis.diagnoser import Diagnoser

        if s.diagnoser == "oracle":
            from vifailback_demo.live.oracle import SimOracleBackend

            if sim_policy is not None:
                return Diagnoser(SimOracleBackend(robot, sim_policy))
            return Diagnoser(SimOracleBackend.from_metadata(robot, client.metadata))  # a served built-in policy
        return Diagnoser(self.diagnosis.shared_backend())  # the Diagnose tab's model (and its lock), built on first use

    def _supervisor(self, robot: Any, client: Any, diagnoser: Any, is_sim: bool) -> Any:
        from vifailback_demo.live.executors import make_executor
        from vifailback_demo.live.supervisor import Supervisor

        executors = {"vsf": make_executor("vsf")}
        if robot.action_space == "ee":
            executors["pmc"] = make_executor("pmc")
        config = SupervisorConfig(
            fps=self.fps,
            watchdog_s=self.watchdog_s,
            mode="correction",
            stop_when=(lambda: robot.success) if is_sim else None,
        )
        return Supervisor(robot, client, diagnoser, executors, config, on_event=self._on_event)

    def disconnect(self) -> None:
        """Stop any run, store what is pending, and close the robot and the policy link."""
        with self._lock:
            sup, robot, stack = self._sup, self._robot, self._stack
            if sup is None:
                return
            with contextlib.suppress(Exception):
                sup.close(wait_s=30.0)  # a check still in the model ends first (the model is shared with the app)
            self._finalize(sup)
            for close in reversed(stack):
                with contextlib.suppress(Exception):
                    close()
            with contextlib.suppress(Exception):
                robot.disconnect()
            self._sup = self._robot = self._settings = None
            self._stack = []

    close = disconnect

    # ---- control ---------------------------------------------------------------------------------------------
    def _connected_sup(self) -> Any:
        if self._sup is None:
            raise LiveError("no robot is connected: press Connect first")
        return self._sup

    def start(self, task: str, every: int = 6) -> str:
        self._guard()
        with self._lock:
            sup = self._connected_sup()
            if sup.state in ACTIVE:
                raise LiveError(f"a run is already {sup.state.value}; stop it first")
            if not 1 <= int(every) <= 100:
                raise LiveError(f"check every: expected 1-100 chunks, got {every}")
            self._finalize(sup)  # the previous run's undecided proposals and outcome
            sup.config.every = int(every)
            if hasattr(self._robot, "new_episode"):  # the simulator: each run is a fresh episode
                if self._episode or self._robot.frame:
                    self._robot.new_episode(seed=self._settings.seed + self._episode)
                self._episode += 1
                task = task.strip() or self._robot.instruction
            return sup.start(task)

    def pause(self) -> None:
        self._connected_sup().pause()

    def resume(self) -> None:
        self._guard()
        self._connected_sup().resume()

    def stop(self) -> None:
        """Always allowed (also while refused or unconnected: then there is nothing to stop)."""
        sup = self._sup
        if sup is not None:
            sup.stop()

    def proposal_key(self) -> str:
        """``RUN_ID:checkN`` of the proposal waiting now ("" when none): a reviewer's edits belong to one key."""
        sup = self._sup
        proposal = None if sup is None else sup.proposal
        return "" if proposal is None else source_ref(sup.run_id, proposal.check)

    def _waiting(self, sup: Any, expected: str | None, verb: str) -> Proposal:
        proposal = sup.proposal
        if proposal is None:
            raise LiveError(f"there is no proposal to {verb}; the run is {sup.state.value}")
        if expected is not None and expected != source_ref(sup.run_id, proposal.check):
            raise LiveError(
                f"the proposal you edited ({expected or 'none'}) is no longer the one waiting "
                f"({source_ref(sup.run_id, proposal.check)}); nothing was done"
            )
        return proposal

    def accept(self, correction: Correction, expected: str | None = None) -> int:
        """Execute the (edited) correction; returns the record it was stored as. ``expected``: the proposal key the
        reviewer edited; a different proposal waiting now is refused."""
        self._guard()
        with self._lock:
            sup = self._connected_sup()
            proposal = self._waiting(sup, expected, "accept")
            sup.accept(correction)  # the executor's check may refuse: nothing is stored then
            return self._record(sup, proposal, correction, "accept", correction.executor)

    def reject(self, reviewer: str = "", expected: str | None = None) -> int:
        """Drop the proposal and let the policy move the robot again: refused like accept and resume."""
        self._guard()
        with self._lock:
            sup = self._connected_sup()
            proposal = self._waiting(sup, expected, "reject")
            sup.reject(reviewer)
            return self._record(sup, proposal, None, "reject", None, reviewer=reviewer)

    # ---- reading ---------------------------------------------------------------------------------------------
    def snapshot(self) -> LiveSnapshot:
        sup, robot = self._sup, self._robot
        if sup is None:
            return LiveSnapshot(False, "disconnected", {}, None, None, "not connected", [])
        status = sup.status()
        if status["state"] in (LiveState.STOPPED, LiveState.ERROR) and sup.run_id not in self._finalized:
            try:  # the run ended by itself (success, max steps, watchdog): store what is pending
                with self._lock:
                    self._finalize(sup)
            except Exception as exc:  # the next tick tries again; the page shows why meanwhile
                status = {**status, "error": f"could not store the run's interventions: {exc}"}
        camera = robot.cameras.get(sup.config.camera)
        latest = camera.ring.latest() if camera is not None else None
        records = sorted(self._recorded.get(sup.run_id, {}).values())
        frame = None if latest is None else latest.image
        return LiveSnapshot(True, status["state"], status, frame, sup.proposal, self.describe(), records)

    def describe(self) -> str:
        s = self._settings
        if s is None or self._robot is None:
            return "not connected"
        policy = "built-in policy (loopback websocket)" if s.policy == "builtin" else s.policy
        return f"{self._robot.name} · {policy} · diagnoser: {s.diagnoser} · executors: {', '.join(self._sup.executors)}"

    # ---- records ---------------------------------------------------------------------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        """Nothing to do per event (decisions are recorded by accept/reject); kept for a UI log later."""

    def _record(
        self,
        sup: Any,
        proposal: Proposal,
        correction: Correction | None,
        decision: str,
        executor: Any,
        reviewer: str = "",
    ) -> int:
        from vifailback_demo.live.records import record_intervention

        rid = record_intervention(
            self.store,
            sup.run_id,
            proposal,
            correction,
            decision,
            executor,
            None,
            sup.status()["task"],
            reviewer=reviewer,
        )
        self._recorded.setdefault(sup.run_id, {})[proposal.check] = rid
        return rid

    def _finalize(self, sup: Any) -> None:
        """Once per ended run: undecided proposals stored as skipped; the simulator's outcome on every record.
        ``record_run`` skips what is stored already, so a failed write is simply retried by the next call."""
        from vifailback_demo.live.records import record_run

        run_id = sup.run_id
        if not run_id or run_id in self._finalized or sup.state in ACTIVE:
            return
        succeeded = bool(self._robot.success) if hasattr(self._robot, "success") else None
        ids = record_run(self.store, sup, run_id, sup.status()["task"], succeeded)
        done = self._recorded.setdefault(run_id, {})
        for item, rid in zip(sup.interventions, ids, strict=True):
            done[item.proposal.check] = rid
        self._finalized.add(run_id)
