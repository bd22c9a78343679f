"""BusMonitorView through ``App.run_test()`` and the pilot, and its filter parser on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import time
from collections.abc import Awaitable, Callable

import can
import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.watch import FrameWatch, WatchedMessage
from tui.widgets.bus_monitor import (
    CHANGED_STYLE,
    OFF_RATE_STYLE,
    UNKNOWN_STYLE,
    BusMonitorView,
    cells,
    parse_filter,
)

SIZE = (160, 48)


@pytest.fixture(scope="module")
def bench_rows() -> list[WatchedMessage]:
    """Rows of the default bench after 2 s, with an unknown ID among them."""
    with Bench(BenchConfig()) as bench:
        watch = FrameWatch.attach(bench)
        bench.run_for(2.0)
        bench.restbus.send(can.Message(arbitration_id=0x7AB, is_extended_id=False, data=b"\x01\x02"))
        return watch.rows()


def row(frame_id: int, name: str | None, **fields: object) -> WatchedMessage:
    """A hand-made row; every field not given has a plain default."""
    base = WatchedMessage(frame_id=frame_id, extended=False, is_fd=False, name=name,
                          senders=("BMS",) if name else (), count=10, rate_hz=10.0, cycle_time_s=0.1,
                          last_dt_s=0.1, last_s=1.0, data=bytes(8), changed=(), signals={"A": 1.0})
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


class MonitorApp(App[None]):
    """Only the view under test."""

    def compose(self) -> ComposeResult:
        yield BusMonitorView()


def drive(body: Callable[[MonitorApp, BusMonitorView, Pilot], Awaitable[None]]) -> None:
    app = MonitorApp()

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await body(app, app.query_one(BusMonitorView), pilot)

    asyncio.run(main())


def screen_text(app: App) -> str:
    """What the terminal shows: the screenshot's text runs, without their SVG markup (no line breaks)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def type_filter(pilot: Pilot, view: BusMonitorView, text: str) -> None:
    filter_input = view.query_one(Input)
    filter_input.focus()
    filter_input.value = ""
    await pilot.press(*text)
    await pilot.pause()


# -- parse_filter ------------------------------------------------------------------------------------
def test_an_empty_filter_keeps_every_row() -> None:
    assert parse_filter("")(row(0x100, None)) and parse_filter("  ")(row(0x100, "X"))


def test_an_id_filter_matches_that_id_only() -> None:
    matches = parse_filter("0x1A0")
    assert matches(row(0x1A0, "A")) and matches(row(0x1A0, None, extended=True))
    assert not matches(row(0x1A1, "A"))


def test_an_id_mask_filter_matches_the_bits_under_the_mask() -> None:
    matches = parse_filter("0x100/0x700")
    assert [i for i in (0x0FF, 0x100, 0x17F, 0x1FF, 0x200, 0x500) if matches(row(i, "A"))] == [0x100, 0x17F, 0x1FF]
    assert parse_filter("0x18FF0000 / 1FFF0000")(row(0x18FF50E5, None, extended=True))


def test_a_regex_filter_searches_names_and_senders_ignoring_case() -> None:
    matches = parse_filter("pack|^cu_")
    assert matches(row(1, "BMS_PackStatus")) and matches(row(2, "CU_Status"))
    assert not matches(row(3, "VCU_VehicleStatus")) and not matches(row(4, None))
    assert parse_filter("obc")(row(5, "ChargerStatus", senders=("OBC",)))


@pytest.mark.parametrize(("text", "reason"), [
    ("BMS[", 'bad regular expression "BMS["'),
    ("0x", "expected 0xID (0x1A0) or 0xID/0xMASK"),
    ("0x100/", "expected 0xID (0x1A0) or 0xID/0xMASK"),
    ("0xZZ", "expected 0xID"),
    ("0x20000000", "ID 0x20000000 is wider than 29 bits"),
    ("0x100/0xFFFFFFFF", "mask 0xFFFFFFFF is wider than 29 bits"),
])
def test_a_bad_filter_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="bad") as info:
        parse_filter(text)
    assert reason in str(info.value)


