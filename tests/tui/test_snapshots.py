"""What the app draws, at 80x24 and 160x48 (pytest-textual-snapshot; ``--snapshot-update`` redraws them).

The bench runs in simulated time and the app's timer is off, so every cell is the same on every run:
a changed snapshot is a changed screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tui.app import HilbenchApp
from tui.session import BenchSession


@pytest.fixture
def app(tmp_path: Path):
    session = BenchSession.open()
    try:
        yield HilbenchApp(session, autorun=False, report_dir=tmp_path)
    finally:
        session.close()


async def _explore(pilot: Pilot) -> None:
    """30 s parked, plugged in at 10 s, 4 s in D from 20 s: the trend shows the stop, the log the transitions."""
    app = pilot.app
    assert isinstance(app, HilbenchApp)
    app.step(10.0)
    await pilot.press("p")
    app.step(10.0)
    await pilot.press("g")
    app.step(4.0)
    await pilot.press("g")
    app.step(6.0)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_overview(snap_compare, app: HilbenchApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_explore)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_bus_tab(snap_compare, app: HilbenchApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("2")
        await _explore(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_faults_tab(snap_compare, app: HilbenchApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _explore(pilot)
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_help_80x24(snap_compare, app: HilbenchApp) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
