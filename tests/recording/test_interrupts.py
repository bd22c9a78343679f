"""Interrupts: the stop signals set a flag (and stop the bound clock) instead of raising; the
handlers before them come back; a signal the process ignores stays ignored; a third signal ends
the process at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hilbench
from hilbench.cli.interrupts import FORCE_AFTER, Interrupts, active_stop
from hilbench.clock import SimClock

SOURCE_ROOT = Path(hilbench.__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _handlers_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_sets_the_flag_and_stops_the_clock_after_the_current_task(signum: int) -> None:
    before = signal.getsignal(signum)
    clock = SimClock()
    ran: list[float] = []

    def task() -> None:
        ran.append(clock.now)
        if len(ran) == 3:
            os.kill(os.getpid(), signum)      # handled inside this task: nothing is raised here
            ran.append(-1.0)

    clock.call_every(1.0, task)
    with Interrupts() as interrupts:
        assert active_stop() is interrupts.stop
        interrupts.stop.bind(clock)
        clock.run_until(10.0)
        assert ran == [0.0, 1.0, 2.0, -1.0]
        assert interrupts.reason == signum.name and interrupts.received == [signum.name]
    assert signal.getsignal(signum) is before
    assert not active_stop().requested                       # none installed: a fresh request


def test_a_signal_the_process_ignores_stays_ignored() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)              # as under nohup
    with Interrupts() as interrupts:
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)
        assert not interrupts.requested
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_nested_interrupts_share_nothing_but_restore_in_order() -> None:
    with Interrupts() as outer:
        with Interrupts() as inner:
            assert active_stop() is inner.stop
            os.kill(os.getpid(), signal.SIGTERM)
        assert active_stop() is outer.stop
        assert inner.reason == "SIGTERM" and not outer.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_third_signal_ends_the_process_at_once() -> None:
    child = textwrap.dedent(f"""
        import os, signal
        from hilbench.cli.interrupts import Interrupts
        with Interrupts() as interrupts:
            for _ in range({FORCE_AFTER - 1}):
                os.kill(os.getpid(), signal.SIGTERM)
            print(interrupts.received, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            print("still here", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH", ""))
                                                      if p))
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert proc.stdout == "['SIGTERM', 'SIGTERM']\n" and proc.stderr == ""
