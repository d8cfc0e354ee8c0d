"""``python -m minigen ...`` runs the command line (see :mod:`minigen.cli`)."""

from .cli import main

raise SystemExit(main())
