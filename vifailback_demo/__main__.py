import sys

from vifailback_demo.cli.main import main

sys.exit(main())
