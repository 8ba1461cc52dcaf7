from mailmig_tui.cli import main

raise SystemExit(main())