# -- cells ---------------------------------------------------------------------------------------------
def test_cells_show_ids_rates_fd_and_unknown_names() -> None:
    assert [c.plain for c in cells(row(0x100, "BMS_PackStatus"))] == [
        "100", "BMS_PackStatus", "00 00 00 00 00 00 00 00", "10", "10.0/10", "100.0", "", "BMS", "", "A=1"]
    unknown = cells(row(0x18FF50E5, None, extended=True, is_fd=True, data=bytes(64), cycle_time_s=None))
    assert unknown[0].plain == "18FF50E5" and unknown[8].plain == "FD"
    assert unknown[1].plain == "?" and unknown[1].style == UNKNOWN_STYLE
    assert unknown[4].plain == "10.0"                  # no DBC cycle to compare with
    assert unknown[2].plain.endswith("00 +56")         # 8 of 64 bytes shown
    assert cells(row(0x100, "A", rate_hz=7.9))[4].style == OFF_RATE_STYLE       # 21 % slow
    assert cells(row(0x100, "A", rate_hz=8.1))[4].style == ""
    assert cells(row(0x100, "A", rate_hz=None, last_dt_s=None))[4].plain == "—"
    assert cells(row(0x100, "A", error="cannot decode A", signals={}))[9].plain == "cannot decode A"
    assert cells(row(0x100, "A", e2e_state="INVALID", e2e_errors=3))[6].plain == "INVALID 3"
    assert cells(row(0x100, "A", signals={"Name[1]": 0.1 + 0.2}))[9].plain == "Name[1]=0.3"   # no markup


# -- the widget ----------------------------------------------------------------------------------------
def test_the_bench_rows_are_shown_by_id_with_the_unknown_one(bench_rows: list[WatchedMessage]) -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(bench_rows)
        await pilot.pause()
        names = view.visible_names()
        assert names[0] == "BMS_PackStatus" and "?" in names and "CU_Status" in names
        assert len(names) == len(bench_rows)
        shown = screen_text(app)
        assert "BMS_PackStatus" in shown and "VCU_VehicleStatus" in shown
        fd = next(r for r in view.visible_rows() if r[1] == "BMS_ModuleCellsFD")
        assert fd[8] == "FD" and fd[2].endswith("+56")
        pack = next(r for r in view.visible_rows() if r[1] == "BMS_PackStatus")
        assert pack[4] == "50.0/50" and pack[6] == "VALID 0" and "AliveCounter=" in pack[9]

    drive(body)


def test_typing_a_filter_narrows_the_rows_and_the_screen(bench_rows: list[WatchedMessage]) -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(bench_rows)
        await type_filter(pilot, view, "BMS")
        assert view.filter_text == "BMS"
        names = view.visible_names()
        assert names and all(name.startswith("BMS_") for name in names)
        shown = screen_text(app)
        assert "BMS_PackStatus" in shown
        assert "VCU_VehicleStatus" not in shown and "CU_Status" not in shown
        view.show(bench_rows)              # new rows go through the same filter
        await pilot.pause()
        assert view.visible_names() == names

    drive(body)


def test_an_id_mask_filter_narrows_the_rows(bench_rows: list[WatchedMessage]) -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(bench_rows)
        await type_filter(pilot, view, "0x400/0x700")
        assert view.visible_names() == ["CU_Status", "CU_PowerRequest", "CU_Energy", "CU_InputHealth"]
        view.filter_text = "0x7AB"
        await pilot.pause()
        assert view.visible_names() == ["?"]

    drive(body)


def test_a_bad_regex_shows_its_error_and_keeps_the_table(bench_rows: list[WatchedMessage]) -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(bench_rows)
        await type_filter(pilot, view, "CU_")
        kept = view.visible_names()
        await pilot.press("[")
        await pilot.pause()
        error = view.query_one("#bus-monitor-error", Label)
        assert error.display and "bad regular expression" in view.filter_error
        assert 'bad regular expression "CU_["' in screen_text(app)
        assert view.visible_names() == kept
        await pilot.press("backspace")
        await pilot.pause()
        assert not error.display and view.filter_error == ""
        view.filter_text = "[/b]]("        # a bad regex that is also a stray closing markup tag
        await pilot.pause()
        assert error.display and '"[/b]]("' in screen_text(app) and view.visible_names() == kept

    drive(body)


def test_z_freezes_the_rows_while_newer_ones_come(bench_rows: list[WatchedMessage]) -> None:
    newer = [dataclasses.replace(r, count=r.count + 1000) for r in bench_rows]

    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(bench_rows)
        view.query_one(DataTable).focus()
        before = view.visible_rows()
        await pilot.press("z")
        assert view.paused and "FROZEN" in str(view.border_title)
        view.show(newer)
        await pilot.pause()
        assert view.visible_rows() == before
        await pilot.press("z")
        assert not view.paused
        view.show(newer)
        await pilot.pause()
        assert [r[3] for r in view.visible_rows()] == [f"{r.count + 1000:,}" for r in bench_rows]

    drive(body)


