"""A parallel run's pool ends even when a worker outlives its SIGTERM.

``multiprocessing.Pool.terminate`` sends each worker one SIGTERM and then waits for all of them
without a limit.  A worker that did not die of it (seen: an idle worker of a stopped
``hilbench run -j 2`` on a loaded machine, about one run in ten) made a run stopped by CI hang
instead of ending with its verdicts.  ``_terminate`` kills what is left after a delay.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading

import pytest

from hilbench.cli import run as run_command
from hilbench.clock import wall_time_s


def _deaf_to_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _block_for_ever() -> None:
    threading.Event().wait()


@pytest.mark.wall_clock
def test_a_worker_that_outlives_its_sigterm_is_killed_after_the_delay(monkeypatch) -> None:
    monkeypatch.setattr(run_command, "WORKER_KILL_AFTER_S", 0.5)
    pool = multiprocessing.get_context("fork").Pool(1, initializer=_deaf_to_sigterm)
    pool.apply_async(_block_for_ever)
    start = wall_time_s()
    run_command._terminate(pool)         # without the kill, this never returns
    assert wall_time_s() - start < 10.0
    assert multiprocessing.active_children() == []


@pytest.mark.wall_clock
def test_workers_that_leave_on_their_own_are_not_waited_for() -> None:
    pool = multiprocessing.get_context("fork").Pool(2)
    assert pool.apply(abs, (-3,)) == 3
    start = wall_time_s()
    run_command._terminate(pool)
    assert wall_time_s() - start < run_command.WORKER_KILL_AFTER_S
