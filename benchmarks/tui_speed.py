"""tui: the TUI at speed "max" against the same bench headless, in one process.

Both run the default session (``overnight.toml``: 8 h parked, every node and the compute DUT
emulated) from its start for ``SESSION_S`` simulated seconds:

1. **Headless** (the baseline): the bench as ``hilbench run`` builds it (the scenario runner's
   ``bench_config`` and ``schedule_steps``), advanced with ``Bench.run_for``.
2. **The TUI at max**: ``HilbenchApp`` on a ``BenchSession`` of the same scenario, started
   at speed "max" under Textual's headless driver (``App.run_test`` at 160x48: every
   widget of the overview tab renders as on a terminal), until the session reaches
   ``SESSION_S``.

``tui_vs_headless`` is the TUI's simulated seconds per wall second over the headless
bench's; the issue's target is within 20 % (>= 0.80).  A third run with the bus tab shown
(the per-message monitor refreshed with every snapshot) is reported beside it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from _report import Report

NAME = "tui"
DESCRIPTION = "TUI at speed max vs the same session headless"

SESSION_S = 1800.0
QUICK_SESSION_S = 600.0
SIZE = (160, 48)


def _scenario_path() -> Path:
    from hilbench.scenarios.loader import bundled_scenarios_dir

    return bundled_scenarios_dir() / "overnight.toml"


def _headless(duration_s: float) -> float:
    """Simulated seconds per wall second of the bench run as ``hilbench run`` runs it."""
    from hilbench.bench import Bench
    from hilbench.scenarios import RunOptions, load_scenario
    from hilbench.scenarios.runner import bench_config, schedule_steps

    scenario = load_scenario(_scenario_path())
    with Bench(bench_config(scenario, RunOptions())) as bench:
        schedule_steps(bench, scenario)
        started = time.perf_counter()
        bench.run_for(duration_s)
        return duration_s / (time.perf_counter() - started)


def _tui(duration_s: float, *, tab: str = "overview") -> tuple[float, int]:
    """Simulated seconds per wall second of the TUI at max, and how many snapshots it showed."""
    from tui.app import HilbenchApp
    from tui.session import BenchSession

    session = BenchSession.open(_scenario_path())
    app = HilbenchApp(session, autorun=True, speed=None, report_dir=Path("/tmp/hilbench-bench-tui"))
    shown = 0
    result: dict[str, float] = {}

    async def main() -> None:
        nonlocal shown
        async with app.run_test(size=SIZE) as pilot:
            app.action_show_tab(tab)
            started = time.perf_counter()
            start_s = session.now_s
            while session.now_s < duration_s:
                # A plain sleep, as a terminal's idle user: the pilot's pause waits for the app to go idle
                # and handles its messages itself, and polled every 50 ms it costs the bench 40 % (measured).
                await asyncio.sleep(0.2)
            result["speed"] = (session.now_s - start_s) / (time.perf_counter() - started)
            shown = app.shows
            await pilot.press("q")

    try:
        asyncio.run(main())
    finally:
        session.close()
    return result["speed"], shown


def run(quick: bool = False) -> Report:
    duration_s = QUICK_SESSION_S if quick else SESSION_S
    report = Report(NAME)
    headless = _headless(duration_s)
    tui, shown = _tui(duration_s)
    headless_after = _headless(duration_s)
    baseline = (headless + headless_after) / 2
    bus_tab, _ = _tui(duration_s, tab="bus")
    report.add("tui_headless_speed", baseline, "headless bench (mean of before and after)", "{:,.0f}", "x")
    report.add("tui_max_speed", tui, "TUI at max, overview tab", "{:,.0f}", "x")
    report.target("tui_vs_headless", tui / baseline, "TUI at max / headless", 0.80)
    report.add("tui_bus_tab_vs_headless", bus_tab / baseline, "TUI at max with the bus monitor shown / headless",
               "{:.2f}")
    report.add("tui_snapshots_shown", shown, "snapshots the overview showed", "{:,.0f}")
    report.note(f"{duration_s:g} simulated s of overnight.toml from its start; headless before {headless:,.0f}x, "
                f"after {headless_after:,.0f}x")
    return report
