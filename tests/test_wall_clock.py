"""Wall time: the clock starts with the run, a late periodic task skips what it missed, and a
recording's primary is flushed every interval of wall time."""

from __future__ import annotations

from pathlib import Path

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BusConfig, count_frames
from hilbench.bus.recorder import FLUSH_INTERVAL_S, read_recording
from hilbench.clock import WallClock, wall_sleep_s

pytestmark = pytest.mark.wall_clock


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


def test_on_a_wall_time_bus_the_primary_is_flushed_every_interval_of_wall_time(tmp_path: Path) -> None:
    """On a real bus the flush interval is wall time: after a run of 0.55 s the primary holds every
    frame sent up to the flush at 0.5 s (anything stamped by 0.4 s at least, however late the loop
    ran on a loaded machine) and nothing sent after the last flush."""
    path = tmp_path / "wall.blf"
    with Bench(BenchConfig(bus=BusConfig("virtual", "wall-flush"), wall_time=True, record=path,
                           emulate=frozenset({"bms", "vcu", "obc"}))) as bench:
        sent: list[can.Message] = []
        bench.restbus.add_tap(sent.append)
        flushed_at: list[tuple[float, int]] = []
        bench.start()   # schedules the bench's flush; the probe below runs right after it, same instants
        bench.clock.call_every(FLUSH_INTERVAL_S, lambda: flushed_at.append((bench.clock.now, len(sent))),
                               offset_s=FLUSH_INTERVAL_S)
        bench.run_for(0.55)
        on_disk = [(m.timestamp, m.arbitration_id, bytes(m.data)) for m in read_recording(path.with_suffix(".log"))]
        assert on_disk == [(round(m.timestamp, 6), m.arbitration_id, bytes(m.data)) for m in sent[:len(on_disk)]]
        assert [round(t, 1) for t, _ in flushed_at] == [0.1, 0.2, 0.3, 0.4, 0.5]
        assert len(on_disk) == flushed_at[-1][1]             # exactly the frames sent by the last flush
        early = sum(1 for m in sent if m.timestamp - bench.epoch_s <= 0.4)
        assert len(sent) > len(on_disk) >= early > 0
    assert count_frames(path) == count_frames(path.with_suffix(".log")) == len(sent)


def test_a_hook_that_raises_while_the_clock_waits_leaves_the_task_queued() -> None:
    """A lost bus is found by the idle hook while the clock waits for the next task (python-can's slcan
    client raises from ``recv``): the task must still be there when the run carries on (reconnect)."""
    clock = WallClock()
    fired: list[float] = []
    clock.call_every(0.02, lambda: fired.append(clock.now))
    calls = [0]

    class Lost(Exception):
        pass

    def hook(wait_s: float) -> None:
        calls[0] += 1
        if calls[0] == 3 and fired:
            raise Lost
        wall_sleep_s(min(wait_s, 0.005))

    clock.add_idle_hook(hook)
    with pytest.raises(Lost):
        clock.run_until(0.2)
    before = len(fired)
    clock.run_until(clock.now + 0.1)
    assert len(fired) >= before + 3    # the periodic task kept its place and went on firing
