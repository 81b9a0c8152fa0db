"""Research experiments: not part of the product, not packaged, not in the default test run.

Each experiment imports the product (``vifailback_demo``, ``training``, ``eval``); nothing in the product imports
from here (``tests/test_layering.py``). Run their tests with ``python -m pytest experiments``.
"""
