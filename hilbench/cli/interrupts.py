"""SIGTERM handled like Ctrl-C, for the CLI process and the scenario workers it starts."""

from __future__ import annotations

import signal


def sigterm_to_interrupt(signum: int, frame: object) -> None:
    """Raise KeyboardInterrupt on SIGTERM (CI cancelling a job), so the same cleanup runs as
    for Ctrl-C and recordings are stopped and flushed; a second SIGTERM must not cut that
    cleanup short, so it is ignored from here on."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt
