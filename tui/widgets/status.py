"""One line at the top: bench time, scenario, speed, and whether time runs."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .format import clock

#: Columns from which the bar spells everything out.
WIDE_COLUMNS = 100
#: How much of a scenario's name a narrow bar keeps.
NARROW_NAME_CHARS = 28


class StatusBar(Widget):
    """Bench time (and the scenario's end), speed setting, achieved speed, running or paused."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    now_s: reactive[float] = reactive(0.0)
    """Bench time shown, seconds since the bench started."""

    paused: reactive[bool] = reactive(False)
    """True while bench time stands still."""

    speed: reactive[str] = reactive("")
    """The speed setting's label: ``1x`` ... ``600x`` or ``max``."""

    achieved: reactive[float | None] = reactive(None)
    """Bench seconds per wall second over the last stretch of running; ``None`` until measured."""

    scenario: reactive[str] = reactive("")
    """Name of the scenario being played, empty in free play."""

    end_s: reactive[float | None] = reactive(None)
    """Where the scenario ends, bench seconds; ``None`` in free play."""

    simulated: reactive[bool] = reactive(True)
    """True on the simulated clock, False on the wall clock (a real bus)."""

    def render(self) -> RenderableType:
        """One line: paused or running, scenario, bench time (of the end), clock, speed set and achieved.

        Below ``WIDE_COLUMNS`` the words around the values go and a long scenario name is cut, so
        the time and the speed always show.
        """
        wide = self.size.width >= WIDE_COLUMNS
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.paused:
            text.append(" PAUSED ", style="bold black on yellow")
        else:
            text.append(" RUNNING ", style="bold black on green")
        if wide:
            text.append("  hilbench", style="bold")
        name = self.scenario or "free play"
        if not wide and len(name) > NARROW_NAME_CHARS:
            name = name[:NARROW_NAME_CHARS - 1] + "…"
        text.append(f"  {name}")
        text.append("   bench time " if wide else "  ")
        text.append(clock(self.now_s), style="bold")
        if self.paused and self.simulated:
            # tenths while paused: a single step (s) moves the bench by one plant step, 0.1 s
            text.append(f".{int(round(self.now_s * 10)) % 10}", style="bold")
        if self.end_s is not None:
            text.append(f" / {clock(self.end_s)}" if wide else f"/{clock(self.end_s)}")
        if wide:
            text.append(f"   {'simulated' if self.simulated else 'wall clock'}")
        elif not self.simulated:
            text.append("  wall")
        text.append("   speed " if wide else "  ")
        text.append(self.speed, style="bold")
        if self.achieved is not None and not self.paused:
            text.append(f" (achieved {self.achieved:,.0f}x)" if wide else f" ({self.achieved:,.0f}x)", style="dim")
        return text
