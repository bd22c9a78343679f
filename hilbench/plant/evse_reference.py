"""The EVSE's pilot figures read plainly: the reference that :class:`~hilbench.plant.evse.Evse` must match.

:class:`ReferenceEvse` works every figure out afresh at each read, from the cable,
the offer, the fault and the vehicle's readiness, as IEC 61851-1 states them.  The
bench uses :class:`~hilbench.plant.evse.Evse`, which keeps the figures between
changes; ``tests/plant/test_fast_paths.py`` drives both through every sequence of
plugging, offers, faults and readiness and requires the same readings.
"""

from __future__ import annotations

from hilbench.plant.evse import Evse, pilot_offer


class ReferenceEvse(Evse):
    """An :class:`~hilbench.plant.evse.Evse` whose figures are worked out at each read, to check the kept ones."""

    @property
    def charging_allowed(self) -> bool:
        """True in states C and D: AC power may flow."""
        return self.cp_state.charging_allowed

    @property
    def cable_rating_a(self) -> float | None:
        """Rating of the plugged cable from its PP resistor, or ``None`` when unplugged."""
        return pilot_offer(self.cable_resistor_ohm, self.max_current_a).cable_rating_a

    @property
    def pwm_duty_pct(self) -> float | None:
        """Pilot duty while connected and healthy; ``None`` when the pilot is a steady level."""
        if self.fault is not None:
            return None
        return pilot_offer(self.cable_resistor_ohm, self.max_current_a).duty_pct

    @property
    def pilot_current_a(self) -> float:
        """Current per phase advertised by the pilot duty, A (0 without PWM)."""
        if self.fault is not None:
            return 0.0
        return pilot_offer(self.cable_resistor_ohm, self.max_current_a).pilot_current_a

    @property
    def available_current_a(self) -> float:
        """AC current per phase the vehicle may draw now: 0 unless in state C or D."""
        if not self.cp_state.charging_allowed:
            return 0.0
        return pilot_offer(self.cable_resistor_ohm, self.max_current_a).available_current_a
