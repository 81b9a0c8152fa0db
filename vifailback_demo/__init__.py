"""ViFailback Studio: diagnose, correct, and learn from manipulation failures via visual symbols."""

__version__ = "0.1.0"
