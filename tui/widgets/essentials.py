"""The first thing on screen at any size: SOC against the reserve, the supervisor's state and full reason,
compute power and level, junction, plug and control pilot, gear."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from hilbench.bench import BenchSnapshot

from .compute import LEVEL_STYLES, STATE_STYLES
from .format import MISSING, flag, number, state
from .pack import FAULT_STYLES
from .vehicle import CP_STYLES, GEAR_STYLES


def _soc_line(snapshot: BenchSnapshot) -> Text:
    """Bus SOC, the driver's reserve, and the margin between them (red at or below the reserve)."""
    soc = snapshot.bus.get("soc_pct")
    reserve = snapshot.bus.get("range_reserve_soc_pct", snapshot.reserve_soc_pct)
    text = Text(number(soc, ".1f", "%"), style="bold")
    text.append(f"  reserve {number(reserve, '.0f', '%')}")
    if isinstance(soc, (int, float)) and isinstance(reserve, (int, float)):
        margin = soc - reserve
        text.append(f"  margin {margin:+.1f}", style="bold red" if margin <= 0 else "green")
    return text


class EssentialsPanel(Widget):
    """SOC against the reserve on a line of its own, six facts in a two-column grid, then the supervisor's
    reason in full (never cut: reason codes are long)."""

    DEFAULT_CSS = """
    EssentialsPanel {
        height: auto;
        border: round $accent;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    snapshot: reactive[BenchSnapshot | None] = reactive(None)
    """The latest bench snapshot shown."""

    def on_mount(self) -> None:
        """Title the border."""
        self.border_title = "now (as the bus says)"

    def render(self) -> RenderableType:
        """The grid, then ``reason: ...`` (wrapped, never cut)."""
        s = self.snapshot
        if s is None:
            return Text("waiting for the bench", style="dim")
        bus = s.bus
        grid = Table.grid(padding=(0, 1), expand=True)
        for ratio in (0, 1, 0, 1):
            grid.add_column(style="dim" if ratio == 0 else "", no_wrap=True, ratio=ratio or None)
        plug = Text(flag(bus.get("plug_present"), "in", "out"))
        plug.append("  CP ")
        plug.append(state(bus.get("cp_state"), CP_STYLES))
        power = Text(number(bus.get("compute_power_w"), ".0f", "W"), style="bold")
        power.append("  ")
        power.append(state(bus.get("cu_power_level"), LEVEL_STYLES))
        grid.add_row("supervisor", state(bus.get("cu_state"), STATE_STYLES), "compute", power)
        grid.add_row("junction", number(bus.get("junction_temp_c"), ".1f", "C"),
                     "gear", state(bus.get("gear"), GEAR_STYLES))
        grid.add_row("plug", plug, "charge", number(_kw(bus.get("charge_power_w")), ".2f", "kW"))
        soc = Text("SOC ", style="dim")
        soc.append(_soc_line(s))
        soc.append("   BMS fault ", style="dim")
        soc.append(state(bus.get("bms_fault_level"), FAULT_STYLES))
        reason = bus.get("cu_reason")
        line = Text("reason ", style="dim")
        line.append(MISSING if reason is None else str(reason), style="bold")
        return Group(soc, grid, line)


def _kw(watts: object) -> object:
    return watts / 1000.0 if isinstance(watts, (int, float)) and not isinstance(watts, bool) else watts
