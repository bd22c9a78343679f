"""A log of the supervisor's transitions, as the DUT reports them, with the actions done to the bench."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from hilbench.bench import BenchSnapshot

from ..session import Event
from .compute import STATE_STYLES
from .format import clock


class TransitionLog(RichLog):
    """Supervisor transitions (new ones only) and bench events, merged in bench-time order.

    Lines wrap rather than being cut: a reason code is read whole at any width.
    """

    DEFAULT_CSS = """
    TransitionLog {
        height: 1fr;
        border: round $primary-darken-1;
        border-title-style: bold;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=2000, wrap=True, min_width=20, markup=False, highlight=False, auto_scroll=True,
                         name=name, id=id, classes=classes)
        self._last_transition: tuple[float, str, str] | None = None
        self._unwritten: list[Text] = []
        self.entries: list[str] = []
        """Plain text of every line written, oldest first (what the log shows, without colour)."""

    def on_mount(self) -> None:
        """Put the log's title on the border."""
        self.border_title = "supervisor transitions and bench actions"

    def show(self, snapshot: BenchSnapshot, events: Iterable[Event] = ()) -> None:
        """Write the transitions in ``snapshot`` not yet written, and ``events``, oldest first."""
        last = self._last_transition
        fresh = [t for t in snapshot.transitions if last is None or t[0] > last[0]]
        if fresh:
            self._last_transition = fresh[-1]
        lines: list[tuple[float, int, Text]] = []
        for at_s, state, reason in fresh:
            text = Text(f"{clock(at_s)}  ")
            text.append(f"{state:<10}", style=STATE_STYLES.get(state, ""))
            text.append(f" {reason}")
            lines.append((at_s, 1, text))
        for event in events:
            style = "bold red" if event.text.startswith("error:") else "italic cyan"
            lines.append((event.at_s, 0, Text(f"{clock(event.at_s)}  > {event.text}", style=style)))
        for _at, _order, text in sorted(lines, key=lambda line: (line[0], line[1])):
            self._add(text)

    def write_error(self, at_s: float, text: str, *, error: bool = True) -> None:
        """One line from the app itself (an error advancing the bench, a scenario loaded again)."""
        self._add(Text(f"{clock(at_s)}  ! {text}", style="bold red" if error else "bold"))

    def _add(self, line: Text) -> None:
        """Keep the line; write it now if the log is on screen, else once it is (a log in a hidden tab
        has no width, and a line written then would wrap at ``min_width``)."""
        self.entries.append(line.plain)
        if self.size.width:
            self.write(line)
        else:
            self._unwritten.append(line)

    def on_resize(self, event: Resize) -> None:
        """Write the lines kept while the log had no width (after RichLog's own first-size handling)."""
        super().on_resize(event)
        if self.size.width and self._unwritten:
            lines, self._unwritten = self._unwritten, []
            for line in lines:
                self.write(line)
