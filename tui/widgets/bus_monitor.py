"""A per-message bus monitor, as ``can.viewer`` and ``cantools monitor`` show one: a row per frame ID.

Each row is a :class:`~hilbench.bus.watch.WatchedMessage` the bench's frame watch made (the widget
decodes nothing and imports no CAN library): ID, DBC name and sender, count, rate against the DBC
cycle, the time since the previous frame, the payload with the bytes that changed highlighted, the
E2E state, the decoded signals and the FD flag.  A filter above the table narrows the rows by ID,
ID/mask or a regular expression over names and senders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label

from hilbench.bus.watch import WatchedMessage

from .format import MISSING

RowFilter = Callable[[WatchedMessage], bool]

#: Largest frame ID (29-bit extended).
MAX_FRAME_ID = 0x1FFFFFFF
#: How far a rate may stray from the DBC cycle before it is coloured (fraction of the expected rate).
RATE_TOLERANCE = 0.2
#: Bytes of a payload shown; a longer (CAN FD) payload shows how many more there are.
DATA_BYTES_SHOWN = 8
#: Sort orders cycled by the ``o`` key, in that order.
SORT_ORDERS = ("id", "name", "count", "rate")

CHANGED_STYLE = "bold black on yellow"
UNKNOWN_STYLE = "bold red"
OFF_RATE_STYLE = "bold red"
E2E_STYLES = {"VALID": "green", "INIT": "yellow", "NODATA": "yellow", "INVALID": "bold red"}

_ID_FILTER = re.compile(r"0x([0-9a-f]+)(?:\s*/\s*(?:0x)?([0-9a-f]+))?", re.IGNORECASE)

#: Columns: key, header, width (cells; fixed, so a row can be updated in place without re-measuring).
#: Columns in order: what an 80-column terminal shows first (ID, name, bytes, count, rate) on the left.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "ID", 8),
    ("name", "name", 22),
    ("data", "data", 3 * DATA_BYTES_SHOWN + 3),
    ("count", "count", 8),
    ("rate", "rate Hz", 12),
    ("dt", "dt ms", 7),
    ("e2e", "E2E", 11),
    ("sender", "sender", 6),
    ("fd", "FD", 2),
    ("signals", "signals", 60),
)

#: A filter of hex digits only (``401``): the ID as the ID column shows it, or a regex over names.
_BARE_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")

#: Cycles without a frame after which a message reads "silent" in the rate column.
SILENT_CYCLES = 2.0

_SORT_KEYS: dict[str, Callable[[WatchedMessage], tuple]] = {
    "id": lambda r: (r.extended, r.frame_id),
    "name": lambda r: (r.name is None, (r.name or "").lower(), r.extended, r.frame_id),
    "count": lambda r: (-r.count, r.extended, r.frame_id),
    "rate": lambda r: (-(r.rate_hz or 0.0), r.extended, r.frame_id),
}


def parse_filter(text: str) -> RowFilter:
    """The row predicate a filter text means.

    ``""`` keeps every row; ``0x1A0`` keeps that ID (standard or extended), and so does ``1A0`` as the ID
    column writes it (or a name it is found in); ``0x100/0x700`` keeps the IDs
    whose bits under the mask equal the value's (``id & mask == value & mask``); anything else is a
    case-insensitive regular expression searched in the DBC name and the sender nodes.

    Raises:
        ValueError: an ID filter that is not ``0xID`` or ``0xID/0xMASK``, an ID or mask wider than
            29 bits, or a regular expression that does not compile; the message says which and why.
    """
    text = text.strip()
    if not text:
        return lambda row: True
    if text[:2].lower() == "0x":
        match = _ID_FILTER.fullmatch(text)
        if match is None:
            raise ValueError(f'bad ID filter "{text}": expected 0xID (0x1A0) or 0xID/0xMASK (0x100/0x700)')
        value = int(match[1], 16)
        mask = int(match[2], 16) if match[2] is not None else None
        for what, number in (("ID", value), ("mask", mask)):
            if number is not None and number > MAX_FRAME_ID:
                raise ValueError(f'bad ID filter "{text}": {what} 0x{number:X} is wider than 29 bits '
                                 f"(largest 0x{MAX_FRAME_ID:X})")
        if mask is None:
            return lambda row: row.frame_id == value
        wanted = value & mask
        return lambda row: row.frame_id & mask == wanted
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f'bad regular expression "{text}": {exc}') from None

    def by_name(row: WatchedMessage) -> bool:
        return bool(pattern.search(row.name or "")) or any(pattern.search(s) for s in row.senders)

    if _BARE_HEX.fullmatch(text):
        # "401" as the ID column shows it (hex, no 0x), or in a name
        frame_id = int(text, 16)
        return lambda row: row.frame_id == frame_id or by_name(row)
    return by_name


# -- cells --------------------------------------------------------------------------------------------
def id_cell(row: WatchedMessage) -> str:
    """The ID in hex as candump writes it: 3 digits standard, 8 extended."""
    return f"{row.frame_id:08X}" if row.extended else f"{row.frame_id:03X}"


def rate_cell(row: WatchedMessage, now_s: float | None = None) -> Text:
    """Measured rate over the DBC's (``10.0/10``), coloured when more than 20 % off; ``silent 3.2 s`` (coloured)
    when nothing came for ``SILENT_CYCLES`` cycles by ``now_s`` (the mean rate of a node gone quiet
    would read as nominal)."""
    cycle = row.cycle_time_s
    if now_s is not None and cycle and now_s - row.last_s > SILENT_CYCLES * cycle:
        return Text(f"silent {now_s - row.last_s:.1f} s", style=OFF_RATE_STYLE)
    if row.rate_hz is None:
        return Text(MISSING)
    expected = row.expected_rate_hz
    if expected is None:
        return Text(f"{row.rate_hz:.1f}")
    off = abs(row.rate_hz / expected - 1.0) > RATE_TOLERANCE
    return Text(f"{row.rate_hz:.1f}/{expected:g}", style=OFF_RATE_STYLE if off else "")


def data_cell(row: WatchedMessage) -> Text:
    """The payload in hex, the bytes changed since the previous frame highlighted; a long one cut short."""
    text = Text()
    changed = set(row.changed)
    for i, byte in enumerate(row.data[:DATA_BYTES_SHOWN]):
        if i:
            text.append(" ")
        text.append(f"{byte:02X}", style=CHANGED_STYLE if i in changed else "")
    more = len(row.data) - DATA_BYTES_SHOWN
    if more > 0:
        hidden_changed = any(i >= DATA_BYTES_SHOWN for i in changed)
        text.append(f" +{more}", style=CHANGED_STYLE if hidden_changed else "dim")
    return text


def e2e_cell(row: WatchedMessage) -> Text:
    """E2E state and error count (``VALID 0``); empty for a message the bench does not check."""
    if row.e2e_state is None:
        return Text("")
    text = Text(row.e2e_state, style=E2E_STYLES.get(row.e2e_state, ""))
    errors = row.e2e_errors or 0
    text.append(f" {errors}", style="bold red" if errors else "dim")
    return text


def signals_cell(row: WatchedMessage) -> Text:
    """The decoded signals as ``name=value`` (short numbers), or why the payload did not decode."""
    if row.error is not None:
        return Text(row.error, style="red")
    return Text(" ".join(f"{name}={_short(value)}" for name, value in row.signals.items()))


def _short(value: object) -> str:
    return format(value, ".6g") if isinstance(value, float) else str(value)


def cells(row: WatchedMessage, now_s: float | None = None) -> tuple[Text, ...]:
    """Every cell of ``row``, in :data:`COLUMNS` order (FD before the signals: the widest last).

    All :class:`~rich.text.Text`, none a ``str``: the table would parse a string as markup on every
    repaint (a third of its cost) and read a bracket in it as a tag.
    """
    return (
        Text(id_cell(row)),
        Text(row.name) if row.name is not None else Text("?", style=UNKNOWN_STYLE),
        data_cell(row),
        Text(f"{row.count:,}"),
        rate_cell(row, now_s),
        Text(MISSING if row.last_dt_s is None else f"{row.last_dt_s * 1000.0:.1f}"),
        e2e_cell(row),
        Text(",".join(row.senders)),
        Text("FD" if row.is_fd else ""),
        signals_cell(row),
    )


def _same(a: Text, b: Text) -> bool:
    """Whether two cells look the same (rich's ``Text ==`` ignores the base style)."""
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


_CELL_ORDER = tuple(key for key, _header, _width in COLUMNS)


class BusMonitorView(Widget):
    """A filter and a table with one row per frame ID, fed by :meth:`show`.

    Keys (while the table has focus; tab moves between filter and table, enter in the filter goes to
    the table): ``z`` freezes / unfreezes the rows (new rows are ignored while frozen, so a payload can be
    read), ``o`` cycles the sort order: ID, name, count (most first), rate (fastest first).

    Filter: ``0x1A0`` (that ID), ``0x100/0x700`` (ID/mask), else a case-insensitive regular expression over
    DBC name and sender; a bad one is shown under the filter and the last good one stays.
    """

    DEFAULT_CSS = """
    BusMonitorView {
        height: 1fr;
        border: round $primary-darken-1;
        border-title-style: bold;
    }
    BusMonitorView > #bus-monitor-filter {
        height: 1;
        border: none;
        padding: 0 1;
    }
    BusMonitorView > #bus-monitor-error {
        height: auto;
        color: $error;
        padding: 0 1;
    }
    BusMonitorView > #bus-monitor-table {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("z", "toggle_pause", "freeze/unfreeze rows"),
        Binding("o", "cycle_sort", "sort: id/name/count/rate"),
    ]

    paused: reactive[bool] = reactive(False, init=False)
    """Whether the rows are frozen: :meth:`show` ignores what it is given until unfrozen."""

    sort_by: reactive[str] = reactive("id", init=False)
    """How the rows are ordered: one of :data:`SORT_ORDERS`."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._rows: list[WatchedMessage] = []
        self._now_s: float | None = None
        self._matches: RowFilter = parse_filter("")
        #: The row keys the table shows, in order, and each row's cells as last written.
        self._shown: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        #: The text of the filter's last problem ("" when it parsed).
        self.filter_error = ""

    def compose(self) -> ComposeResult:
        """The filter, its error line (hidden while there is none), and the table."""
        yield Input(placeholder="filter: 0x1A0 | 0x100/0x700 | regex over name and sender",
                    id="bus-monitor-filter")
        error = Label("", id="bus-monitor-error")
        error.display = False
        yield error
        table: DataTable[Text] = DataTable(id="bus-monitor-table", cursor_type="row", zebra_stripes=True)
        for key, header, width in COLUMNS:
            table.add_column(header, key=key, width=width)
        yield table

    def on_mount(self) -> None:
        """Title the border, and show rows given before the widget was mounted."""
        self._retitle()
        self._refresh_table()

    # -- the public API ------------------------------------------------------------------------------
    def show(self, rows: Sequence[WatchedMessage], now_s: float | None = None) -> None:
        """Show ``rows`` (all IDs seen; the filter picks), unless frozen; ``now_s``: the bench time the rows
        were taken at (a message not heard for ``SILENT_CYCLES`` cycles by then reads ``silent``).

        Rows whose keys and order did not change are updated cell by cell (only the cells that
        changed), so the cursor and the scroll position stay; a new ID, a filter or sort change
        rebuilds the table and puts the cursor back on the row it was on.
        """
        if self.paused:
            return
        self._rows = list(rows)
        self._now_s = now_s
        self._refresh_table()

    @property
    def filter_text(self) -> str:
        """The filter as typed."""
        return self.query_one("#bus-monitor-filter", Input).value

    @filter_text.setter
    def filter_text(self, text: str) -> None:
        self.query_one("#bus-monitor-filter", Input).value = text
        self._apply_filter(text)

    def visible_rows(self) -> list[tuple[str, ...]]:
        """The plain text of every cell of the rows shown, top to bottom."""
        table = self._table
        return [tuple(_plain(cell) for cell in table.get_row(key)) for key in self._shown]

    def visible_names(self) -> list[str]:
        """The name cell of the rows shown, top to bottom (``?`` for an ID no DBC defines)."""
        return [row[1] for row in self.visible_rows()]

    # -- keys ----------------------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        """Freeze or unfreeze the rows."""
        self.paused = not self.paused

    def action_cycle_sort(self) -> None:
        """Sort by the next order of :data:`SORT_ORDERS`."""
        self.sort_by = SORT_ORDERS[(SORT_ORDERS.index(self.sort_by) + 1) % len(SORT_ORDERS)]

    def watch_paused(self) -> None:
        """Say in the title whether the rows are frozen."""
        self._retitle()

    def validate_sort_by(self, order: str) -> str:
        """Refuse an order that is not one of :data:`SORT_ORDERS`."""
        if order not in SORT_ORDERS:
            raise ValueError(f'unknown sort order "{order}"; expected one of {", ".join(SORT_ORDERS)}')
        return order

    def watch_sort_by(self) -> None:
        """Re-sort the rows shown (frozen ones too)."""
        self._retitle()
        self._refresh_table()

    @on(Input.Changed, "#bus-monitor-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    @on(Input.Submitted, "#bus-monitor-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._table.focus()

    # -- the table -----------------------------------------------------------------------------------
    @property
    def _table(self) -> DataTable[Text]:
        return self.query_one("#bus-monitor-table", DataTable)

    def _retitle(self) -> None:
        frozen = " · FROZEN (z)" if self.paused else ""
        self.border_title = f"bus monitor · sort: {self.sort_by}{frozen}"

    def _apply_filter(self, text: str) -> None:
        """Use the filter ``text`` if it parses; else show why and keep the last good one."""
        error = self.query_one("#bus-monitor-error", Label)
        try:
            matches = parse_filter(text)
        except ValueError as exc:
            self.filter_error = str(exc)
            error.update(Text(self.filter_error))     # as text: a bracket in the filter is no markup
            error.display = True
            return
        self.filter_error = ""
        error.display = False
        self._matches = matches
        self._refresh_table()

    def _refresh_table(self) -> None:
        if not self.is_mounted:
            return
        rows = sorted((r for r in self._rows if self._matches(r)), key=_SORT_KEYS[self.sort_by])
        keys = [r.key for r in rows]
        table = self._table
        if keys != self._shown:
            self._rebuild(table, rows, keys)
            return
        for row in rows:
            new = cells(row, self._now_s)
            old = self._cells[row.key]
            for column, a, b in zip(_CELL_ORDER, old, new):
                if not _same(a, b):
                    table.update_cell(row.key, column, b)
            self._cells[row.key] = new

    def _rebuild(self, table: DataTable[Text], rows: list[WatchedMessage], keys: list[str]) -> None:
        """Fill the table anew, keeping the cursor on its row (if still shown) and the scroll position."""
        cursor_key = self._shown[table.cursor_row] if 0 <= table.cursor_row < len(self._shown) else None
        scroll_y = table.scroll_y
        table.clear()
        self._cells = {}
        for row in rows:
            self._cells[row.key] = new = cells(row, self._now_s)
            table.add_row(*new, key=row.key)
        self._shown = keys
        if cursor_key in self._cells:
            table.cursor_coordinate = Coordinate(keys.index(cursor_key), 0)
        table.call_after_refresh(table.scroll_to, y=scroll_y, animate=False)


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)
