"""Renderer: golden images per symbol, geometric checks, clipping, scale-awareness, input never modified.

Regenerate the golden PNGs after an intended change of look with ``VIFAILBACK_UPDATE_GOLDEN=1 pytest tests/render``
and look at them before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
)
from vifailback_demo.errors import ImageError
from vifailback_demo.imageio import read_image_rgb, write_image_rgb
from vifailback_demo.render import SymbolRenderer, SymbolStyle

GOLDEN = Path(__file__).resolve().parent / "golden"
W, H = 320, 240
GREY = 90

CASES = {
    "straight_arrow": StraightArrow((60, 180), (260, 60), ("green", "red")),
    "rotating_arrow_cw": RotatingArrow((160, 120), "clockwise"),
    "rotating_arrow_ccw": RotatingArrow((160, 120), "counter-clockwise"),
    "crosshair": Crosshair((160, 120)),
    "dual_crosshair": DualCrosshair((80, 120), (240, 120)),
    "state_on": GripperState((160, 120), "ON"),
    "state_off": GripperState((160, 120), "OFF"),
    "lock": Lock((160, 120)),
    "rewind": Rewind((160, 120)),
}


def blank(w: int = W, h: int = H) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def render(symbol, w: int = W, h: int = H) -> np.ndarray:
    return SymbolRenderer().render(blank(w, h), [symbol], normalized=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_image(name):
    out = render(CASES[name])
    path = GOLDEN / f"{name}.png"
    if os.environ.get("VIFAILBACK_UPDATE_GOLDEN") == "1":
        write_image_rgb(path, out)
    golden = read_image_rgb(path)
    assert golden.shape == out.shape
    diff = np.abs(golden.astype(int) - out.astype(int))
    # Anti-aliasing may differ by a level or two between OpenCV builds; shapes may not.
    assert (diff.max(axis=2) > 40).mean() < 0.002, f"{name} differs from {path}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_input_never_modified_and_something_drawn(name):
    image = blank()
    before = image.copy()
    out = SymbolRenderer().render(image, [CASES[name]], normalized=False)
    assert np.array_equal(image, before)
    assert out is not image
    assert changed(before, out).sum() > 30


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_straight_arrow_geometry_and_zebra_colours():
    s = CASES["straight_arrow"]
    out = render(s)
    mask = changed(blank(), out)
    assert mask[60, 258] or mask[61, 257] or mask[62, 256]  # the tip
    assert mask[180, 60]  # the start
    x0, y0, x1, y1 = _bbox(mask)
    assert x0 >= 50 and x1 <= 270 and y0 >= 50 and y1 <= 190  # nothing far from the arrow
    assert not mask[20, 300] and not mask[220, 20]
    # walk along the body: the first segment is green (first colour), the second red
    d = np.array([200.0, -120.0]) / np.hypot(200, 120)
    seg = max(10, int(round(0.0156 * W)))
    p1 = np.round(np.array([60, 180]) + d * seg * 0.5).astype(int)
    p2 = np.round(np.array([60, 180]) + d * seg * 1.5).astype(int)
    c1, c2 = out[p1[1], p1[0]].astype(int), out[p2[1], p2[0]].astype(int)
    assert c1[1] > 200 and c1[0] < 80, f"first segment not green: {c1}"
    assert c2[0] > 200 and c2[1] < 80, f"second segment not red: {c2}"


def test_crosshair_has_a_gap_at_the_centre():
    out = render(CASES["crosshair"])
    mask = changed(blank(), out)
    assert not mask[120, 160]  # the gap
    size = max(18, int(round(0.047 * W)))
    arm = int(size * 0.35)
    assert mask[120, 160 - arm] and mask[120, 160 + arm] and mask[120 - arm, 160] and mask[120 + arm, 160]
    assert tuple(out[120, 160 + arm]) == (255, 255, 255)
    x0, y0, x1, y1 = _bbox(mask)
    assert x1 - x0 <= size + 8 and y1 - y0 <= size + 8


def test_dual_crosshair_dashes_between_the_two():
    out = render(CASES["dual_crosshair"])
    mask = changed(blank(), out)
    assert not mask[120, 80] and not mask[120, 240]  # both centres are gaps
    white = np.all(out[120, 100:220] == 255, axis=1)
    assert 0.2 < white.mean() < 0.7  # dashed: white dashes with gaps, not solid, not empty


@pytest.mark.parametrize("direction", ["clockwise", "counter-clockwise"])
def test_rotating_arrow_open_quadrant_and_head_show_direction(direction):
    r = max(18, int(round(0.047 * W)))
    out = render(RotatingArrow((160, 120), direction))
    mask = changed(blank(), out)
    d = int(r * 0.7071)
    top_right, bottom_right = mask[120 - d, 160 + d], mask[120 + d, 160 + d]
    # 270-degree arcs: clockwise leaves the top-right quadrant open and ends at the top with its head;
    # counter-clockwise leaves the bottom-right open and ends at the bottom.
    assert mask[120, 160 - r] and mask[120, 160 + r]
    if direction == "clockwise":
        assert bottom_right and not top_right
        assert mask[120 - r, 160 + int(r * 0.2)]  # head at the top, pointing right
    else:
        assert top_right and not bottom_right
        assert mask[120 + r, 160 + int(r * 0.2)]  # head at the bottom, pointing right


def test_state_text_is_white_with_black_outline():
    for text in ("ON", "OFF"):
        out = render(GripperState((160, 120), text))
        region = out[100:140, 120:200].reshape(-1, 3)
        assert (region == 255).all(axis=1).sum() > 8
        assert (region < 40).all(axis=1).sum() > 20


def test_icons_are_vector_shapes_with_their_colours():
    lock = render(CASES["lock"])
    style = SymbolStyle()
    reds = np.all(np.abs(lock.astype(int) - style.prohibit) < 30, axis=2)
    assert reds[100:140, 140:180].sum() > 50  # the diagonal bar crosses the centre
    rew = render(CASES["rewind"])
    blues = np.all(np.abs(rew.astype(int) - style.rewind_box) < 30, axis=2)
    assert blues.sum() > 100
    assert tuple(rew[120, 157]) == (255, 255, 255)  # inside the left triangle


def test_sizes_scale_with_the_image():
    small = changed(blank(320, 240), render(RotatingArrow((160, 120)), 320, 240))
    big = changed(blank(1920, 1080), render(RotatingArrow((960, 540)), 1920, 1080))
    s_w = _bbox(small)[2] - _bbox(small)[0]
    b_w = _bbox(big)[2] - _bbox(big)[0]
    assert b_w > 2.5 * s_w
    lock_big = changed(blank(1920, 1080), render(Lock((960, 540)), 1920, 1080)).sum()
    lock_small = changed(blank(), render(Lock((160, 120)))).sum()
    assert lock_big > 5 * lock_small


@pytest.mark.parametrize(
    "symbol",
    [
        StraightArrow((-500, -500), (160, 120), ("blue",)),
        StraightArrow((160, 120), (1e9, -1e9), ("red", "blue")),
        StraightArrow((-1e12, 120), (1e12, 121), ("green",)),
        Crosshair((-5, 120)),
        DualCrosshair((-100, -100), (400, 300)),
        RotatingArrow((318, 2)),
        GripperState((319, 239), "OFF"),
        Lock((0, 0)),
        Rewind((330, 250)),
        Lock((-1e9, 5)),
    ],
)
def test_partly_or_wholly_outside_is_clipped_not_an_error(symbol):
    out = render(symbol)
    assert out.shape == (H, W, 3)


def test_normalised_coordinates_map_to_pixels():
    out = SymbolRenderer().render(blank(), [Crosshair((250, 500))], normalized=True)
    mask = changed(blank(), out)
    x0, y0, x1, y1 = _bbox(mask)
    assert abs((x0 + x1) / 2 - 80) <= 2 and abs((y0 + y1) / 2 - 120) <= 2


def test_bad_image_is_a_clear_error():
    with pytest.raises(ImageError, match=r"expected an RGB uint8 image"):
        SymbolRenderer().render(np.zeros((10, 10), np.uint8), [])
    with pytest.raises(ImageError, match=r"expected an RGB uint8 image"):
        SymbolRenderer().render(np.zeros((10, 10, 3), np.float32), [])


def test_renderer_is_safe_to_share_between_threads():
    from concurrent.futures import ThreadPoolExecutor

    renderer = SymbolRenderer()
    symbols = list(CASES.values())
    expected = renderer.render(blank(), symbols, normalized=False)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: renderer.render(blank(), symbols, normalized=False), range(16)))
    assert all(np.array_equal(o, expected) for o in outs)


def test_legend_draws_every_symbol():
    from vifailback_demo.render.legend import LEGEND, render_legend

    sheet = render_legend(cell=200, columns=4)
    assert sheet.shape == (2 * (200 + 46), 4 * 208, 3)
    background = np.array([118, 112, 104])
    for i in range(len(LEGEND)):
        r, c = divmod(i, 4)
        tile = sheet[r * 246 : r * 246 + 200, c * 208 : c * 208 + 200].astype(int)
        assert (np.abs(tile - background).sum(axis=2) > 60).sum() > 200, LEGEND[i][0]
