"""Draw the 7 ViFailback symbols onto an image (OpenCV inside; RGB uint8 numpy in and out).

Like supervision's annotators: style goes in the constructor, data in the call, and the call returns a new image
(the input is never modified). The look follows the official renderer (white with black outline, zebra arrows in
the axis colours, arrow width and head from the image size), with two departures recorded in
``docs/design-notes.md``: every size scales with the image (the official rotating arrow and crosshair have fixed
pixel sizes), and the prohibition and rewind icons are vector shapes instead of emoji pictures.

Colours are given to OpenCV in RGB order because the arrays are RGB; no BGR conversion is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    Symbol,
    to_pixels,
)
from vifailback_demo.errors import ImageError

RGB = tuple[int, int, int]
AXIS_RGB: dict[str, RGB] = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
_AA = cv2.LINE_AA
# OpenCV's fixed-point drawing overflows on huge coordinates; segments are clipped to the image plus this margin.
_MARGIN_FACTOR = 2.0


@dataclass(frozen=True)
class SymbolStyle:
    """Sizes are fractions of the longer image side, with pixel minimums (the official renderer's numbers at 640 px)."""

    fill: RGB = (255, 255, 255)
    outline: RGB = (0, 0, 0)
    prohibit: RGB = (220, 30, 40)
    rewind_box: RGB = (40, 110, 220)
    scale: float = 1.0  # multiplies every size below
    arrow_width: tuple[float, int] = (0.008, 4)
    arrow_head_length: tuple[float, int] = (0.025, 15)
    arrow_head_half_width: tuple[float, int] = (0.015, 10)
    zebra_segment: tuple[float, int] = (0.0156, 10)
    rotate_radius: tuple[float, int] = (0.047, 18)
    crosshair_size: tuple[float, int] = (0.047, 18)
    icon_size: tuple[float, int] = (0.09, 24)
    text_height: tuple[float, int] = (0.028, 10)
    dash_length: tuple[float, int] = (0.0156, 6)


class SymbolRenderer:
    """``SymbolRenderer(style).render(image, symbols, normalized=True) -> new image``."""

    def __init__(self, style: SymbolStyle | None = None) -> None:
        self.style = style or SymbolStyle()

    # -- public ---------------------------------------------------------------------------------------------

    def render(self, image: np.ndarray, symbols: Sequence[Symbol], *, normalized: bool = True) -> np.ndarray:
        """Return a copy of ``image`` (H x W x 3 RGB uint8) with ``symbols`` drawn.

        ``normalized=True`` reads coordinates as the model's 0-1000 space, False as pixels. Symbols partly or
        wholly outside the image are clipped, never an error.
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ImageError(f"expected an RGB uint8 image of shape (H, W, 3), got {got}")
        canvas = np.array(image, copy=True, order="C")
        h, w = canvas.shape[:2]
        ctx = _Context(canvas, self.style, w, h)
        for symbol in symbols:
            if normalized:
                symbol = to_pixels(symbol, w, h)
            draw = _DRAWERS.get(type(symbol))
            if draw is None:
                raise ImageError(f"cannot draw {type(symbol).__name__}: expected one of the 7 symbol types")
            draw(ctx, symbol)
        return canvas


class _Context:
    """Per-call sizes derived from the image (kept out of the renderer so it stays stateless and thread-safe)."""

    def __init__(self, canvas: np.ndarray, style: SymbolStyle, w: int, h: int) -> None:
        self.canvas, self.style, self.w, self.h = canvas, style, w, h
        base = max(w, h)

        def size(spec: tuple[float, int]) -> int:
            return max(1, int(round(max(spec[1], spec[0] * base) * style.scale)))

        self.arrow_width = size(style.arrow_width)
        self.head_length = size(style.arrow_head_length)
        self.head_half_width = size(style.arrow_head_half_width)
        self.segment = size(style.zebra_segment)
        self.radius = size(style.rotate_radius)
        self.cross = size(style.crosshair_size)
        self.icon = size(style.icon_size)
        self.text_height = size(style.text_height)
        self.dash = size(style.dash_length)
        self.line = max(2, self.arrow_width // 2)  # thin strokes (crosshairs, arcs)
        self.outline = self.line + 2
        m = _MARGIN_FACTOR * base
        self.box = (-m, -m, w + m, h + m)

    def ipt(self, p: Sequence[float]) -> tuple[int, int]:
        return (int(round(p[0])), int(round(p[1])))

    def visible(self, p: Sequence[float], reach: float) -> bool:
        """Could something of radius ``reach`` around ``p`` touch the image?"""
        return -reach <= p[0] <= self.w + reach and -reach <= p[1] <= self.h + reach

    def clip(self, a: Sequence[float], b: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Liang-Barsky clip of segment a-b to the drawing box; None if nothing remains."""
        x0, y0, x1, y1 = self.box
        dx, dy = b[0] - a[0], b[1] - a[1]
        t0, t1 = 0.0, 1.0
        for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
            if p == 0:
                if q < 0:
                    return None
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return None
        return (a[0] + t0 * dx, a[1] + t0 * dy), (a[0] + t1 * dx, a[1] + t1 * dy)

    def stroke(self, a, b, color: RGB, thickness: int) -> None:
        seg = self.clip(a, b)
        if seg is not None:
            cv2.line(self.canvas, self.ipt(seg[0]), self.ipt(seg[1]), color, thickness, _AA)

    def outlined_stroke(self, a, b) -> None:
        self.stroke(a, b, self.style.outline, self.outline)
        self.stroke(a, b, self.style.fill, self.line)


# -- one function per symbol ----------------------------------------------------------------------------------


def _draw_straight_arrow(ctx: _Context, s: StraightArrow) -> None:
    (sx, sy), (ex, ey) = s.start, s.end
    length = math.hypot(ex - sx, ey - sy)
    if length < 1e-6:
        return
    ux, uy = (ex - sx) / length, (ey - sy) / length
    head = min(ctx.head_length, length)  # short arrows still show a head instead of vanishing
    half = ctx.head_half_width * head / ctx.head_length
    body_end = (ex - ux * head * 0.5, ey - uy * head * 0.5)
    colors = [AXIS_RGB.get(c, ctx.style.fill) for c in s.colors] or [ctx.style.fill]
    ctx.stroke((sx, sy), body_end, ctx.style.outline, ctx.arrow_width + 2)
    body = max(0.0, length - head * 0.5)
    seg = float(ctx.segment)
    # Zebra: consecutive segments cycle through the colours in sentence order. Only segments near the image are
    # drawn, so an arrow running far off-screen costs no more than one crossing it.
    n = int(math.ceil(body / seg))
    first, last = 0, n
    if not (ctx.visible(s.start, 0) and ctx.visible(body_end, 0)):
        clipped = ctx.clip((sx, sy), body_end)
        if clipped is None:
            first = last = 0
        else:
            first = max(0, int(math.hypot(clipped[0][0] - sx, clipped[0][1] - sy) / seg) - 1)
            last = min(n, int(math.hypot(clipped[1][0] - sx, clipped[1][1] - sy) / seg) + 2)
    for i in range(first, last):
        a = (sx + ux * seg * i, sy + uy * seg * i)
        t = min(seg * (i + 1), body)
        b = (sx + ux * t, sy + uy * t)
        ctx.stroke(a, b, colors[i % len(colors)], ctx.arrow_width)
    if ctx.visible((ex, ey), head * 2):
        base = (ex - ux * head, ey - uy * head)
        tri = np.array(
            [
                ctx.ipt((ex, ey)),
                ctx.ipt((base[0] - uy * half, base[1] + ux * half)),
                ctx.ipt((base[0] + uy * half, base[1] - ux * half)),
            ],
            dtype=np.int32,
        )
        head_color = colors[max(0, n - 1) % len(colors)]
        cv2.fillPoly(ctx.canvas, [tri], head_color, _AA)
        cv2.polylines(ctx.canvas, [tri], True, ctx.style.outline, max(1, ctx.line // 2), _AA)


def _draw_rotating_arrow(ctx: _Context, s: RotatingArrow) -> None:
    r = ctx.radius
    if not ctx.visible(s.center, r * 2):
        return
    c = ctx.ipt(s.center)
    clockwise = s.direction == "clockwise"
    # OpenCV angles grow clockwise on screen (y points down). A 270-degree arc with the head at its end:
    # clockwise runs 0 -> 270 (head at the top, moving right); counter-clockwise 90 -> 360 (head at the bottom,
    # moving right, i.e. counter-clockwise).
    start, end = (0, 270) if clockwise else (90, 360)
    for color, t in ((ctx.style.outline, ctx.outline), (ctx.style.fill, ctx.line)):
        cv2.ellipse(ctx.canvas, c, (r, r), 0, start, end, color, t, _AA)
    head_angle = math.radians(end if clockwise else start)
    tip = (c[0] + r * math.cos(head_angle), c[1] + r * math.sin(head_angle))
    sign = 1 if clockwise else -1
    tangent = (-math.sin(head_angle) * sign, math.cos(head_angle) * sign)
    normal = (-tangent[1], tangent[0])
    size = max(6.0, r * 0.45)
    front = (tip[0] + tangent[0] * size * 0.6, tip[1] + tangent[1] * size * 0.6)
    back = (tip[0] - tangent[0] * size * 0.4, tip[1] - tangent[1] * size * 0.4)
    tri = np.array(
        [
            ctx.ipt(front),
            ctx.ipt((back[0] + normal[0] * size * 0.5, back[1] + normal[1] * size * 0.5)),
            ctx.ipt((back[0] - normal[0] * size * 0.5, back[1] - normal[1] * size * 0.5)),
        ],
        dtype=np.int32,
    )
    cv2.fillPoly(ctx.canvas, [tri], ctx.style.fill, _AA)
    cv2.polylines(ctx.canvas, [tri], True, ctx.style.outline, 2, _AA)


def _crosshair(ctx: _Context, p: Sequence[float]) -> None:
    half, gap = ctx.cross / 2.0, ctx.cross * 0.2
    if not ctx.visible(p, half + ctx.outline):
        return
    x, y = p
    for a, b in (
        ((x - half, y), (x - gap, y)),
        ((x + gap, y), (x + half, y)),
        ((x, y - half), (x, y - gap)),
        ((x, y + gap), (x, y + half)),
    ):
        ctx.stroke(a, b, ctx.style.outline, ctx.outline)
    for a, b in (
        ((x - half, y), (x - gap, y)),
        ((x + gap, y), (x + half, y)),
        ((x, y - half), (x, y - gap)),
        ((x, y + gap), (x, y + half)),
    ):
        ctx.stroke(a, b, ctx.style.fill, ctx.line)


def _draw_crosshair(ctx: _Context, s: Crosshair) -> None:
    _crosshair(ctx, s.pos)


def _draw_dual_crosshair(ctx: _Context, s: DualCrosshair) -> None:
    (x1, y1), (x2, y2) = s.p1, s.p2
    dist = math.hypot(x2 - x1, y2 - y1)
    half = ctx.cross / 2.0
    if dist > 2 * half:
        ux, uy = (x2 - x1) / dist, (y2 - y1) / dist
        clipped = ctx.clip((x1 + ux * half, y1 + uy * half), (x2 - ux * half, y2 - uy * half))
        if clipped is not None:
            (ax, ay), (bx, by) = clipped
            span = math.hypot(bx - ax, by - ay)
            step = float(ctx.dash)
            cap = ctx.outline / 2.0  # round caps lengthen each dash at both ends; keep the gaps visible
            i = 0
            while i * step < span:
                t0, t1 = i * step + cap, min((i + 1) * step, span) - cap
                if t1 > t0:
                    ctx.outlined_stroke((ax + ux * t0, ay + uy * t0), (ax + ux * t1, ay + uy * t1))
                i += 2
    _crosshair(ctx, s.p1)
    _crosshair(ctx, s.p2)


def _draw_state(ctx: _Context, s: GripperState) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    # getTextSize at scale 1 gives the cap height of this font; scale so the text is ``text_height`` tall.
    (_, h1), _ = cv2.getTextSize("ON", font, 1.0, 1)
    scale = ctx.text_height / max(1, h1)
    thick = max(2, int(round(ctx.text_height / 8)))
    (tw, th), _ = cv2.getTextSize(s.text, font, scale, thick)
    if not ctx.visible(s.pos, tw + th):
        return
    origin = (int(round(s.pos[0] - tw / 2)), int(round(s.pos[1] + th / 2)))
    # OpenCV 5 caps glyph stroke thickness, so a thicker black pass no longer outlines the text: stamp the black
    # text at offsets around the origin instead, then the white text on top.
    r = max(1, thick)
    for dx, dy in ((-r, 0), (r, 0), (0, -r), (0, r), (-r, -r), (r, r), (-r, r), (r, -r)):
        cv2.putText(ctx.canvas, s.text, (origin[0] + dx, origin[1] + dy), font, scale, ctx.style.outline, thick, _AA)
    cv2.putText(ctx.canvas, s.text, origin, font, scale, ctx.style.fill, thick, _AA)


def _draw_lock(ctx: _Context, s: Lock) -> None:
    """Prohibition sign (the official emoji): red ring with a diagonal bar, outlined in black and white."""
    r = ctx.icon / 2.0
    if not ctx.visible(s.pos, r + 4):
        return
    c = ctx.ipt(s.pos)
    ring = max(3, int(round(r * 0.2)))
    ri = int(round(r))
    inner = ri - ring
    cv2.circle(ctx.canvas, c, ri, ctx.style.outline, ring + 4, _AA)
    cv2.circle(ctx.canvas, c, ri, ctx.style.prohibit, ring, _AA)
    d = inner * math.sqrt(0.5)
    a, b = (c[0] - d, c[1] - d), (c[0] + d, c[1] + d)
    ctx.stroke(a, b, ctx.style.outline, ring + 4)
    ctx.stroke(a, b, ctx.style.prohibit, ring)


def _draw_rewind(ctx: _Context, s: Rewind) -> None:
    """Fast-reverse button: a rounded blue square with two white left-pointing triangles."""
    half = ctx.icon / 2.0
    if not ctx.visible(s.pos, half + 4):
        return
    x, y = s.pos
    box = np.array(
        [
            ctx.ipt((x - half, y - half)),
            ctx.ipt((x + half, y - half)),
            ctx.ipt((x + half, y + half)),
            ctx.ipt((x - half, y + half)),
        ],
        dtype=np.int32,
    )
    cv2.fillPoly(ctx.canvas, [box], ctx.style.rewind_box, _AA)
    cv2.polylines(ctx.canvas, [box], True, ctx.style.outline, max(2, ctx.line), _AA)
    th, tw = half * 0.55, half * 0.5
    for shift in (-tw * 0.5, tw * 0.5):
        tip_x = x + shift - tw * 0.5
        tri = np.array(
            [ctx.ipt((tip_x, y)), ctx.ipt((tip_x + tw, y - th)), ctx.ipt((tip_x + tw, y + th))], dtype=np.int32
        )
        cv2.fillPoly(ctx.canvas, [tri], ctx.style.fill, _AA)
        cv2.polylines(ctx.canvas, [tri], True, ctx.style.outline, 1, _AA)


_DRAWERS = {
    StraightArrow: _draw_straight_arrow,
    RotatingArrow: _draw_rotating_arrow,
    Crosshair: _draw_crosshair,
    DualCrosshair: _draw_dual_crosshair,
    GripperState: _draw_state,
    Lock: _draw_lock,
    Rewind: _draw_rewind,
}


def render_symbols(image: np.ndarray, symbols: Sequence[Symbol], *, normalized: bool = True) -> np.ndarray:
    """Convenience: draw with the default style."""
    return SymbolRenderer().render(image, symbols, normalized=normalized)
