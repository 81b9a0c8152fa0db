"""The ``vifailback`` command line (also ``python -m vifailback_demo``)."""
