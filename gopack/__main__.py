from gopack.cli import main

raise SystemExit(main())
