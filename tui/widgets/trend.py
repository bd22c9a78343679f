"""SOC, compute power and charge power over the last stretch of bench time, as min/max range bars.

Each column is one bucket of bench time (:data:`tui.trend_data.BUCKET_S`) drawn from its
lowest to its highest value, filled from every frame the bus carried (the session's
buckets), so a 4 s stop inside a bucket shows as a bar reaching down to 0 W.  A row of
marks under the bars shows where actions (keys, fault panel, scenario steps) happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..trend_data import BUCKET_S, Bucket, range_columns
from .format import clock

#: Rows of bars per series.
BAR_ROWS = 2


@dataclass(frozen=True)
class Series:
    """One trend: the bus role it follows, its title and unit, its format spec, and a scale factor."""

    role: str
    title: str
    unit: str
    spec: str
    scale: float = 1.0


SERIES = (
    Series("soc_pct", "SOC", "%", ".1f"),
    Series("compute_power_w", "compute", "W", ".0f"),
    Series("charge_power_w", "charge", "kW", ".2f", 1e-3),
)


class TrendPanel(Widget):
    """A range-bar trend per series, newest bucket on the right, with the actions marked beneath."""

    DEFAULT_CSS = f"""
    TrendPanel {{
        height: {len(SERIES) * (1 + BAR_ROWS) + 1 + 2};
        border: round $primary-darken-1;
        border-title-style: bold;
        padding: 0 1;
    }}
    """

    trends: reactive[Mapping[str, tuple[Bucket, ...]]] = reactive(dict, always_update=True)
    """Per role, its buckets (oldest first), as the session keeps them."""

    marks_s: reactive[tuple[float, ...]] = reactive(())
    """Bench times of the actions done (keys, fault panel, scenario steps)."""

    def on_mount(self) -> None:
        """Title the border."""
        self.border_title = f"trend (min..max per {BUCKET_S:g} s)"

    def mark(self, times_s: Iterable[float]) -> None:
        """Add action times to the marks."""
        self.marks_s = (*self.marks_s, *times_s)

    def samples(self, role: str) -> tuple[Bucket, ...]:
        """The buckets of one series (tests)."""
        return self.trends.get(role, ())

    def summary(self, series: Series, start: int | None = None) -> str:
        """``SOC 61.2 % (58.0..61.2 over 0:10:00)``: now, and the range over the columns shown (from bucket
        ``start``; all kept when None); or that there is no data yet."""
        buckets = [b for b in self.trends.get(series.role, ()) if start is None or b.index >= start]
        if not buckets:
            return f"{series.title}: no data yet"
        low = min(b.low for b in buckets) * series.scale
        high = max(b.high for b in buckets) * series.scale
        first = buckets[0].index if start is None else start
        span = clock((buckets[-1].index - first + 1) * BUCKET_S)
        return (f"{series.title} {buckets[-1].last * series.scale:{series.spec}} {series.unit} "
                f"({low:{series.spec}}..{high:{series.spec}} over {span})")

    def render(self) -> RenderableType:
        """Per series a summary line and ``BAR_ROWS`` rows of range bars; then the marks row.

        Columns are aligned on bench time across the series: column ``i`` is bucket ``start + i``.
        """
        width = max(1, self.size.width)
        kept = [self.trends.get(series.role, ()) for series in SERIES]
        start = self._first_column(kept, width)
        text = Text(no_wrap=True, overflow="crop")
        for n, (series, buckets) in enumerate(zip(SERIES, kept, strict=True)):
            if n:
                text.append("\n")
            line = Text(self.summary(series, start), style="dim")
            line.truncate(width, overflow="ellipsis")   # one line per summary, whatever the width
            text.append(line)
            shown = [b for b in buckets if start is not None and b.index >= start]
            rows = [[" "] * width for _ in range(BAR_ROWS)]
            if shown and start is not None:
                low, high = min(b.low for b in shown), max(b.high for b in shown)
                for bucket, column in zip(shown, range_columns(shown, height_rows=BAR_ROWS, low=low, high=high),
                                          strict=True):
                    for row in range(BAR_ROWS):
                        rows[row][bucket.index - start] = column[row]
            for row_cells in rows:
                text.append("\n")
                text.append("".join(row_cells).rstrip(), style="cyan")
        text.append("\n")
        text.append(self._marks_row(start, width), style="bold yellow")
        return text

    @staticmethod
    def _first_column(kept: list[tuple[Bucket, ...]], width: int) -> int | None:
        """The bucket index of the leftmost column: the newest ``width`` buckets, from the oldest kept."""
        present = [buckets for buckets in kept if buckets]
        if not present:
            return None
        newest = max(buckets[-1].index for buckets in present)
        oldest = min(buckets[0].index for buckets in present)
        return max(oldest, newest - width + 1)

    def _marks_row(self, first_index: int | None, width: int) -> str:
        if first_index is None:
            return ""
        cells = [" "] * width
        for at_s in self.marks_s:
            column = int(at_s // BUCKET_S) - first_index
            if 0 <= column < width:
                cells[column] = "▲"
        return "".join(cells).rstrip()
