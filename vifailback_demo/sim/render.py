"""Draw a :class:`WorldState` as the head-camera image (RGB uint8).

Per episode the static layers are built once: the wall, the textured table warped into perspective, and a
darkened copy of both for shadows. Per frame the renderer copies the background, stamps every shadow into one mask
(copied from the dark layer in a single vector operation), then draws objects far-to-near, containers in two
parts around their contents, both arms (pillar, upper arm, forearm, wrist and fingers from a two-link inverse
kinematics) with what they hold, and the human hand when one is in the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vifailback_demo.sim import draw3d as d3
from vifailback_demo.sim.camera import Camera
from vifailback_demo.sim.scene import BOX_KINDS, ObjectSpec
from vifailback_demo.sim.world import HAND, LEFT, RIGHT, SHOULDERS, WorldState

UPPER_ARM, FOREARM, WRIST_DROP = 0.30, 0.28, 0.10
ARM_RGB, JOINT_RGB, HOUSING_RGB, FINGER_RGB = (48, 50, 56), (205, 208, 212), (70, 72, 80), (30, 30, 34)
SKIN_RGB, SLEEVE_RGB = (226, 176, 140), (60, 90, 150)
TABLE_LOOKS = {"wood": (182, 140, 96), "white": (222, 220, 212), "grey": (140, 142, 146), "dark": (68, 70, 76)}
WALL_LOOKS = ((208, 206, 198), (188, 196, 204), (214, 204, 188))


@dataclass(frozen=True)
class Look:
    """Episode-wide appearance: table surface, wall colour, light."""

    table: str
    wall: tuple[int, int, int]
    light: d3.Light
    seed: int


def random_look(rng: np.random.Generator) -> Look:
    # Toward the light: mostly overhead and a little behind the camera, so shadows fall short and away.
    direction = np.array([rng.uniform(-0.45, 0.05), rng.uniform(-0.45, 0.45), 1.0])
    direction /= np.linalg.norm(direction)
    tint = tuple(float(v) for v in rng.uniform(0.9, 1.06, 3))
    light = d3.Light(
        direction, ambient=float(rng.uniform(0.4, 0.55)), diffuse=float(rng.uniform(0.45, 0.65)), tint=tint
    )
    table = str(rng.choice(list(TABLE_LOOKS)))
    wall = WALL_LOOKS[int(rng.integers(len(WALL_LOOKS)))]
    return Look(table, wall, light, int(rng.integers(2**31)))


def _table_texture(look: Look, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(look.seed)
    base = np.array(TABLE_LOOKS[look.table], dtype=np.float32)
    grain = cv2.resize(rng.normal(0, 1, (4, 48)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.2)
    amount = 0.07 if look.table == "wood" else 0.025
    shade = 1.0 + amount * grain + 0.02 * fine
    tex = base[None, None, :] * shade[..., None] * np.array(look.light.tint, dtype=np.float32)
    return np.clip(tex, 0, 255).astype(np.uint8)


def arm_chain(arm: int, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Base, shoulder, elbow and wrist points of an arm whose fingertip is at ``pose`` (two-link IK, elbow up)."""
    shoulder = SHOULDERS[arm]
    base = shoulder * np.array([1.0, 1.0, 0.0]) - np.array([0.04, 0.0, 0.0])
    wrist = pose[:3] + np.array([0.0, 0.0, WRIST_DROP])
    v = wrist - shoulder
    d = float(np.clip(np.linalg.norm(v), 1e-6, UPPER_ARM + FOREARM - 1e-6))
    u = v / max(np.linalg.norm(v), 1e-6)
    horiz = np.array([u[0], u[1], 0.0])
    # side = horiz x z, perp = side x u (written out: np.cross is slow for single vectors)
    side = np.array([horiz[1], -horiz[0], 0.0]) if abs(horiz[0]) + abs(horiz[1]) > 1e-6 else np.array([0.0, 1.0, 0.0])
    perp = np.array([side[1] * u[2] - side[2] * u[1], side[2] * u[0] - side[0] * u[2], side[0] * u[1] - side[1] * u[0]])
    perp /= np.linalg.norm(perp) + 1e-12
    if perp[2] < 0:
        perp = -perp
    a = (UPPER_ARM**2 - FOREARM**2 + d**2) / (2 * d)
    h = math.sqrt(max(UPPER_ARM**2 - a**2, 0.0))
    elbow = shoulder + a * u + h * perp
    return base, shoulder, elbow, wrist


