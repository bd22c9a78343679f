"""The TUI on a real-time bus (python-can's ``virtual`` interface): one worker serves the bus without a
break, so the screen shows every frame the bench put on it, and the UI never waits on the bus.

``HILBENCH_TUI_WALL_S`` sets how long it runs (5 s by default; the issue's figure is 60 s:
``HILBENCH_TUI_WALL_S=60 pytest tests/tui/test_tui_wall_clock.py``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hilbench.bus.open import BusConfig
from hilbench.clock import wall_time_s
from hilbench.scenarios import RunOptions
from tui.app import HilbenchApp
from tui.session import BenchSession

WALL_S = float(os.environ.get("HILBENCH_TUI_WALL_S", "5"))


@pytest.mark.wall_clock
def test_the_tui_shows_the_frames_the_bench_sent_on_a_virtual_bus(tmp_path: Path) -> None:
    options = RunOptions(bus=BusConfig("virtual", f"tui-wall-{os.getpid()}"), wall_time=True)
    session = BenchSession.open(options=options)
    assert not session.simulated
    app = HilbenchApp(session, autorun=True, report_dir=tmp_path)
    ui_gaps: list[float] = []

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            started = last = wall_time_s()
            while wall_time_s() - started < WALL_S:
                await pilot.pause(0.05)
                now = wall_time_s()
                ui_gaps.append(now - last)   # the UI's own loop: never held up by the bus
                last = now
            shown = app.last_snapshot
            assert shown is not None
            bench = session.bench
            sent = sum(port.sent for port in bench._ports)
            # Every frame the bench sent reached the monitor the screen shows, to the last snapshot.
            assert shown.frames >= 0.99 * sent * shown.now_s / max(bench.clock.stamp(), 1e-9)
            # And the bench kept its cadence: the frames of every message at its DBC cycle time (a late
            # periodic task is skipped, so "sent" alone could hide a starved loop: a UI that advanced the
            # bench 0.1 s per 0.1 s tick showed 8 frames in 12.9 s).  99.8 % on a quiet machine over
            # 60 s; 95 % here, since a machine loaded by other work makes any wall clock late.
            expected = sum(shown.now_s / m.cycle_time_s for m in bench.codec.by_name.values()
                           if m.cycle_time_s and bench.monitor.stats[m.name].count)
            assert shown.frames >= 0.95 * expected, (shown.frames, expected)
            assert shown.now_s >= WALL_S - 1.0      # the screen follows the bench to within a second
            print(f"\n{WALL_S:g} s on virtual: shown {shown.frames} frames at {shown.now_s:.2f} s; sent {sent} by "
                  f"{bench.clock.stamp():.2f} s; expected at the DBC cycles {expected:.0f} "
                  f"({shown.frames / expected:.4f})")
            await pilot.press("q")

    try:
        asyncio.run(main())
    finally:
        session.close()
    assert max(ui_gaps) < 0.5, f"the UI loop stalled for {max(ui_gaps):.2f} s"