def test_z_typed_in_the_filter_is_text_not_a_freeze() -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        await type_filter(pilot, view, "zo")
        assert view.filter_text == "zo" and not view.paused and view.sort_by == "id"

    drive(body)


def test_o_cycles_the_sort_order() -> None:
    rows = [row(0x300, "Charger", count=5, rate_hz=1.0), row(0x100, "Pack", count=50, rate_hz=50.0),
            row(0x200, "Vehicle", count=500, rate_hz=10.0), row(0x7AB, None, count=1, rate_hz=None)]

    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(rows)
        view.query_one(DataTable).focus()
        assert view.visible_names() == ["Pack", "Vehicle", "Charger", "?"]
        orders = {}
        for _ in range(4):
            await pilot.press("o")
            await pilot.pause()
            orders[view.sort_by] = view.visible_names()
        assert orders == {
            "name": ["Charger", "Pack", "Vehicle", "?"],
            "count": ["Vehicle", "Pack", "Charger", "?"],
            "rate": ["Pack", "Vehicle", "Charger", "?"],
            "id": ["Pack", "Vehicle", "Charger", "?"],
        }
        assert "sort: id" in str(view.border_title)
        bindings = {b.key: b.description for b in BusMonitorView.BINDINGS}  # type: ignore[union-attr]
        assert bindings["z"] and bindings["o"]

    drive(body)


def test_changed_bytes_are_highlighted_in_the_cell(bench_rows: list[WatchedMessage]) -> None:
    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show([row(0x100, "A", data=bytes(range(8)), changed=(1, 7))])
        await pilot.pause()
        cell = view.query_one(DataTable).get_cell("s100", "data")
        assert isinstance(cell, Text) and cell.plain == "00 01 02 03 04 05 06 07"
        highlighted = [cell.plain[span.start:span.end] for span in cell.spans if span.style == CHANGED_STYLE]
        assert highlighted == ["01", "07"]
        pack = next(r for r in bench_rows if r.name == "BMS_PackStatus")
        view.show(bench_rows)
        await pilot.pause()
        cell = view.query_one(DataTable).get_cell(pack.key, "data")
        assert isinstance(cell, Text)
        starts = sorted(span.start for span in cell.spans if span.style == CHANGED_STYLE)
        assert starts == [3 * i for i in pack.changed] and 3 in starts     # the alive counter's byte

    drive(body)


def test_updates_keep_the_cursor_and_rows_in_place_and_are_cheap() -> None:
    rows = [row(0x100 + i, f"Msg{i:02d}", count=i, data=bytes(8)) for i in range(30)]

    async def body(app: MonitorApp, view: BusMonitorView, pilot: Pilot) -> None:
        view.show(rows)
        await pilot.pause()
        table = view.query_one(DataTable)
        table.focus()
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3
        added = table.row_count
        shows_s = []
        for n in range(1, 21):     # two seconds at 10 Hz: every count and one byte move
            newer = [dataclasses.replace(r, count=r.count + n, data=bytes([n]) + bytes(7), changed=(0,))
                     for r in rows]
            start = time.perf_counter()
            view.show(newer)
            shows_s.append(time.perf_counter() - start)
            await pilot.pause()
        assert table.cursor_row == 3 and table.row_count == added
        assert view.visible_rows()[5][3] == "25"
        mean_ms = 1000 * sum(shows_s) / len(shows_s)
        assert mean_ms < 20.0, f"show() of 30 rows took {mean_ms:.1f} ms on average"
        # A new ID rebuilds the table; the cursor stays on its row (now one further down).
        view.show([row(0x0FF, "First"), *rows])
        await pilot.pause()
        assert table.cursor_row == 4 and view.visible_names()[4] == "Msg03"

    drive(body)


def test_bare_hex_digits_filter_the_id_as_the_id_column_shows_it() -> None:
    matches = parse_filter("401")
    assert matches(row(0x401, "CU_PowerRequest"))
    assert not matches(row(0x400, "CU_Status"))
    assert matches(row(0x123, "Msg401"))          # or a name it is found in
    assert parse_filter("1A0")(row(0x1A0, "X"))
