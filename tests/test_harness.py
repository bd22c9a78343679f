"""The test harness's own promise: under xdist a wall-clock test runs while no other test does."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from _xdist_locks import alone_or_together

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the locks are fcntl locks (POSIX)")


def _hold(folder: str, alone: bool, entered, leave, log) -> None:
    with alone_or_together(Path(folder), alone=alone):
        log.put(("in", alone))
        entered.set()
        leave.wait(20)
        log.put(("out", alone))


def test_a_wall_clock_test_waits_for_the_running_tests_and_none_starts_while_it_runs(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    log = ctx.Queue()
    events = {name: (ctx.Event(), ctx.Event()) for name in ("first", "wall", "later")}

    def start(name: str, alone: bool):
        entered, leave = events[name]
        process = ctx.Process(target=_hold, args=(str(tmp_path), alone, entered, leave, log))
        process.start()
        return process

    first = start("first", alone=False)               # an ordinary test, running
    assert events["first"][0].wait(20)
    wall = start("wall", alone=True)                  # a wall-clock test asks to run alone
    assert not events["wall"][0].wait(1.0), "the wall-clock test started beside a running test"
    later = start("later", alone=False)               # another ordinary test asks to start
    assert not events["later"][0].wait(1.0), "an ordinary test started while a wall-clock test waited"
    events["first"][1].set()                          # the running test ends
    assert events["wall"][0].wait(20)
    assert not events["later"][0].wait(1.0), "an ordinary test started beside the wall-clock test"
    events["wall"][1].set()
    assert events["later"][0].wait(20)
    events["later"][1].set()
    for process in (first, wall, later):
        process.join(20)
        assert process.exitcode == 0
    order = [log.get(timeout=5) for _ in range(6)]
    assert order == [("in", False), ("out", False), ("in", True), ("out", True), ("in", False), ("out", False)]
