"""The Gradio UI: the only package that imports gradio. ``build_demo(services)`` makes the Blocks, ``launch``
starts it with the app's settings."""

from vifailback_demo.ui.launch import launch, launch_kwargs
from vifailback_demo.ui.layout import build_demo

__all__ = ["build_demo", "launch", "launch_kwargs"]
