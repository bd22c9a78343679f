"""Thermal governor in the style of the Linux thermal framework, plus a power-budget cap.

Trip points (each with a hysteresis):

* **passive** -- the step-wise governor raises the cooling state by one step
  per polling interval while the junction is at or above the trip, holds it
  between ``temp - hysteresis`` and ``temp``, and lowers it by one step per
  poll below ``temp - hysteresis``.  Cooling state ``k`` caps the level
  ``k`` steps below P100 (P100, P75, P50, P25, IDLE).
* **hot** -- emergency throttle: the cooling state jumps to its maximum
  (IDLE) at once, without waiting for a poll.
* **critical** -- the unit is switched OFF at once and stays OFF (latched)
  until the junction falls below ``temp - hysteresis``; it then resumes at
  the maximum cooling state and steps back up one level per poll.

Independently the supervisor grants a power budget in watts; the level is
capped to the highest level whose draw fits.  The level returned is the
lowest of the requested level, the thermal cap and the budget cap, and
``reason`` / ``detail`` say which one decided.

The governor reads no clock: the caller passes ``now_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hilbench.dut.compute.power import COMPUTE_LEVELS, PowerLevel, PowerTable


@dataclass(frozen=True)
class TripPoint:
    """A junction temperature threshold with its hysteresis (both in C)."""

    temp_c: float
    hysteresis_c: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temp_c) and math.isfinite(self.hysteresis_c) and self.hysteresis_c >= 0):
            raise ValueError(f"trip point: expected finite temp and hysteresis >= 0, got {self}")


@dataclass(frozen=True)
class ThermalTrips:
    """The trip points of the compute unit.

    Defaults follow DOMAIN.md: throttling at ~95-105 C, shutdown at ~105-110 C.
    """

    passive: TripPoint = TripPoint(95.0, 5.0)
    hot: TripPoint = TripPoint(102.0, 2.0)
    critical: TripPoint = TripPoint(107.0, 15.0)

    def __post_init__(self) -> None:
        if not self.passive.temp_c < self.hot.temp_c < self.critical.temp_c:
            raise ValueError(
                "trips: expected passive < hot < critical, got "
                f"{self.passive.temp_c}, {self.hot.temp_c}, {self.critical.temp_c}"
            )


# Cooling state k caps at _CAPS[k].
_CAPS: tuple[PowerLevel, ...] = (*reversed(COMPUTE_LEVELS), PowerLevel.IDLE)
MAX_COOLING_STATE = len(_CAPS) - 1


@dataclass(frozen=True)
class GovernorStatus:
    """Why the last ``update`` chose its level."""

    now_s: float
    junction_c: float
    requested: PowerLevel
    level: PowerLevel
    thermal_cap: PowerLevel
    budget_cap: PowerLevel
    cooling_state: int
    critical_latched: bool
    reason: str  # "requested", "passive", "hot", "critical" or "budget"
    detail: str


class Governor:
    """Step-wise thermal governor with a critical latch and a power-budget cap.

    ``update`` runs on every tick of hours-long sessions, so it keeps only the
    raw figures of its decision; ``status`` (with its text ``detail``) is built
    from them when someone asks, once per decision.
    """

    def __init__(
        self,
        trips: ThermalTrips | None = None,
        poll_interval_s: float = 1.0,
        levels: PowerTable | None = None,
    ) -> None:
        if not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
            raise ValueError(f"poll_interval_s: expected > 0, got {poll_interval_s}")
        self.trips = trips or ThermalTrips()
        self.poll_interval_s = float(poll_interval_s)
        self.levels = levels or PowerTable()   # and its draws per level, highest first (the setter)
        self.cooling_state = 0
        self.critical_latched = False
        self._last_poll_s: float | None = None
        self._last_now_s: float | None = None
        self._reason = "requested"
        # (now_s, junction_c, budget_w, requested, level, thermal_cap, budget_cap, cooling_state, latched, hot,
        #  the power table the budget was judged on)
        self._decision: tuple | None = None
        self._status: GovernorStatus | None = None

    @property
    def levels(self) -> PowerTable:
        """The power table: the draw of each level, which the budget is judged on."""
        return self._levels

    @levels.setter
    def levels(self, table: PowerTable) -> None:
        self._use_table(table)

    def _use_table(self, table: PowerTable) -> None:
        """Take ``table``, with its draws per level (highest level first) made once rather than on every update.

        A plain method behind the setter: mutmut 3 does not mutate decorated functions (docs/mutation.md).
        """
        self._levels = table
        self._budget_steps = tuple((table.watts(lv), lv) for lv in sorted(PowerLevel, reverse=True))

    @property
    def reason(self) -> str:
        """Short code of what decided the last level ("requested" before any update)."""
        return self._reason

    @property
    def status(self) -> GovernorStatus | None:
        """Why the last ``update`` chose its level (None before any update)."""
        if self._status is None and self._decision is not None:
            self._status = self._describe(*self._decision)
        return self._status

    @property
    def thermal_cap(self) -> PowerLevel:
        """Highest level the present cooling state allows; OFF once the critical trip latched."""
        return PowerLevel.OFF if self.critical_latched else _CAPS[self.cooling_state]

    def update(self, now_s: float, junction_c: float, budget_w: float, requested_level: PowerLevel) -> PowerLevel:
        """Decide the level for the coming interval.

        Raises ``ValueError`` if ``now_s`` goes backwards or an input is not a number.
        """
        if not math.isfinite(now_s) or math.isnan(junction_c) or math.isnan(budget_w):
            raise ValueError(
                f"governor inputs must be numbers, got now_s={now_s}, junction_c={junction_c}, budget_w={budget_w}"
            )
        if self._last_now_s is not None and now_s < self._last_now_s:
            raise ValueError(f"now_s went backwards: {now_s} < {self._last_now_s}")
        self._last_now_s = now_s
        requested = requested_level if type(requested_level) is PowerLevel else PowerLevel(requested_level)
        trips = self.trips

        # Critical: immediate, latched.
        if junction_c >= trips.critical.temp_c:
            self.critical_latched = True
        elif self.critical_latched and junction_c < trips.critical.temp_c - trips.critical.hysteresis_c:
            self.critical_latched = False
            self.cooling_state = MAX_COOLING_STATE
            self._last_poll_s = now_s  # the first step back up waits a full poll

        # Hot: immediate emergency throttle.
        hot = junction_c >= trips.hot.temp_c
        if hot:
            self.cooling_state = MAX_COOLING_STATE

        # Passive: one step per polling interval.
        if self._last_poll_s is None or now_s - self._last_poll_s >= self.poll_interval_s - 1e-9:
            self._last_poll_s = now_s
            if junction_c >= trips.passive.temp_c:
                self.cooling_state = min(self.cooling_state + 1, MAX_COOLING_STATE)
            elif junction_c < trips.passive.temp_c - trips.passive.hysteresis_c:
                self.cooling_state = max(self.cooling_state - 1, 0)

        thermal_cap = PowerLevel.OFF if self.critical_latched else _CAPS[self.cooling_state]
        budget_cap = self._budget_cap(budget_w)
        level = min(requested, thermal_cap, budget_cap)

        if self.critical_latched:
            reason = "critical"
        elif level == requested:
            reason = "requested"
        elif thermal_cap <= budget_cap:
            reason = "hot" if hot else "passive"
        else:
            reason = "budget"
        self._reason = reason
        self._decision = (
            now_s,
            junction_c,
            budget_w,
            requested,
            level,
            thermal_cap,
            budget_cap,
            self.cooling_state,
            self.critical_latched,
            hot,
            self._levels,
        )
        self._status = None
        return level

    # -- hooks --------------------------------------------------------------------

    def _budget_cap(self, budget_w: float) -> PowerLevel:
        """``self.levels.highest_within(budget_w)`` from the table of draws the ``levels`` setter made."""
        limit = budget_w + 1e-9
        for watts, level in self._budget_steps:
            if watts <= limit:
                return level
        return PowerLevel.OFF

    def _describe(
        self,
        now_s: float,
        junction_c: float,
        budget_w: float,
        requested: PowerLevel,
        level: PowerLevel,
        thermal_cap: PowerLevel,
        budget_cap: PowerLevel,
        cooling_state: int,
        critical_latched: bool,
        hot: bool,
        table: PowerTable,
    ) -> GovernorStatus:
        trips = self.trips
        if critical_latched:
            reason = "critical"
            resume_c = trips.critical.temp_c - trips.critical.hysteresis_c
            detail = (
                f"critical trip {trips.critical.temp_c} C latched (junction {junction_c:.1f} C); "
                f"OFF until below {resume_c} C"
            )
        elif level == requested:
            reason, detail = "requested", f"{requested.name} as requested"
        elif thermal_cap <= budget_cap:
            reason = "hot" if hot else "passive"
            detail = (
                f"{reason} trip: cooling state {cooling_state} caps at {thermal_cap.name} (junction {junction_c:.1f} C)"
            )
        else:
            reason = "budget"
            detail = f"budget {budget_w:.1f} W caps at {budget_cap.name} ({table.watts(budget_cap):.1f} W)"
        return GovernorStatus(
            now_s=now_s,
            junction_c=junction_c,
            requested=requested,
            level=level,
            thermal_cap=thermal_cap,
            budget_cap=budget_cap,
            cooling_state=cooling_state,
            critical_latched=critical_latched,
            reason=reason,
            detail=detail,
        )
