"""``python -m bot``: the same as the ``seedream-bot`` console script."""

from bot.cli import main

raise SystemExit(main())
