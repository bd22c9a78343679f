"""The app through ``App.run_test()`` and the pilot; time moves only when a test says so (``app.step``)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget

from hilbench.bus import simtime
from tui.app import SPEEDS, HilbenchApp, speed_label
from tui.session import BenchSession
from tui.widgets import (
    BusPanel,
    ComputePanel,
    PackPanel,
    StatusBar,
    TransitionLog,
    TrendPanel,
    VehiclePanel,
)

SIZE = (140, 45)


def shown(widget: Widget) -> str:
    """The text a widget renders (no colour)."""
    console = Console(width=max(widget.size.width, 60), file=io.StringIO(), record=True, color_system=None)
    console.print(widget.render())
    return console.export_text()


def row(widget: Widget, label: str) -> list[str]:
    """The cells after ``label`` in the readout row that starts with it."""
    for line in shown(widget).splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label):].split()
    raise AssertionError(f"no row {label!r} in:\n{shown(widget)}")


def drive(session: BenchSession, body: Callable[[HilbenchApp, Pilot], Awaitable[None]], *,
          autorun: bool = False) -> HilbenchApp:
    """Run ``body`` against an app on ``session`` (no timer unless ``autorun``)."""
    app = HilbenchApp(session, autorun=autorun)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await body(app, pilot)

    asyncio.run(main())
    return app


def test_the_app_starts_and_shows_time_advancing(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        assert app.last_snapshot is not None and app.last_snapshot.now_s == 0.0
        app.step(10.0)
        await pilot.pause()
        assert app.last_snapshot.now_s == pytest.approx(10.0)
        assert "0:00:10" in shown(app.query_one(StatusBar))
        assert row(app.query_one(ComputePanel), "supervisor") == ["RUNNING"]
        assert row(app.query_one(PackPanel), "chemistry") == ["NMC", "NMC"]
        assert int(row(app.query_one(BusPanel), "frames")[0].replace(",", "")) > 0
        assert row(app.query_one(BusPanel), "E2E errors") == ["0"]
        assert any("RUNNING" in entry for entry in app.query_one(TransitionLog).entries[:2])

    drive(session, body)


def test_p_plugs_in_and_the_car_charges(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(5.0)
        vehicle = app.query_one(VehiclePanel)
        assert row(vehicle, "CP state") == ["A", "A"]
        await pilot.press("p")
        app.step(30.0)
        await pilot.pause()
        assert row(vehicle, "plug") == ["in", "in"]
        assert row(vehicle, "CP state") == ["C", "C"]
        plant_kw, _unit, bus_kw, _unit2 = row(vehicle, "charge power")
        assert float(plant_kw) > 0 and float(bus_kw) > 0
        assert app.last_snapshot.charge_power_w > 0
        assert any("> plug in" in line for line in app.query_one(TransitionLog).entries)
        await pilot.press("p")
        app.step(5.0)
        assert row(vehicle, "plug") == ["out", "out"]

    drive(session, body)


def test_g_shifts_to_d_and_compute_stands_by(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(5.0)
        compute = app.query_one(ComputePanel)
        assert float(row(compute, "compute power")[0]) > 0
        await pilot.press("g")
        app.step(5.0)
        await pilot.pause()
        assert row(app.query_one(VehiclePanel), "gear") == ["D", "D"]
        assert row(compute, "supervisor") == ["STANDBY"]
        assert row(compute, "reason") == ["GEAR_NOT_PARK"]
        assert row(compute, "compute power") == ["0", "W"]
        assert any("STANDBY" in line and "GEAR_NOT_PARK" in line for line in app.query_one(TransitionLog).entries)
        await pilot.press("g")
        app.step(1.0)
        assert row(app.query_one(VehiclePanel), "gear") == ["P", "P"]

    drive(session, body)


def test_h_and_c_move_the_coolant(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("h", "h")
        app.step(2.0)
        assert row(app.query_one(VehiclePanel), "coolant") == ["40.0", "C", "40.0", "C"]
        await pilot.press("c")
        app.step(2.0)
        assert row(app.query_one(VehiclePanel), "coolant") == ["30.0", "C", "30.0", "C"]

    drive(session, body)


def test_speed_keys_move_through_the_settings(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        assert app.speed == 60.0 and "speed 60x" in shown(app.query_one(StatusBar))
        await pilot.press("plus", "plus", "plus")
        assert app.speed is None and "speed max" in shown(app.query_one(StatusBar))
        for _ in SPEEDS:
            await pilot.press("minus")
        assert app.speed == 1.0 and "speed 1x" in shown(app.query_one(StatusBar))

    drive(session, body)


@pytest.mark.wall_clock
def test_pause_stops_bench_time(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        for _ in range(100):                      # the timer's worker advances the bench
            await pilot.pause(0.05)
            if app.last_snapshot.now_s > 0:
                break
        assert app.last_snapshot.now_s > 0
        await pilot.press("space")
        assert app.paused and "PAUSED" in shown(app.query_one(StatusBar))
        for _ in range(100):                      # a chunk already under way may still land
            if not app._advancing:
                break
            await pilot.pause(0.05)
        frozen = session.now_s
        await pilot.pause(0.4)                    # four ticks of the timer
        assert session.now_s == frozen
        await pilot.press("space")
        assert not app.paused

    drive(session, body, autorun=True)


def test_the_trend_keeps_a_short_stop_that_no_sample_would_catch(session: BenchSession) -> None:
    """A 4 s stop in D inside one 10 s bucket: the bucket's low is 0 W, its high the running power, and the
    stop is marked under the bars (a trend sampling every 10 s would have shown 60 W throughout)."""
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(32.0)
        await pilot.press("g")            # to D at 32 s: the unit stops
        app.step(4.0)
        await pilot.press("g")            # back to P at 36 s: it runs again
        app.step(24.0)
        await pilot.pause()
        trend = app.query_one(TrendPanel)
        power = trend.samples("compute_power_w")
        assert [b.index for b in power] == [0, 1, 2, 3, 4, 5]
        assert all(b.low > 0 for b in power[1:3]) and all(b.low > 0 for b in power[4:])
        stop = power[3]                   # 30..40 s
        assert stop.low == 0.0 and stop.high > 0 and stop.last > 0
        assert trend.marks_s == pytest.approx((32.0, 36.0))
        text = shown(trend)
        assert "compute 60 W (0..60 over 0:01:00)" in text
        marks = [line for line in text.splitlines() if "▲" in line]
        assert [line.rstrip() for line in marks] == ["   ▲"]   # both actions in the 30..40 s bucket
        assert [b.index for b in trend.samples("soc_pct")] == [0, 1, 2, 3, 4, 5, 6]

    drive(session, body)


def test_q_quits_and_closes_the_bench(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(1.0)
        await pilot.press("q")

    app = drive(session, body)
    assert session.closed
    assert simtime.open_channels() == {}
    assert app.return_code in (None, 0)


def test_leaving_the_app_any_other_way_closes_the_bench_too(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(1.0)

    drive(session, body)
    assert session.closed and simtime.open_channels() == {}


def test_a_scenario_plays_its_steps_and_pauses_at_its_end(short_scenario: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        status = app.query_one(StatusBar)
        assert "short" in shown(status) and "0:00:40" in shown(status)
        app.step(60.0)
        await pilot.pause()
        assert app.last_snapshot.now_s == pytest.approx(40.0)
        assert app.paused
        assert any("step: plug in" in line for line in app.query_one(TransitionLog).entries)
        assert row(app.query_one(VehiclePanel), "CP state") == ["C", "C"]

    with BenchSession.open(short_scenario) as session:
        drive(session, body)


def test_pause_and_speed_set_before_the_app_is_mounted_are_shown_once_it_is(session: BenchSession) -> None:
    """A pause or speed set before the screen exists (a command-line option, say) must not fail on a
    status bar that is not there yet, and the bar must show it once it is."""
    app = HilbenchApp(session, autorun=False)
    app.paused = True
    app.speed_index = 0

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            bar = app.query_one(StatusBar)
            assert bar.paused
            assert speed_label(SPEEDS[0]) in shown(bar)

    asyncio.run(main())
