"""The app as a test engineer works in it: the first screen at 80x24, the fault panel, the bus monitor's
filter, the scenario runner, help, single step, and errors shown in the app while it keeps running."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget

from hilbench.bus.open import BusConfig
from hilbench.clock import wall_time_s
from hilbench.scenarios import RunOptions
from tui.app import HilbenchApp
from tui.session import BenchSession
from tui.widgets import (
    BusMonitorView,
    EssentialsPanel,
    FaultPanel,
    HelpScreen,
    PackPanel,
    ScenarioRunnerView,
    StatusBar,
    TransitionLog,
    TrendPanel,
)

SMALL = (80, 24)
WIDE = (160, 48)
#: Wall seconds a scenario run in a worker process may take (process start-up included).
WAIT_S = 60.0


def shown(widget: Widget) -> str:
    """The text a widget renders at its width (no colour)."""
    console = Console(width=max(widget.size.width, 20), file=io.StringIO(), record=True, color_system=None)
    console.print(widget.render())
    return console.export_text()


def drive(session: BenchSession, body: Callable[[HilbenchApp, Pilot], Awaitable[None]], *, size=SMALL,
          tmp_path: Path, autorun: bool = False, folder: Path | None = None) -> HilbenchApp:
    app = HilbenchApp(session, autorun=autorun, report_dir=tmp_path / "reports", scenario_folder=folder,
                      runner_workers=1)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await body(app, pilot)

    asyncio.run(main())
    return app


def notices(app: HilbenchApp) -> list[str]:
    return [n.message for n in app._notifications]


def test_at_80x24_the_first_screen_holds_what_matters(session: BenchSession, tmp_path: Path) -> None:
    """SOC against the reserve, supervisor state and full reason, compute power and level, junction,
    plug/CP and gear: on screen at 80x24 without scrolling, and changing as the bench runs."""
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(10.0)
        await pilot.pause()
        panel = app.query_one(EssentialsPanel)
        assert panel.region.y >= 0 and panel.region.bottom <= SMALL[1] - 1   # above the footer
        assert panel.region.width >= SMALL[0] - 1          # all but the scrollbar to the readouts below
        first = shown(panel)
        for words in ("SOC 79.9 %", "reserve 20 %", "margin +59.9", "supervisor RUNNING", "compute 60 W P100",
                      "junction 38.0 C", "plug out CP A", "gear P", "reason NONE"):
            assert " ".join(words.split()) in " ".join(first.split()), (words, first)
        await pilot.press("g")
        app.step(3.0)
        await pilot.pause()
        after = " ".join(shown(panel).split())
        assert "supervisor STANDBY" in after and "reason GEAR_NOT_PARK" in after and "gear D" in after
        # the trend and the log share the rest of the first screen; the detailed readouts are below
        assert app.query_one(TrendPanel).region.bottom <= SMALL[1] - 1
        assert app.query_one(TransitionLog).region.y < SMALL[1] - 1
        assert app.query_one(PackPanel).region.y >= SMALL[1] - 1
        assert "STANDBY" in shown(app.query_one(StatusBar)) or "0:00:13" in shown(app.query_one(StatusBar))

    drive(session, body, tmp_path=tmp_path)


def test_a_reason_longer_than_the_old_14_characters_is_shown_whole(session: BenchSession, tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(2.0)
        await pilot.press(*"hhhhhhh")    # coolant 25 -> 95 C: the junction reaches the passive trip
        app.step(400.0)
        await pilot.pause()
        text = " ".join(shown(app.query_one(EssentialsPanel)).split())
        assert "reason JUNCTION_THROTTLE" in text, text
        assert any("JUNCTION_THROTTLE" in line for line in app.query_one(TransitionLog).entries)

    drive(session, body, tmp_path=tmp_path)


def test_the_fault_panel_silences_a_node_and_the_unit_stops(session: BenchSession, tmp_path: Path) -> None:
    """node_silent for the BMS from the form (mouse on "apply"): logged, marked on the trend, and the unit
    stops on its stale inputs."""
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(5.0)
        await pilot.press("3")
        assert app.active_tab == "faults"
        panel = app.query_one(FaultPanel)
        panel.set_action("node_silent", node="bms", duration_s='"10 s"')
        await pilot.pause()
        await pilot.click("#fault-apply")
        await pilot.pause()
        assert panel.problems == ""
        app.step(5.0)
        await pilot.pause()
        log = app.query_one(TransitionLog).entries
        assert any("> panel: node_silent (node=bms, duration_s=10.0)" in line for line in log)
        assert any("SAFE_STOP" in line for line in log), log
        assert app.last_snapshot.bus["cu_state"] == "SAFE_STOP"
        assert app.query_one(TrendPanel).marks_s == pytest.approx((5.0,))
        assert [(a.at_s, a.action) for a in app.session.applied] == [(5.0, "node_silent")]

    drive(session, body, tmp_path=tmp_path)


def test_the_fault_panel_refuses_a_bad_parameter_and_queues_nothing(session: BenchSession, tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("3")
        panel = app.query_one(FaultPanel)
        panel.set_action("set_coolant", value_c="hot")
        await pilot.pause()
        panel.action_apply()
        await pilot.pause()
        assert panel.problems == 'value_c: expected a number in C, got "hot"'
        assert "expected a number in C" in shown(app.query_one("#fault-problems"))
        app.step(1.0)
        assert app.session.applied == []

    drive(session, body, tmp_path=tmp_path)


def test_ctrl_s_saves_the_session_as_a_scenario_file(session: BenchSession, tmp_path: Path) -> None:
    target = tmp_path / "explored.toml"

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(5.0)
        await pilot.press("p")
        app.step(5.0)
        await pilot.press("3")
        panel = app.query_one(FaultPanel)
        panel.query_one("#fault-save-path").value = str(target)
        panel.action_save()
        await pilot.pause()
        assert any(str(target) in n for n in notices(app))

    drive(session, body, tmp_path=tmp_path)
    assert 'action = "plug_in"' in target.read_text(encoding="utf-8")


def test_the_bus_tab_lists_every_message_and_filters_them(session: BenchSession, tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        assert not app.session.watching          # the monitor costs: only while its tab is shown
        await pilot.press("2")
        assert app.session.watching
        app.step(3.0)
        await pilot.pause()
        view = app.query_one(BusMonitorView)
        names = view.visible_names()
        assert {"BMS_PackStatus", "VCU_VehicleStatus", "OBC_ChargerStatus", "CU_Status"} <= set(names)
        view.filter_text = "^CU_"
        await pilot.pause()
        assert view.visible_names() and all(name.startswith("CU_") for name in view.visible_names())
        view.filter_text = "0x100/0x700"          # every ID 0x100..0x1FF: the BMS's
        await pilot.pause()
        assert view.visible_names() and all(name.startswith("BMS_") for name in view.visible_names())
        view.query_one("#bus-monitor-filter").focus()
        await pilot.pause()
        await pilot.press("end", "1")             # in the filter, a digit is a digit
        assert app.active_tab == "bus" and view.filter_text == "0x100/0x7001"
        view.query_one("#bus-monitor-table").focus()
        await pilot.pause()
        await pilot.press("1")                    # anywhere else, the overview tab
        assert app.active_tab == "overview" and not app.session.watching

    drive(session, body, size=WIDE, tmp_path=tmp_path)


def test_the_scenarios_tab_runs_a_file_and_shows_its_verdict_and_a_refused_one(short_scenario: Path,
                                                                               tmp_path: Path) -> None:
    broken = short_scenario.parent / "broken.toml"
    broken.write_text('[scenario]\nname = "broken"\nduration = "10s"\n\n[[steps]]\nat = "1s"\naction = "warp"\n',
                      encoding="utf-8")

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("4")
        view = app.query_one(ScenarioRunnerView)
        view.run_paths([short_scenario, broken])
        start = wall_time_s()
        while len(view.summaries) < 2 and wall_time_s() - start < WAIT_S:
            await asyncio.sleep(0.1)
            await pilot.pause()
        assert view.state_of(short_scenario) == "PASS", view.details_text
        assert view.state_of(broken) == "ERROR"
        assert "warp" in view.summaries[broken].error
        view.select(short_scenario)
        await pilot.pause()
        assert "PASS" in view.verdict_text()
        assert app.is_running                          # a refused file is a verdict, never a crash

    with BenchSession.open() as session:
        drive(session, body, size=WIDE, tmp_path=tmp_path, folder=short_scenario.parent)


def test_help_lists_every_key_and_escape_closes_it(session: BenchSession, tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows
        described = {description for _where, _key, description in rows}
        for binding in app.BINDINGS:
            assert binding.description in described  # type: ignore[union-attr]
        wheres = {where for where, _key, _description in rows}
        assert {"anywhere", "bus tab", "faults tab", "scenarios tab"} <= wheres
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)

    drive(session, body, tmp_path=tmp_path)


def test_s_pauses_and_steps_one_plant_step(session: BenchSession, tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.step(1.0)
        await pilot.press("s")
        assert app.paused
        assert app.last_snapshot.now_s == pytest.approx(1.0 + session.bench.plant_step_s)
        await pilot.press("s", "s")
        assert app.last_snapshot.now_s == pytest.approx(1.0 + 3 * session.bench.plant_step_s)

    drive(session, body, tmp_path=tmp_path)


@pytest.mark.wall_clock
def test_a_lost_adapter_is_shown_in_the_app_which_keeps_running_and_serves_again(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """On a wall clock the bus's worker meets a lost adapter: shown in the app (log, notice), time paused;
    space serves the bus again once it is back."""
    options = RunOptions(bus=BusConfig("virtual", f"tui-lost-{id(tmp_path)}"), wall_time=True)
    session = BenchSession.open(options=options)
    bus = session.bench.restbus.bus
    real_recv = bus.recv

    def gone(timeout: float | None = None) -> None:
        raise OSError(19, "No such device: adapter unplugged")   # what a serial adapter pulled out gives

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        start = wall_time_s()
        while (app.last_snapshot is None or app.last_snapshot.now_s < 0.5) and wall_time_s() - start < 10:
            await pilot.pause(0.05)
        monkeypatch.setattr(bus, "recv", gone)
        start = wall_time_s()
        while not app.paused and wall_time_s() - start < 10:
            await pilot.pause(0.05)
        assert app.paused and app.is_running
        assert any("adapter unplugged" in line for line in app.query_one(TransitionLog).entries)
        assert any("adapter unplugged" in n for n in notices(app))
        monkeypatch.setattr(bus, "recv", real_recv)   # plugged back in
        frozen = app.last_snapshot.now_s
        await pilot.press("space")
        start = wall_time_s()
        while app.last_snapshot.now_s <= frozen + 0.3 and wall_time_s() - start < 10:
            await pilot.pause(0.05)
        assert app.last_snapshot.now_s > frozen + 0.3
        await pilot.press("q")

    try:
        drive(session, body, tmp_path=tmp_path, autorun=True)
    finally:
        session.close()


def test_a_reports_folder_that_cannot_be_made_is_a_notice_not_a_crash(short_scenario: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way", encoding="utf-8")

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("4")
        view = app.query_one(ScenarioRunnerView)
        assert view.run_paths([short_scenario]) == []
        await pilot.pause()
        assert any("cannot write the reports" in n for n in notices(app)) and app.is_running

    with BenchSession.open() as session:
        app = HilbenchApp(session, autorun=False, report_dir=blocker / "reports", scenario_folder=short_scenario.parent,
                          runner_workers=1)

        async def main() -> None:
            async with app.run_test(size=WIDE) as pilot:
                await body(app, pilot)

        asyncio.run(main())


def test_a_silenced_node_reads_silent_in_the_bus_tab_not_a_nominal_rate(session: BenchSession,
                                                                        tmp_path: Path) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("2")
        app.step(3.0)
        session.act("node_silent", {"node": "vcu", "duration_s": 10.0})
        app.step(2.0)
        await pilot.pause()
        rows = {row[1]: row for row in app.query_one(BusMonitorView).visible_rows()}
        assert rows["VCU_VehicleStatus"][4].startswith("silent 2.")
        assert rows["BMS_PackStatus"][4] == "50.0/50"

    drive(session, body, size=WIDE, tmp_path=tmp_path)
