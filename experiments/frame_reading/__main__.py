"""``python -m experiments.frame_reading``: see :mod:`experiments.frame_reading.cli`."""

from experiments.frame_reading.cli import main

raise SystemExit(main())
