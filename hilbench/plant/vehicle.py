"""Vehicle state the compute unit must obey: gear, ignition, the driver's range reserve, climate.

Pure state with validating setters: scenarios change it, emulated VCU nodes
publish it.  No dynamics here (the car is parked or charging in the bench's
use case); ``ambient_c`` is the one place scenarios set the weather, and the
bench copies it to the pack.
"""

from __future__ import annotations

import enum
import math


class Gear(enum.Enum):
    """Selector position as a VCU reports it."""

    P = "P"
    R = "R"
    N = "N"
    D = "D"


class Vehicle:
    """Gear, ignition, range reserve and temperatures of the car around the pack.

    Args:
        gear: initial gear (a :class:`Gear` or its letter).
        ignition_on: initial ignition state.
        reserve_soc_pct: SOC floor the driver asks to keep for driving, percent 0..100.
        ambient_c: outside air temperature, C.
        coolant_c: coolant temperature, C, or ``None`` when no coolant loop runs.

    Raises:
        ValueError: an unknown gear, a reserve outside 0..100 % or a non-finite temperature.
    """

    def __init__(
        self,
        gear: Gear | str = Gear.P,
        ignition_on: bool = False,
        reserve_soc_pct: float = 20.0,
        ambient_c: float = 25.0,
        coolant_c: float | None = None,
    ) -> None:
        self._gear = Gear.P
        self._ignition_on = False
        self._reserve_soc_pct = 0.0
        self._ambient_c = 25.0
        self._coolant_c: float | None = None
        self.set_gear(gear)
        self.set_ignition(ignition_on)
        self.set_reserve_soc_pct(reserve_soc_pct)
        self.set_ambient_c(ambient_c)
        self.set_coolant_c(coolant_c)

    def set_gear(self, gear: Gear | str) -> None:
        """Move the selector; accepts ``Gear.D`` or ``"D"`` (case-insensitive)."""
        if isinstance(gear, Gear):
            self._gear = gear
            return
        try:
            self._gear = Gear(str(gear).strip().upper())
        except ValueError:
            raise ValueError(f"gear must be one of P, R, N, D, got {gear!r}") from None

    def set_ignition(self, on: bool) -> None:
        """Switch the ignition (ready/run) on or off; any truthy value means on."""
        self._ignition_on = bool(on)

    def set_reserve_soc_pct(self, reserve_soc_pct: float) -> None:
        """Set the driver's SOC floor in percent (0..100)."""
        value = float(reserve_soc_pct)
        if not (math.isfinite(value) and 0.0 <= value <= 100.0):
            raise ValueError(f"reserve_soc_pct must be within 0..100 %, got {reserve_soc_pct!r}")
        self._reserve_soc_pct = value

    def set_ambient_c(self, ambient_c: float) -> None:
        """Set the outside air temperature in C; the bench copies it to the pack.

        Raises:
            ValueError: a non-finite temperature.
        """
        value = float(ambient_c)
        if not math.isfinite(value):
            raise ValueError(f"ambient_c must be finite, got {ambient_c!r}")
        self._ambient_c = value

    def set_coolant_c(self, coolant_c: float | None) -> None:
        """Set the coolant temperature in C, or None when no coolant loop runs (readers then use ambient).

        Raises:
            ValueError: a non-finite temperature.
        """
        if coolant_c is None:
            self._coolant_c = None
            return
        value = float(coolant_c)
        if not math.isfinite(value):
            raise ValueError(f"coolant_c must be finite or None, got {coolant_c!r}")
        self._coolant_c = value

    @property
    def gear(self) -> Gear:
        """Selector position."""
        return self._gear

    @property
    def ignition_on(self) -> bool:
        """Whether the ignition (ready/run) is on."""
        return self._ignition_on

    @property
    def parked(self) -> bool:
        """True in P: the only gear in which the bench's compute workload may run."""
        return self._gear is Gear.P

    @property
    def reserve_soc_pct(self) -> float:
        """SOC floor the driver asked to keep, percent."""
        return self._reserve_soc_pct

    @property
    def ambient_c(self) -> float:
        """Outside air temperature, C."""
        return self._ambient_c

    @property
    def coolant_c(self) -> float | None:
        """Coolant temperature, C, or None when no coolant loop runs."""
        return self._coolant_c

    def __repr__(self) -> str:
        return (
            f"Vehicle(gear={self._gear.value}, ignition_on={self._ignition_on}, "
            f"reserve_soc_pct={self._reserve_soc_pct:g}, ambient_c={self._ambient_c:g})"
        )
