"""SIGINT, SIGTERM and SIGHUP as a request to stop, never as an exception in the middle of a frame.

Python turns Ctrl-C into ``KeyboardInterrupt`` at whatever bytecode runs when
it arrives: inside python-can's BLF writer, between the two writes of a
container, say, which loses the container.  :class:`Interrupts` replaces
their handlers for the length of a run with one that only records the signal
and asks the running clock to stop after the task now running
(:class:`~hilbench.clock.StopRequest`); the run loop ends there, the
scenario is judged over the time that ran, the bench closes its recording
with every frame, and the command exits 130.

A signal that comes while nothing runs yet (loading files, building the
bench) is kept and stops the run before its first task, so start-up gives
no traceback either.  A third signal ends the process at once with the
signal's default action, for a bench stuck outside the run loop; the
candump primary then holds all but its last flush interval.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..clock import StopRequest

#: The signals turned into a stop request: Ctrl-C, a job cancelled (CI, systemd, docker stop),
#: the terminal closed.  One the process was started ignoring (``nohup``, ``&`` in a script)
#: stays ignored.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: The signal of this rank ends the process at once (default action) instead.
FORCE_AFTER = 3

_active: Interrupts | None = None   # the one whose handlers are installed (signals are per process)


class Interrupts:
    """A context manager: within it the :data:`STOP_SIGNALS` set :attr:`stop` instead of raising.

    Outside the main thread (where Python allows no handler) it changes nothing.
    On exit the previous handlers are back.
    """

    def __init__(self) -> None:
        #: Bound to the running clock by ``Bench.run_for``; its reason is the first signal's name.
        self.stop = StopRequest()
        #: Names of the signals received, in order.
        self.received: list[str] = []
        #: The handlers replaced, by signal, as ``signal.signal`` returned them (None: not set from Python).
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
        self._outer: Interrupts | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived while the handlers were installed."""
        return self.stop.requested

    @property
    def reason(self) -> str | None:
        """Name of the first stop signal received (e.g. ``"SIGINT"``), or None."""
        return self.stop.reason

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if len(self.received) >= FORCE_AFTER:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.stop.request(name)

    def __enter__(self) -> Interrupts:
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
            self._outer, _active = _active, self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        if self._previous:
            _active = self._outer
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


def active_stop() -> StopRequest:
    """The stop request the signals of this process set now (a fresh one nobody sets when no
    :class:`Interrupts` is active)."""
    return _active.stop if _active is not None else StopRequest()


def sigterm_to_interrupt(signum: int, frame: object) -> None:
    """Raise KeyboardInterrupt on SIGTERM (CI cancelling a job), so the same cleanup runs as
    for Ctrl-C; a second SIGTERM must not cut that cleanup short, so it is ignored from here on.

    For commands that do not record (``hilbench run`` uses :class:`Interrupts` instead).
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt
