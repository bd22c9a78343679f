"""Leak check shared by the emulated-adapter tests: no thread, file descriptor or virtual channel left."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import can


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def no_leaks(channel_prefix: str) -> Iterator[None]:
    """Body of an autouse fixture: everything a test opened is closed again when it ends."""
    threads = set(threading.enumerate())
    fds = _open_fds()
    yield
    leaked_threads = [t.name for t in set(threading.enumerate()) - threads]
    assert not leaked_threads, f"threads left running: {leaked_threads}"
    assert _open_fds() <= fds, f"file descriptors left open: {sorted(_open_fds() - fds)}"
    leftover = [name for name in can.interfaces.virtual.channels if str(name).startswith(channel_prefix)]
    assert not leftover, f"virtual channels left open: {leftover}"
