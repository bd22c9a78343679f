"""The help screen (``?`` or F1): every key of the app and of each tab, and what it does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: (where the key works, key as shown, what it does)
KeyRow = tuple[str, str, str]


def key_rows(where: str, bindings: Iterable[BindingType]) -> list[KeyRow]:
    """The rows of a widget's or the app's ``BINDINGS`` (``Binding`` objects and ``(key, action, text)`` tuples)."""
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding):
            keys, description, shown = binding.key, binding.description, binding.key_display
        else:
            keys, description, shown = binding[0], binding[2] if len(binding) > 2 else binding[1], None
        rows.append((where, shown or keys.replace(",", " / "), description))
    return rows


class HelpScreen(ModalScreen[None]):
    """A table of every key, over the running app (the bench keeps running underneath)."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "dismiss", "close help"),
    ]

    def __init__(self, rows: Sequence[KeyRow]) -> None:
        super().__init__()
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        """The key table in a scrolling box."""
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        for where, key, description in self.rows:
            table.add_row(where, key, description)
        with VerticalScroll() as box:
            box.border_title = "keys (escape closes; the mouse works everywhere: click tabs, rows, buttons)"
            yield Static(table)
            yield Static(Text("Scenario files, the bus monitor's filter syntax and the fault panel's parameters "
                              "are described in the README's TUI section.", style="dim"))
