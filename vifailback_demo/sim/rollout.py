"""Run a plan through the world, frame by frame: the trajectory of states that the renderer and ground truth read.

The arms follow the segments' eased commands through :meth:`World.step` (the same update the steppable
environment uses), and hand scripts drive the human hand. Frame 0 is the initial state; a segment of ``n`` frames
produces the next ``n`` states and records its first and last frame index.
"""

from __future__ import annotations

import math

import numpy as np

from vifailback_demo.sim.plan import HandScript, Plan, interpolate, smoothstep
from vifailback_demo.sim.tasks import TaskInstance
from vifailback_demo.sim.world import HOME, World, WorldState

#: Where a hand script's phases end (fraction of the segment): reach in, grab, carry, let go, leave.
HAND_REACH, HAND_CARRY, HAND_LEAVE = 0.32, 0.66, 1.0


def hand_pose(script: HandScript, t: float, grab_at: np.ndarray, top: float) -> tuple[np.ndarray, float]:
    """Palm pose (x, y, z, yaw, curl) at fraction ``t``; the person stands across the table (fingers toward -x)."""
    entry = np.array([0.98, grab_at[1] * 0.6, 0.32])
    over = np.array([grab_at[0] + 0.02, grab_at[1], grab_at[2] + top + 0.02])
    dest = np.array([script.dest[0] + 0.02, script.dest[1], top + 0.03])
    if t <= HAND_REACH:
        p, curl = entry + (over - entry) * smoothstep(t / HAND_REACH), 0.2
    elif t <= HAND_CARRY:
        u = smoothstep((t - HAND_REACH) / (HAND_CARRY - HAND_REACH))
        p = over + (dest - over) * u + np.array([0.0, 0.0, 0.06 * math.sin(math.pi * u)])
        curl = 1.0
    else:
        p, curl = dest + (entry - dest) * smoothstep((t - HAND_CARRY) / (HAND_LEAVE - HAND_CARRY)), 0.2
    return np.array([p[0], p[1], p[2], math.pi, curl]), curl


def rollout(task: TaskInstance, plan: Plan) -> list[WorldState]:
    """States for every frame of ``plan`` (also fills each segment's ``start`` / ``end``)."""
    world = World(task.specs, task.layout)
    states = [world.state.copy()]
    command = HOME.copy()
    for seg in plan.segments:
        seg.start = len(states)
        begin = command.copy()
        begin[:, 4] = world.state.arms[:, 4]  # fingers blocked by a held object start opening from where they are
        grab_at = None
        for k in range(1, seg.frames + 1):
            t = k / seg.frames
            if seg.arm is not None and seg.target is not None:
                command[seg.arm] = interpolate(begin[seg.arm], seg.target, smoothstep(t))
            if seg.hand is not None:
                obj = seg.hand.obj
                if grab_at is None:
                    grab_at = world.state.objects[obj, :3].copy()
                pose, _ = hand_pose(seg.hand, t, grab_at, task.specs[obj].top)
                world.set_hand(pose)
                if t >= HAND_REACH and world.state.holder[obj] != 2 and k - 1 < seg.frames * HAND_REACH + 1:
                    world.hand_grab(obj)
                if t >= HAND_CARRY and world.state.holder[obj] == 2:
                    world.hand_release(obj)
                if k == seg.frames:
                    world.set_hand(None)
            world.step(command)
            states.append(world.state.copy())
        seg.end = len(states) - 1
    return states
