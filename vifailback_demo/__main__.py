from vifailback_demo.cli.main import main

raise SystemExit(main())
