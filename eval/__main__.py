"""``python -m eval``: see :mod:`eval.cli`."""

from eval.cli import main

raise SystemExit(main())
