"""What the plant charges the pack for a real compute unit, known only by what it reports.

The bundled emulator's own draw is known exactly.  A real unit on the bus is known
by its status frames alone, and a unit that goes quiet must not thereby stop
draining the pack in the bench's physics: a silent unit is assumed to draw the
most it has ever reported, until it reports again.
"""

from __future__ import annotations

#: A real compute unit whose power report has not been seen for this long (s) is assumed to draw its most.
REAL_DUT_STALE_S = 0.5


class ReportedPower:
    """The rule for a real unit's draw, from its reports (``compute_power_w`` on the bus).

    * no numeric report yet: 0 W (nothing is known to draw);
    * a report seen within ``stale_s``: that report;
    * a report older than ``stale_s``: the most the unit has ever reported.

    Args:
        stale_s: how long a report holds (s).
    """

    def __init__(self, stale_s: float = REAL_DUT_STALE_S) -> None:
        self.stale_s = stale_s
        #: The most the unit has reported so far (W).
        self.max_reported_w = 0.0

    def power_w(self, reported: object, last_seen_s: float | None, now_s: float) -> float:
        """The draw to charge the pack for at ``now_s``.

        Args:
            reported: the last good value of the unit's power report (None or not a number: none yet).
            last_seen_s: when that report's message last arrived valid (s), None if unknown.
            now_s: the bench's time (s).
        """
        if not isinstance(reported, (int, float)):
            return 0.0
        self.max_reported_w = max(self.max_reported_w, float(reported))
        if last_seen_s is not None and now_s - last_seen_s > self.stale_s:
            return self.max_reported_w
        return float(reported)


__all__ = ["REAL_DUT_STALE_S", "ReportedPower"]
