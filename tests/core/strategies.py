"""Hypothesis strategies for valid symbols (shared by the core property tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from vifailback_demo.core.symbols import (
    COLORS,
    DIRECTIONS,
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
)

coord = st.one_of(
    st.integers(min_value=-5000, max_value=5000),
    st.floats(min_value=-5000, max_value=5000, allow_nan=False, allow_infinity=False),
)
point = st.tuples(coord, coord)
colors = st.lists(st.sampled_from(COLORS), min_size=1, max_size=4).map(tuple)

symbol = st.one_of(
    st.builds(StraightArrow, point, point, colors),
    st.builds(RotatingArrow, point, st.sampled_from(DIRECTIONS)),
    st.builds(Crosshair, point),
    st.builds(DualCrosshair, point, point),
    st.builds(GripperState, point, st.sampled_from(("ON", "OFF"))),
    st.builds(Lock, point),
    st.builds(Rewind, point),
)
symbol_lists = st.lists(symbol, max_size=8)
