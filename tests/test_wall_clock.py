"""Wall time: the clock starts with the run, and a late periodic task skips what it missed."""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BusConfig
from hilbench.clock import WallClock, wall_sleep_s


def test_building_the_bench_leaves_no_burst_of_overdue_frames() -> None:
    with Bench(BenchConfig(bus=BusConfig("virtual", "wall-burst"), wall_time=True,
                           emulate=frozenset({"bms", "vcu", "obc"}))) as bench:
        wall_sleep_s(0.5)                     # a slow setup before the run
        bench.run_for(0.6)
        stats = bench.monitor.stats["BMS_PackStatus"]
    assert stats.count == pytest.approx(0.6 / 0.02, abs=4)
    assert stats.min_gap_s > 0.002            # no frames sent back to back (a burst is ~0.05 ms apart)


def test_a_periodic_task_that_falls_behind_skips_the_missed_periods() -> None:
    clock = WallClock()
    runs: list[float] = []

    def slow() -> None:
        runs.append(clock.now)
        if len(runs) == 2:
            wall_sleep_s(0.25)                # five periods lost

    clock.call_every(0.05, slow)
    clock.run_until(0.5)
    assert (clock.now, clock.now_us) == (0.5, 500_000)     # now and now_us move together
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    assert len(runs) <= 7
    assert max(gaps) >= 0.25 and min(gaps) >= 0.05 - 1e-6
