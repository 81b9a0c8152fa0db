"""A rendered legend of the 7 symbols and their meaning (README, the app's Help tab)."""

from __future__ import annotations

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
)
from vifailback_demo.render.symbols_renderer import SymbolRenderer, SymbolStyle

#: (title, meaning, symbols in a 1000x1000 cell)
LEGEND: tuple[tuple[str, str, list[Symbol]], ...] = (
    (
        "Straight arrow",
        "move: red x fwd/back, green y left/right, blue z up/down",
        [StraightArrow((150, 650), (850, 300), ("green", "red"))],
    ),
    ("Rotating arrow", "rotate the gripper (clockwise shown)", [RotatingArrow((500, 480), "clockwise")]),
    (
        "ON / OFF",
        "open (ON) / close (OFF) the gripper",
        [GripperState((300, 480), "ON"), GripperState((700, 480), "OFF")],
    ),
    ("Dual crosshair", "align the object at the first with the second", [DualCrosshair((200, 480), (800, 480))]),
    ("Crosshair", "the correct target object", [Crosshair((500, 480))]),
    ("Lock", "keep this object still", [Lock((500, 480))]),
    ("Rewind", "return to the previous position or state", [Rewind((500, 480))]),
)


def render_legend(cell: int = 220, columns: int = 4) -> np.ndarray:
    """An RGB image: one cell per symbol on a grey tabletop-like background, with title and meaning below."""
    # Cells are small, so draw the symbols larger than on a frame of the same size.
    renderer = SymbolRenderer(SymbolStyle(scale=cell / 110))
    gap = 8
    rows = -(-len(LEGEND) // columns)
    caption = 46
    sheet = np.full((rows * (cell + caption), columns * (cell + gap), 3), 245, np.uint8)
    for i, (title, meaning, symbols) in enumerate(LEGEND):
        r, c = divmod(i, columns)
        y0, x0 = r * (cell + caption), c * (cell + gap)
        tile = np.full((cell, cell, 3), (118, 112, 104), np.uint8)
        sheet[y0 : y0 + cell, x0 : x0 + cell] = renderer.render(tile, symbols)
        cv2.putText(sheet, title, (x0 + 6, y0 + cell + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        words, line, lines = meaning.split(), "", []
        for w in words:  # wrap the meaning to the cell width
            trial = f"{line} {w}".strip()
            if cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, 0.36, 1)[0][0] > cell - 10 and line:
                lines.append(line)
                line = w
            else:
                line = trial
        lines.append(line)
        for j, text in enumerate(lines[:2]):
            cv2.putText(
                sheet,
                text,
                (x0 + 6, y0 + cell + 32 + 12 * j),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.36,
                (70, 70, 70),
                1,
                cv2.LINE_AA,
            )
    return sheet
