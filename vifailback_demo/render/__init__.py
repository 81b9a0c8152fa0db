"""Rendering engines (OpenCV): symbols onto frames."""

from vifailback_demo.render.symbols_renderer import SymbolRenderer, SymbolStyle, render_symbols

__all__ = ["SymbolRenderer", "SymbolStyle", "render_symbols"]
