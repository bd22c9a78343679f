"""Signal tests run with the signals' default dispositions, however the test run was started.

A run started under ``nohup``, or as a background job of a non-interactive shell, has SIGHUP or
SIGINT ignored, and hilbench keeps an ignored signal ignored (``hilbench.cli.interrupts``), as
it should: these tests would then see no interrupt at all.  Here the default disposition is put
back for each test (a handler is reset to the default in a child process at exec, an ignored
signal is not), and the run's own disposition restored after it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGHUP: signal.SIG_DFL,
             signal.SIGTERM: signal.SIG_DFL}


@pytest.fixture(autouse=True)
def default_signal_dispositions() -> Iterator[None]:
    previous = {signum: signal.signal(signum, handler) for signum, handler in _DEFAULTS.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
