"""SOC and power over the last stretch of bench time, as sparklines."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from hilbench.bench import BenchSnapshot

from .format import clock

#: Bench seconds between two samples, and how many samples are kept (10 s x 360 = the last hour).
SAMPLE_PERIOD_S = 10.0
MAX_SAMPLES = 360


@dataclass(frozen=True)
class Series:
    """One sparkline: which snapshot value (``key``), its title and unit, and its format spec."""

    key: str
    title: str
    unit: str
    spec: str


SERIES = (
    Series("soc", "SOC (bus)", "%", ".1f"),
    Series("compute", "compute power (bus)", "W", ".0f"),
    Series("charge", "charge power (plant)", "kW", ".2f"),
)


def _value(series: Series, snapshot: BenchSnapshot) -> float | None:
    if series.key == "charge":
        return snapshot.charge_power_w / 1000.0
    value = snapshot.bus.get("soc_pct" if series.key == "soc" else "compute_power_w")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class TrendPanel(Widget):
    """A sparkline per series, sampled every ``SAMPLE_PERIOD_S`` of bench time, with its range in words."""

    DEFAULT_CSS = """
    TrendPanel {
        height: auto;
        border: round $primary-darken-1;
        border-title-style: bold;
        padding: 0 1;
    }
    TrendPanel > .trend-label {
        height: 1;
        width: 1fr;
        color: $text-muted;
    }
    TrendPanel > Sparkline {
        height: 2;
    }
    """

    snapshot: reactive[BenchSnapshot | None] = reactive(None)
    """The latest bench snapshot; a sample is taken from it when ``SAMPLE_PERIOD_S`` has passed."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._samples: dict[str, deque[tuple[float, float]]] = {s.key: deque(maxlen=MAX_SAMPLES) for s in SERIES}
        self._last_sample_s: float | None = None

    def compose(self) -> ComposeResult:
        """A title line and a sparkline per series, empty until the first sample."""
        for series in SERIES:
            yield Label(f"{series.title}: no data yet", id=f"{series.key}-label", classes="trend-label")
            yield Sparkline([], id=f"{series.key}-line")

    def on_mount(self) -> None:
        """Put the title on the border."""
        self.border_title = "trend"

    def samples(self, key: str) -> list[tuple[float, float]]:
        """The kept samples of one series as ``(bench seconds, value)``."""
        return list(self._samples[key])

    def watch_snapshot(self, snapshot: BenchSnapshot | None) -> None:
        """Take a sample when ``SAMPLE_PERIOD_S`` of bench time passed since the last, and redraw."""
        if snapshot is None:
            return
        if self._last_sample_s is not None and snapshot.now_s < self._last_sample_s + SAMPLE_PERIOD_S:
            return
        self._last_sample_s = snapshot.now_s
        for series in SERIES:
            value = _value(series, snapshot)
            if value is not None:
                self._samples[series.key].append((snapshot.now_s, value))
            self._show(series)

    def _show(self, series: Series) -> None:
        samples = self._samples[series.key]
        if not samples:
            return
        values = [v for _t, v in samples]
        span = clock(samples[-1][0] - samples[0][0])
        self.query_one(f"#{series.key}-line", Sparkline).data = values
        self.query_one(f"#{series.key}-label", Label).update(
            f"{series.title}: now {values[-1]:{series.spec}} {series.unit}, "
            f"range {min(values):{series.spec}} .. {max(values):{series.spec}} over the last {span}")
