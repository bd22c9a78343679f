"""One line at the top: bench time, scenario, speed, and whether time runs."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .format import clock


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
        """One line: paused or running, scenario, bench time (of the end), clock, speed set and achieved."""
        text = Text()
        if self.paused:
            text.append(" PAUSED ", style="bold black on yellow")
        else:
            text.append(" RUNNING ", style="bold black on green")
        text.append("  hilbench", style="bold")
        text.append(f"  {self.scenario or 'free play'}")
        text.append("   bench time ")
        text.append(clock(self.now_s), style="bold")
        if self.end_s is not None:
            text.append(f" / {clock(self.end_s)}")
        text.append(f"   {'simulated' if self.simulated else 'wall clock'}")
        text.append("   speed ")
        text.append(self.speed, style="bold")
        if self.achieved is not None and not self.paused:
            text.append(f" (achieved {self.achieved:,.0f}x)", style="dim")
        return text
