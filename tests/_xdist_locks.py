"""A readers-writer lock between the workers of one ``pytest -n`` run (tests/conftest.py uses it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def alone_or_together(folder: Path, alone: bool) -> Iterator[None]:
    """Readers-writer lock over two files: a wall-clock test (writer) first closes the turnstile, so no
    other test starts, then waits for those running to end; every other test passes the turnstile and
    holds the room shared."""
    import fcntl

    with open(folder / "turnstile", "a+") as turnstile, open(folder / "room", "a+") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if alone:
            fcntl.flock(room, fcntl.LOCK_EX)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(room, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
