"""VLM backends behind one interface (``backend.VLMBackend``), model resolution and the tiny-model builder.

Submodules import torch/transformers lazily; import what you need from them directly.
"""
