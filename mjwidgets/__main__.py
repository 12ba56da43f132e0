"""`python -m mjwidgets sim|demo`."""

from .cli import main

raise SystemExit(main())
