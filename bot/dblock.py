"""One bot process per SQLite file: an exclusive lock on ``<DATABASE_PATH>.lock`` while it runs.

Two bots on one file would both resume the same jobs, post their results twice and race each
other's quota counters. SQLite's own locking only serialises statements, so the launcher
takes ``flock`` on a sidecar file (not the database itself: SQLite's POSIX locks on the same
file would be disturbed) before anything opens the database. The kernel releases the lock
when the process ends however it ends, SIGKILL included, so a stale lock file is harmless.

Platforms without ``fcntl`` (Windows) run without the lock, with a warning at start.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.core.errors import ConfigError

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)


def lock_path(database: Path) -> Path:
    """The sidecar file locked for ``database``."""
    return database.with_name(database.name + ".lock")


@contextmanager
def database_lock(database: Path) -> Iterator[None]:
    """Hold the database's lock for the ``with`` block, or raise ``ConfigError`` at once if
    another process holds it."""
    if sys.platform == "win32":
        log.warning("No file locking on this platform: never run two bots on %s", database)
        yield
        return
    path = lock_path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        # worded as bot.root words a database it cannot open
        raise ConfigError("DATABASE_PATH", f"cannot open {database} ({exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                "DATABASE_PATH", f"{database} is in use by another seedream-bot process"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock
