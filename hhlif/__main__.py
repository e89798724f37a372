"""``python -m hhlif`` is ``hhlif``."""

from hhlif.cli import main

raise SystemExit(main())
