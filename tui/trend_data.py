"""Trends as buckets of bench time that keep each bucket's lowest and highest value.

A trend that samples the latest value now and then misses whatever happens between
two samples: a 4 s safe stop inside a 10 s sample period never shows.  These buckets
are filled from the monitor's traces (every decoded frame of a role), so a bucket's
``low`` and ``high`` hold every value the bus carried in it, and every transition shows.

No Textual in here: :class:`~tui.widgets.trend.TrendPanel` draws what this holds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

#: Bench seconds per bucket, and how many buckets are kept (10 s x 360 = the last hour).
BUCKET_S = 10.0
MAX_BUCKETS = 360


@dataclass(frozen=True)
class Bucket:
    """One stretch of ``BUCKET_S`` bench seconds: its index (start = index x bucket_s), extremes and last value."""

    index: int
    low: float
    high: float
    last: float


class BucketedTrend:
    """Min, max and last value per bucket of bench time, for one series, the newest ``max_buckets`` kept.

    Feed it samples in time order with :meth:`add`; a sample older than the newest bucket
    still widens that bucket (traces arrive in order, so this only happens at a bucket edge).
    """

    def __init__(self, bucket_s: float = BUCKET_S, max_buckets: int = MAX_BUCKETS) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be > 0, got {bucket_s}")
        self.bucket_s = bucket_s
        self._buckets: deque[Bucket] = deque(maxlen=max_buckets)

    def add(self, times_s: np.ndarray, values: np.ndarray) -> None:
        """Add samples (bench seconds, values); NaN values (nothing decoded yet) are skipped."""
        if len(times_s) == 0:
            return
        keep = ~np.isnan(values)
        times_s, values = times_s[keep], values[keep]
        if len(times_s) == 0:
            return
        indices = np.floor(times_s / self.bucket_s).astype(np.int64)
        # Runs of equal bucket index: where the index changes, a new group starts.
        starts = np.flatnonzero(np.diff(indices, prepend=indices[0] - 1))
        ends = np.append(starts[1:], len(indices))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            chunk = values[start:end]
            self._merge(int(indices[start]), float(chunk.min()), float(chunk.max()), float(chunk[-1]))

    def _merge(self, index: int, low: float, high: float, last: float) -> None:
        buckets = self._buckets
        if buckets and buckets[-1].index >= index:
            newest = buckets[-1]
            buckets[-1] = Bucket(newest.index, min(newest.low, low), max(newest.high, high), last)
            return
        buckets.append(Bucket(index, low, high, last))

    @property
    def buckets(self) -> list[Bucket]:
        """The kept buckets, oldest first (buckets with no sample are absent)."""
        return list(self._buckets)

    @property
    def last(self) -> float | None:
        """The newest value, or None before the first sample."""
        return self._buckets[-1].last if self._buckets else None

    def span(self) -> tuple[float, float] | None:
        """The lowest and highest value over the kept buckets, or None before the first sample."""
        if not self._buckets:
            return None
        return min(b.low for b in self._buckets), max(b.high for b in self._buckets)


#: Eighth blocks, for the part of a cell a range covers from the bottom up.
_LOWER = " ▁▂▃▄▅▆▇█"


def range_columns(buckets: list[Bucket], *, height_rows: int, low: float, high: float) -> list[str]:
    """Each bucket as a column of ``height_rows`` characters (top first) covering its low..high range.

    A bucket whose range is one value is drawn one eighth of a cell thick at that value,
    so a level trend still shows; a bucket that spans a stop and a run fills the cells in
    between.  ``low``/``high`` is the scale (the panel's whole span).
    """
    scale = (high - low) or 1.0
    columns = []
    eighths_total = height_rows * 8
    for bucket in buckets:
        bottom = math.floor((bucket.low - low) / scale * (eighths_total - 1))
        top = math.floor((bucket.high - low) / scale * (eighths_total - 1)) + 1
        cells = []
        for row in range(height_rows - 1, -1, -1):   # top row first
            cell_lo, cell_hi = row * 8, row * 8 + 8
            filled_lo, filled_hi = max(bottom, cell_lo), min(top, cell_hi)
            if filled_hi <= filled_lo:
                cells.append(" ")
            elif filled_lo == cell_lo:
                cells.append(_LOWER[filled_hi - cell_lo])
            elif filled_hi == cell_hi:
                cells.append("█" if filled_lo - cell_lo < 4 else "▀")
            else:
                cells.append("▬" if filled_hi - filled_lo < 4 else "█")
        columns.append("".join(cells))
    return columns
