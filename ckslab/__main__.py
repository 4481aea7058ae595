from ckslab.cli import main

raise SystemExit(main())