class SceneRenderer:
    """Renders the states of one episode (one scene, camera and look) at the camera's image size."""

    def __init__(self, camera: Camera, look: Look, specs: list[ObjectSpec]) -> None:
        self.cam, self.look, self.light, self.specs = camera, look, look.light, specs
        self.background = self._background()
        self.dark = (self.background.astype(np.uint16) * 150 // 256).astype(np.uint8)
        self._key: tuple | None = None
        self._static = self._static_dark = self.background

    def _background(self) -> np.ndarray:
        w, h, cam = self.cam.width, self.cam.height, self.cam
        img = np.empty((h, w, 3), np.uint8)
        ramp = np.linspace(1.05, 0.82, h, dtype=np.float32)[:, None, None]
        img[:] = np.clip(
            np.array(self.look.wall, np.float32)[None, None] * ramp * np.array(self.light.tint, np.float32), 0, 255
        )
        corners3 = np.array([[-0.1, 0.75, 0.0], [-0.1, -0.75, 0.0], [0.9, -0.75, 0.0], [0.9, 0.75, 0.0]])
        quad = cam.project(corners3).astype(np.float32)
        tex = _table_texture(self.look)
        s = tex.shape[0] - 1
        m = cv2.getPerspectiveTransform(np.float32([[0, s], [s, s], [s, 0], [0, 0]]), quad)
        warped = cv2.warpPerspective(tex, m, (w, h), flags=cv2.INTER_LINEAR)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 255)
        np.copyto(img, warped, where=mask[..., None] > 0)
        far = cam.project(np.array([[0.9, -0.75, 0.0], [0.9, 0.75, 0.0]]))
        d3.line(img, far[0], far[1], (90, 84, 78), max(2, w // 160))
        return img

    # -- per frame ---------------------------------------------------------------------------------------------

    def render(self, state: WorldState) -> np.ndarray:
        free = state.holder < 0
        key = (state.objects[free].tobytes(), state.support.tobytes(), state.holder.tobytes())
        if key != self._key:  # objects moved: rebuild the static layer (most frames only the arms move)
            self._static = self._static_layer(state)
            self._static_dark = (self._static.astype(np.uint16) * 150 // 256).astype(np.uint8)
            self._key = key
        frame = self._static.copy()
        mask = np.zeros(frame.shape[:2], np.uint8)
        self._moving_shadows(mask, state)
        cv2.copyTo(self._static_dark, mask, frame)
        held = [int(i) for i in np.flatnonzero(state.holder >= 0)]
        for arm in sorted((LEFT, RIGHT), key=lambda a: -self.cam.depth(state.arms[a, :3])):
            self._draw_arm(frame, state, arm, [i for i in held if state.holder[i] == arm])
        if state.hand[0] > 0:
            self._draw_hand(frame, state, [i for i in held if state.holder[i] == HAND])
        return frame

    def _static_layer(self, state: WorldState) -> np.ndarray:
        """Background, table shadows of the objects that are not held, and those objects, far to near."""
        frame = self.background.copy()
        mask = np.zeros(frame.shape[:2], np.uint8)
        for i in range(len(self.specs)):
            if state.support[i] < 0 and state.holder[i] < 0:  # on or in something: that catches its shadow
                d3.fill(mask, d3.shadow_polygon(self.cam, self.light, self._object_points(state, i)), 255, aa=False)
        cv2.copyTo(self.dark, mask, frame)
        held = {int(i) for i in np.flatnonzero(state.holder >= 0)}
        contents: dict[int, list[int]] = {}
        for i, sup in enumerate(state.support):
            if sup >= 0 and i not in held and self.specs[sup].container:
                contents.setdefault(int(sup), []).append(i)
        inside = {i for items in contents.values() for i in items}
        order = sorted(
            (i for i in range(len(self.specs)) if i not in held and i not in inside),
            key=lambda i: -self._depth(state, i),
        )
        for i in order:
            self._draw_object(frame, state, i, contents)
        return frame

    def _depth(self, state: WorldState, i: int) -> float:
        return self.cam.depth(state.objects[i, :3])

    def _object_points(self, state: WorldState, i: int) -> np.ndarray:
        spec, (x, y, z, yaw) = self.specs[i], state.objects[i]
        if spec.kind in BOX_KINDS:
            return d3.box_corners(np.array([x, y, z]), spec.size, yaw)
        bottom, top = d3.rings((x, y, z), spec.size[0], spec.size[1], spec.top, yaw, 8)
        return np.concatenate([bottom, top])

    def _moving_shadows(self, mask: np.ndarray, state: WorldState) -> None:
        """Shadows of the arms, what they hold and the hand; they also darken objects they pass over."""
        for i in np.flatnonzero(state.holder >= 0):
            d3.fill(mask, d3.shadow_polygon(self.cam, self.light, self._object_points(state, i)), 255, aa=False)
        for arm in (LEFT, RIGHT):
            _, shoulder, elbow, wrist = arm_chain(arm, state.arms[arm])
            for p0, p1, r in ((shoulder, elbow, 0.017), (elbow, wrist, 0.015), (wrist, state.arms[arm, :3], 0.03)):
                d3.shadow_limb(mask, self.cam, self.light, p0, p1, r)
        if state.hand[0] > 0:
            palm = state.hand[1:4]
            d3.shadow_limb(mask, self.cam, self.light, self._elbow_of_hand(state), palm, 0.04)

    def _draw_object(self, frame: np.ndarray, state: WorldState, i: int, contents: dict[int, list[int]]) -> None:
        spec, (x, y, z, yaw) = self.specs[i], state.objects[i]
        base = np.array([x, y, z])
        if spec.kind in BOX_KINDS:
            d3.draw_box(frame, self.cam, self.light, base, spec.size, yaw, spec.rgb)
            if spec.kind == "marker":
                cap = base + np.array([math.cos(yaw), math.sin(yaw), 0.0]) * spec.size[0] * 0.38
                d3.draw_box(
                    frame,
                    self.cam,
                    self.light,
                    cap,
                    (spec.size[0] * 0.24, spec.size[1] * 1.1, spec.size[2] * 1.1),
                    yaw,
                    (200, 40, 40),
                )
            return
        if spec.container:
            d3.draw_round(frame, self.cam, self.light, base, spec.size, yaw, spec.rgb, spec.sides, part="inside")
            for j in sorted(contents.get(i, []), key=lambda j: -self._depth(state, j)):
                self._draw_object(frame, state, j, contents)
            d3.draw_round(frame, self.cam, self.light, base, spec.size, yaw, spec.rgb, spec.sides, part="front")
            if spec.kind == "basket":
                self._weave(frame, base, spec, yaw)
            return
        d3.draw_round(frame, self.cam, self.light, base, spec.size, yaw, spec.rgb, spec.sides, part="all")
        if spec.kind == "lid":
            knob = base + np.array([0.0, 0.0, spec.size[2]])
            d3.draw_round(frame, self.cam, self.light, knob, (0.012, 0.011, 0.022), yaw, (40, 40, 44), 10, part="all")

    def _weave(self, frame: np.ndarray, base: np.ndarray, spec: ObjectSpec, yaw: float) -> None:
        """Horizontal bands on the camera-facing basket walls so it reads as woven."""
        color = self.light.shade(spec.rgb, None, 0.7)
        for k in range(1, 4):
            zz = spec.size[2] * k / 4
            r = spec.size[0] + (spec.size[1] - spec.size[0]) * k / 4
            _, ring = d3.rings(base, r, r, zz, yaw, 4)
            pix = self.cam.project(ring)
            for a in range(4):
                b = (a + 1) % 4
                mid = (ring[a] + ring[b]) / 2
                if (mid[:2] - base[:2]) @ (self.cam.position[:2] - mid[:2]) > 0:
                    d3.line(frame, pix[a], pix[b], color, max(1, self.cam.width // 400))

    def _draw_arm(self, frame: np.ndarray, state: WorldState, arm: int, held: list[int]) -> None:
        pose = state.arms[arm]
        base, shoulder, elbow, wrist = arm_chain(arm, pose)
        light, cam = self.light, self.cam
        d3.limb(frame, cam, base, shoulder, 0.03, ARM_RGB, light)
        d3.limb(frame, cam, shoulder, elbow, 0.017, ARM_RGB, light)
        d3.disc(frame, cam.project_point(shoulder), 0.022 * cam.pixels_per_metre(shoulder), light.shade(JOINT_RGB))
        d3.limb(frame, cam, elbow, wrist, 0.015, ARM_RGB, light)
        d3.disc(frame, cam.project_point(elbow), 0.019 * cam.pixels_per_metre(elbow), light.shade(JOINT_RGB))
        yaw, gap = float(pose[3]), float(pose[4])
        lateral = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
        tip = pose[:3]
        fingers = [tip + lateral * s * (gap / 2 + 0.006) for s in (1, -1)]
        fingers.sort(key=lambda p: -cam.depth(p))
        up = np.array([0.0, 0.0, 0.056])
        # Fingers as thin links (far one, then what is held, then the wrist housing and the near finger).
        d3.limb(frame, cam, fingers[0], fingers[0] + up, 0.008, FINGER_RGB, light)
        for i in held:
            self._draw_object(frame, state, i, {})
        d3.draw_box(frame, cam, light, wrist - np.array([0.0, 0.0, 0.045]), (0.038, 0.085, 0.045), yaw, HOUSING_RGB)
        d3.limb(frame, cam, fingers[1], fingers[1] + up, 0.008, FINGER_RGB, light)

    def _elbow_of_hand(self, state: WorldState) -> np.ndarray:
        yaw = state.hand[4]
        back = np.array([-math.cos(yaw), -math.sin(yaw), 0.0])
        return state.hand[1:4] + back * 0.30 + np.array([0.0, 0.0, 0.16])

    def _draw_hand(self, frame: np.ndarray, state: WorldState, held: list[int]) -> None:
        cam, light = self.cam, self.light
        palm = state.hand[1:4]
        yaw, grab = float(state.hand[4]), float(state.hand[5])
        fwd = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        side = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
        elbow = self._elbow_of_hand(state)
        wrist = palm - fwd * 0.05 + np.array([0.0, 0.0, 0.02])
        d3.limb(frame, cam, elbow, wrist + (elbow - wrist) * 0.35, 0.034, SLEEVE_RGB, light)
        d3.limb(frame, cam, wrist + (elbow - wrist) * 0.4, wrist, 0.025, SKIN_RGB, light)
        for i in held:
            self._draw_object(frame, state, i, {})
        d3.draw_box(
            frame,
            cam,
            light,
            palm - fwd * 0.02 + np.array([0, 0, 0.005]),
            (0.085, 0.08, 0.025),
            yaw,
            SKIN_RGB,
            edge=False,
        )
        curl = np.array([0.0, 0.0, -0.03 * grab])
        for k, off in enumerate((-0.03, -0.01, 0.01, 0.03)):
            root = palm + fwd * 0.02 + side * off + np.array([0, 0, 0.015])
            d3.limb(frame, cam, root, root + fwd * (0.065 - 0.008 * abs(k - 1.5)) + curl, 0.008, SKIN_RGB, light)
        thumb = palm - fwd * 0.01 + side * 0.045 + np.array([0, 0, 0.015])
        d3.limb(frame, cam, thumb, thumb + fwd * 0.035 + side * 0.02 + curl, 0.009, SKIN_RGB, light)
