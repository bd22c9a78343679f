"""Scenario errors inside the TUI are shown in the app, which keeps running: through the pilot.

A scenario file edited into a broken one and reloaded (``r``), a step that cannot act when it fires,
a key that cannot act, a failure advancing the bench in the worker thread: each is shown (problems
panel, log line, notification), time goes on or waits for space, and nothing ends the app.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot

from hilbench.errors import ScenarioError
from hilbench.scenarios import actions
from tui.app import HilbenchApp
from tui.session import BenchSession
from tui.widgets import ProblemsPanel, StatusBar, TransitionLog

SIZE = (140, 45)


def shown(widget) -> str:
    """The text a widget renders (no colour)."""
    console = Console(width=max(widget.size.width, 60), file=io.StringIO(), record=True, color_system=None)
    console.print(widget.render())
    return console.export_text()


def drive(session: BenchSession, body: Callable[[HilbenchApp, Pilot], Awaitable[None]]) -> HilbenchApp:
    app = HilbenchApp(session, autorun=False)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await body(app, pilot)
            assert app.is_running, "the app ended"

    asyncio.run(main())
    return app


def notices(app: HilbenchApp) -> list[str]:
    """The messages of the notifications on screen."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


def test_a_scenario_edited_into_a_broken_one_is_shown_and_the_bench_runs_on(short_scenario: Path) -> None:
    good = short_scenario.read_text(encoding="utf-8")
    broken = good.replace('soc_pct = 60.0', 'soc_pct = 365.0').replace('action = "plug_in"',
                                                                                  'action = "plug_inn"')

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        first = app.session
        app.step(5.0)
        panel = app.query_one(ProblemsPanel)
        assert not panel.display
        short_scenario.write_text(broken, encoding="utf-8")
        await pilot.press("r")
        await pilot.pause()
        assert panel.display and app.refused is not None
        text = shown(panel)
        assert "initial.soc_pct (line 7): 365% is outside 0..100%" in text
        assert "steps[0].action (line 11): unknown action 'plug_inn'" in text
        assert str(short_scenario) in panel.border_title
        assert any("2 problem(s)" in n for n in notices(app))
        assert app.session is first and not first.closed          # the bench runs on as it was
        assert app.step(5.0).now_s == pytest.approx(10.0)
        short_scenario.write_text(good, encoding="utf-8")
        await pilot.press("r")
        await pilot.pause()
        assert not panel.display and app.refused is None
        assert first.closed and app.session is not first
        assert app.session.now_s == pytest.approx(0.0)           # the reloaded scenario starts again
        assert app.query_one(StatusBar).scenario == "short"

    with BenchSession.open(short_scenario) as session:
        app = drive(session, body)
    app.session.close()


def test_a_step_that_cannot_act_is_logged_and_notified_and_time_goes_on(short_scenario: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_plug_in(bench, cable_ohm: float = 220.0, evse_max_current_a: float = 0.0) -> None:
        raise ScenarioError("the charging cable is jammed")

    monkeypatch.setitem(actions.ACTIONS, "plug_in", replace(actions.ACTIONS["plug_in"], func=broken_plug_in))

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        assert app.step(15.0).now_s == pytest.approx(15.0)       # the step at 10 s fired and failed
        await pilot.pause()
        log = app.query_one(TransitionLog)
        assert any("error: step plug in could not act: the charging cable is jammed" in e for e in log.entries)
        assert any("the charging cable is jammed" in n for n in notices(app))
        assert not app.last_snapshot.plugged_in
        assert app.step(10.0).now_s == pytest.approx(25.0)

    with BenchSession.open(short_scenario) as session:
        drive(session, body)


def test_a_key_that_cannot_act_is_shown_and_the_app_keeps_running(session: BenchSession,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_shift(bench, gear: str) -> None:
        raise ValueError("selector stuck")

    monkeypatch.setitem(actions.ACTIONS, "shift", replace(actions.ACTIONS["shift"], func=broken_shift))

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        app.paused = True
        await pilot.press("g")
        await pilot.pause()
        log = app.query_one(TransitionLog)
        assert any("could not act: ValueError: selector stuck" in e for e in log.entries)
        assert app.step(1.0).now_s == pytest.approx(1.0)

    drive(session, body)


def test_a_failure_in_the_worker_thread_pauses_time_and_is_shown(session: BenchSession,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_advance = session.advance

    def failing(duration_s, **kwargs):
        raise RuntimeError("clock heap corrupted")

    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        monkeypatch.setattr(session, "advance", failing)
        app._advance_in_thread(1.0)          # what the timer's worker runs
        await pilot.pause()
        assert app.paused
        log = app.query_one(TransitionLog)
        assert any("the bench stopped: RuntimeError: clock heap corrupted" in e for e in log.entries)
        assert any("clock heap corrupted" in n for n in notices(app))
        monkeypatch.setattr(session, "advance", real_advance)
        await pilot.press("space")
        assert not app.paused and app.step(2.0).now_s == pytest.approx(2.0)

    drive(session, body)


def test_reload_in_free_play_says_there_is_no_file(session: BenchSession) -> None:
    async def body(app: HilbenchApp, pilot: Pilot) -> None:
        await pilot.press("r")
        await pilot.pause()
        assert any("no scenario file to reload" in n for n in notices(app))
        assert app.session is session

    drive(session, body)
