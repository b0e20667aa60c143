from mtp_edge.cli import main

raise SystemExit(main())
