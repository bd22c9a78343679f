"""Base of the panels that show a snapshot as labelled rows in a bordered box."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from hilbench.bench import BenchSnapshot

Cell = str | Text
Row = tuple[Cell, ...]


class ReadoutPanel(Widget):
    """Labelled rows computed from the latest snapshot; subclasses say which rows.

    ``HEADERS`` names the value columns (e.g. ``("plant", "bus")``: the plant's
    truth beside what the bus says); an empty tuple shows one value column and
    no header line.
    """

    DEFAULT_CSS = """
    ReadoutPanel {
        height: auto;
        border: round $primary-darken-1;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    TITLE: ClassVar[str] = ""
    HEADERS: ClassVar[tuple[str, ...]] = ()
    #: Cells of each value column, enough for the longest value the panel shows.
    VALUE_WIDTH: ClassVar[int] = 10

    snapshot: reactive[BenchSnapshot | None] = reactive(None)
    """The latest bench snapshot shown; ``None`` until the first one arrives."""

    def on_mount(self) -> None:
        """Put ``TITLE`` on the border."""
        self.border_title = self.TITLE

    def rows(self, snapshot: BenchSnapshot) -> list[Row]:
        """The rows to show: a label, then one cell per value column."""
        raise NotImplementedError

    def render(self) -> RenderableType:
        """A grid of :meth:`rows` under the ``HEADERS``; values keep their width and long labels are cut first."""
        table = Table.grid(padding=(0, 1), expand=True)
        # values keep their width on a narrow terminal; the label gives way (ellipsis) first
        table.add_column(style="dim", no_wrap=True, overflow="ellipsis", ratio=1)
        width = max(1, len(self.HEADERS))
        for _ in range(width):
            table.add_column(justify="right", no_wrap=True, width=self.VALUE_WIDTH)
        if self.HEADERS:
            table.add_row("", *(Text(h, style="dim italic") for h in self.HEADERS))
        if self.snapshot is None:
            table.add_row("waiting for the bench", *([""] * width))
            return table
        for row in self.rows(self.snapshot):
            table.add_row(*row)
        return table
