"""The policy interface: what a VLA looks like to this project (and to openpi's websocket server).

A policy has ``metadata`` (a dict the server sends first; openpi's ALOHA configs send ``{"reset_pose": [...]}``)
and ``infer(observation) -> dict`` whose ``"actions"`` is an array ``[horizon, action_dim]``. Observations follow
openpi's ALOHA shape: ``{"state": float array, "images": {"cam_high": uint8 image, ...}, "prompt": str}`` plus any
keys of a policy's own. Do not assume a chunk length: pi0 answers 50 rows, pi05_droid 15.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    @property
    def metadata(self) -> dict[str, Any]: ...

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]: ...
