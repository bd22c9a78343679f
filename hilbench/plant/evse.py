"""AC charging plant: the EVSE's control pilot and proximity pilot, and an on-board charger.

:class:`Evse` is the supply side as the vehicle sees it: IEC 61851-1 control
pilot (CP) states A-F, the PWM duty that advertises the current limit, and the
cable rating read from the proximity-pilot (PP) resistor.  Scenarios drive it
with :meth:`Evse.plug_in`, :meth:`Evse.unplug`, :meth:`Evse.set_fault`.

:class:`OnBoardCharger` turns the available AC into DC current into the pack
with a CC/CV profile: it ramps to the smallest of the BMS charge current limit,
its own DC rating and what the AC supply can deliver, then an integrating
voltage loop holds the pack at the CV target so the current tapers.  Both are
deterministic and read no clock: time moves only by ``dt_s``.

The constants below are fixed by the standard, not tuning parameters, so they
live here with their source rather than in a data file.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

# IEC 61851-1 Annex A: high level of the 1 kHz pilot in each state (DOMAIN.md table).
_PILOT_VOLTAGE_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}

# IEC 61851-1 Annex A: 10 % <= duty <= 85 %: amps = duty x 0.6;
# 85 % < duty <= 96 %: amps = (duty - 64) x 2.5; 8-10 % is read as 6 A;
# anything else (5 % = digital communication only, < 8 %, > 97 %) allows no AC current here.
_DUTY_MIN_PCT = 8.0
_DUTY_LOW_BAND_PCT = 10.0
_DUTY_MID_MAX_PCT = 85.0
_DUTY_MAX_PCT = 96.0
_DUTY_PER_AMP_PCT = 1.0 / 0.6
_MIN_PILOT_CURRENT_A = 6.0

# IEC 61851-1 Annex B / IEC 62196-2 Type 2: PP resistor (ohm) -> cable rating (A).
PP_CABLE_RATINGS: dict[float, float] = {1500.0: 13.0, 680.0: 20.0, 220.0: 32.0, 100.0: 63.0}
_PP_TOLERANCE_RATIO = 1.5
"""A measured PP resistance within this ratio of a nominal value is read as that cable."""

MAINS_VOLTAGE_V = 230.0
"""Phase-to-neutral voltage of the European grid (IEC 60038)."""


class CpState(enum.Enum):
    """Control-pilot state per IEC 61851-1."""

    A = "A"  # vehicle not connected
    B = "B"  # connected, not ready to charge
    C = "C"  # connected, charging
    D = "D"  # charging, ventilation required
    E = "E"  # error: no power / short circuit
    F = "F"  # EVSE not available / error

    @property
    def pilot_voltage_v(self) -> float:
        """High level of the pilot signal in this state, V."""
        return _PILOT_VOLTAGE_V[self.value]

    @property
    def charging_allowed(self) -> bool:
        """True in C and D, the only states in which AC power may flow."""
        return self in (CpState.C, CpState.D)


class EvseFault(enum.Enum):
    """Faults a scenario can inject on the supply side."""

    NO_POWER = "no_power"  # CP state E: pilot at 0 V (no supply or CP shorted)
    UNAVAILABLE = "unavailable"  # CP state F: EVSE reports -12 V


class ChargeMode(enum.Enum):
    """What limits the on-board charger's output right now."""

    OFF = "off"
    CC = "cc"
    CV = "cv"
    COMPLETE = "complete"


def pwm_duty_to_current_a(duty_pct: float) -> float:
    """Current limit (A per phase) the EVSE advertises with a pilot duty cycle in percent."""
    d = float(duty_pct)
    if not math.isfinite(d) or d < _DUTY_MIN_PCT or d > _DUTY_MAX_PCT:
        return 0.0
    if d < _DUTY_LOW_BAND_PCT:
        return _MIN_PILOT_CURRENT_A
    if d <= _DUTY_MID_MAX_PCT:
        return d * 0.6
    return (d - 64.0) * 2.5


def current_to_pwm_duty_pct(current_a: float) -> float:
    """Pilot duty (percent) advertising ``current_a``; the inverse of :func:`pwm_duty_to_current_a`.

    Raises:
        ValueError: ``current_a`` below 6 A or above 80 A, which no duty can express.
    """
    a = float(current_a)
    if not (_MIN_PILOT_CURRENT_A <= a <= pwm_duty_to_current_a(_DUTY_MAX_PCT)):
        raise ValueError(f"pilot current must be within 6..80 A, got {current_a!r}")
    if a <= _DUTY_MID_MAX_PCT * 0.6:
        return a * _DUTY_PER_AMP_PCT
    return a / 2.5 + 64.0


def pp_resistor_to_current_a(resistor_ohm: float) -> float:
    """Cable current rating (A) encoded by the proximity-pilot resistor.

    Raises:
        ValueError: the resistance matches none of the standard values (open
            circuit, no cable, or a damaged plug).
    """
    r = float(resistor_ohm)
    if math.isfinite(r) and r > 0.0:
        nominal = min(PP_CABLE_RATINGS, key=lambda n: abs(math.log(r / n)))
        if max(r / nominal, nominal / r) <= _PP_TOLERANCE_RATIO:
            return PP_CABLE_RATINGS[nominal]
    known = ", ".join(f"{n:g} ohm = {a:g} A" for n, a in PP_CABLE_RATINGS.items())
    raise ValueError(f"proximity-pilot resistor {resistor_ohm!r} ohm matches no cable rating ({known})")


class PilotOffer(NamedTuple):
    """What a plugged-in, healthy station shows on the pilots, for one cable and one offer.

    A fault or an unready vehicle gates these (no duty in states E/F, no current
    outside C/D); that gating is :class:`Evse`'s, not part of the offer.
    """

    cable_rating_a: float | None
    """The cable's rating from its PP resistor; ``None``: no cable."""
    duty_pct: float | None
    """Pilot PWM duty advertising the current; ``None``: no cable, so no PWM."""
    pilot_current_a: float
    """The current per phase that duty advertises, A (0 without a cable)."""
    available_current_a: float
    """What the vehicle may draw per phase once charging is allowed: the pilot current, capped by the cable, A."""


def pilot_offer(cable_resistor_ohm: float | None, max_current_a: float) -> PilotOffer:
    """The pilot figures of a station offering ``max_current_a`` through a cable with this PP resistor.

    Straight from IEC 61851-1: the duty for the smaller of the offer and the
    cable's rating, the current that duty advertises, capped by the cable.

    Raises:
        ValueError: a resistor that encodes no rating, or an offer no duty can express.
    """
    if cable_resistor_ohm is None:
        return PilotOffer(None, None, 0.0, 0.0)
    rating = pp_resistor_to_current_a(cable_resistor_ohm)
    duty = current_to_pwm_duty_pct(min(max_current_a, rating))
    pilot = pwm_duty_to_current_a(duty)
    return PilotOffer(rating, duty, pilot, min(pilot, rating))


class Evse:
    """The charging station and cable as the vehicle sees them.

    The charger and the OBC node read the pilot figures every 100 ms for hours, so
    this class keeps them: :func:`pilot_offer` runs when the cable or the offer
    changes, not per read, and :attr:`charging_allowed` tests the three inputs of
    the CP state without building it.
    :class:`~hilbench.plant.evse_reference.ReferenceEvse` works everything out afresh
    at each read.  Measured gain (cachegrind, instructions per simulated second of the
    default bench, against the reference): 6.6 % plugged in, 1.6 % parked, 4.5 % over
    a session plugged in half the time, as the default overnight one is.

    Args:
        max_current_a: current per phase the station offers (advertised by PWM duty).
        phases: phases the station supplies (1 or 3).
        cable_resistor_ohm: PP resistor of the cable used by :meth:`plug_in`.
    """

    def __init__(self, max_current_a: float = 32.0, phases: int = 3, cable_resistor_ohm: float = 220.0) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        self._phases = phases
        self._max_current_a = 0.0
        self._cable_ohm: float | None = None
        self._keep(pilot_offer(None, 0.0))
        self.set_max_current_a(max_current_a)
        pp_resistor_to_current_a(cable_resistor_ohm)  # validate now, not at plug-in
        self._default_cable_ohm = float(cable_resistor_ohm)
        self._vehicle_ready = False
        self._ventilation = False
        self._fault: EvseFault | None = None

    # --- scenario actions ---------------------------------------------------

    def plug_in(self, cable_resistor_ohm: float | None = None) -> None:
        """Connect the cable (state B until the vehicle is ready).

        Raises:
            ValueError: the cable's PP resistor encodes no rating.
        """
        ohm = self._default_cable_ohm if cable_resistor_ohm is None else float(cable_resistor_ohm)
        self._keep(pilot_offer(ohm, self._max_current_a))   # raises before anything changes
        self._cable_ohm = ohm

    def unplug(self) -> None:
        """Pull the cable: state A, no current, vehicle readiness forgotten."""
        self._cable_ohm = None
        self._keep(pilot_offer(None, self._max_current_a))
        self._vehicle_ready = False
        self._ventilation = False

    def set_vehicle_ready(self, ready: bool, ventilation: bool = False) -> None:
        """The vehicle closes (or opens) switch S2: state C, or D when it needs ventilation."""
        self._vehicle_ready = bool(ready)
        self._ventilation = bool(ventilation)

    def set_fault(self, fault: EvseFault | str | None) -> None:
        """Inject a supply fault (state E or F); ``None`` clears it."""
        self._fault = None if fault is None else EvseFault(fault)

    def clear_fault(self) -> None:
        """Clear an injected supply fault: the pilot shows plug and readiness again."""
        self._fault = None

    def set_max_current_a(self, current_a: float) -> None:
        """Change the current the station offers per phase (6..80 A).

        Raises:
            ValueError: outside what a pilot duty can advertise.
        """
        current_to_pwm_duty_pct(current_a)
        self._keep(pilot_offer(self._cable_ohm, float(current_a)))
        self._max_current_a = float(current_a)

    def _keep(self, offer: PilotOffer) -> None:
        """Keep the figures of the cable and offer now in place, for the reads until the next change."""
        self._cable_rating_a, self._healthy_duty_pct, self._healthy_pilot_a, self._healthy_available_a = offer

    # --- what the vehicle reads ---------------------------------------------

    @property
    def phases(self) -> int:
        """Phases the station supplies (1 or 3)."""
        return self._phases

    @property
    def plugged_in(self) -> bool:
        """Whether a cable is connected (any state but A)."""
        return self._cable_ohm is not None

    @property
    def cable_resistor_ohm(self) -> float | None:
        """PP resistor of the plugged cable, ohm, or ``None`` when unplugged."""
        return self._cable_ohm

    @property
    def max_current_a(self) -> float:
        """Current per phase the station offers, A (before the cable's rating caps it)."""
        return self._max_current_a

    @property
    def fault(self) -> EvseFault | None:
        """The injected supply fault, or ``None``."""
        return self._fault

    @property
    def cp_state(self) -> CpState:
        """Control-pilot state from fault, plug and vehicle readiness."""
        if self._fault is EvseFault.UNAVAILABLE:
            return CpState.F
        if self._fault is EvseFault.NO_POWER:
            return CpState.E
        if self._cable_ohm is None:
            return CpState.A
        if not self._vehicle_ready:
            return CpState.B
        return CpState.D if self._ventilation else CpState.C

    @property
    def pilot_voltage_v(self) -> float:
        """High level of the pilot in the present CP state, V."""
        return self.cp_state.pilot_voltage_v

    @property
    def charging_allowed(self) -> bool:
        """``cp_state.charging_allowed`` without building the state: C or D, i.e. healthy,
        plugged in and the vehicle ready."""
        return self._fault is None and self._cable_ohm is not None and self._vehicle_ready

    @property
    def cable_rating_a(self) -> float | None:
        """Rating of the plugged cable from its PP resistor, or ``None`` when unplugged."""
        return self._cable_rating_a

    @property
    def pwm_duty_pct(self) -> float | None:
        """Pilot duty while connected and healthy; ``None`` when the pilot is a steady level."""
        if self._cable_ohm is None or self._fault is not None:
            return None
        return self._healthy_duty_pct

    @property
    def pilot_current_a(self) -> float:
        """Current per phase advertised by the pilot duty, A (0 without PWM)."""
        if self._cable_ohm is None or self._fault is not None:
            return 0.0
        return self._healthy_pilot_a

    @property
    def available_current_a(self) -> float:
        """AC current per phase the vehicle may draw now: 0 unless in state C or D."""
        return self._healthy_available_a if self.charging_allowed else 0.0


class OnBoardCharger:
    """CC/CV on-board charger fed by an :class:`Evse`.

    Args:
        evse: the supply this charger draws from.
        phases: phases the charger uses (its own limit; the EVSE may supply fewer).
        efficiency: AC-to-DC efficiency (0..1].
        max_dc_current_a: the charger's own DC output rating.
        ramp_a_per_s: soft-start slew rate of the DC current.
        cv_gain_a_per_v_s: integral gain of the voltage loop (A per volt of error per second).
        termination_current_a: in CV, below this current the charge is complete (0 disables).
        mains_voltage_v: phase voltage of the supply.
    """

    _MAX_STEP_GAIN_A_PER_V = 1.0
    """Cap on the voltage loop's gain per step: keeps coarse steps stable for packs up to ~1 ohm."""

    def __init__(
        self,
        evse: Evse,
        *,
        phases: int = 3,
        efficiency: float = 0.93,
        max_dc_current_a: float = 40.0,
        ramp_a_per_s: float = 10.0,
        cv_gain_a_per_v_s: float = 2.0,
        termination_current_a: float = 0.0,
        mains_voltage_v: float = MAINS_VOLTAGE_V,
    ) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        if not 0.0 < efficiency <= 1.0:
            raise ValueError(f"efficiency must be within (0, 1], got {efficiency!r}")
        for name, value in (("max_dc_current_a", max_dc_current_a), ("ramp_a_per_s", ramp_a_per_s),
                            ("cv_gain_a_per_v_s", cv_gain_a_per_v_s), ("mains_voltage_v", mains_voltage_v)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (math.isfinite(termination_current_a) and termination_current_a >= 0.0):
            raise ValueError(f"termination_current_a must be >= 0, got {termination_current_a!r}")
        self.evse = evse
        self.phases = phases
        self.efficiency = efficiency
        self.max_dc_current_a = max_dc_current_a
        self.ramp_a_per_s = ramp_a_per_s
        self.cv_gain_a_per_v_s = cv_gain_a_per_v_s
        self.termination_current_a = termination_current_a
        self.mains_voltage_v = mains_voltage_v
        self.enabled = True
        """Charge enable from the vehicle (VCU/BMS); False forces zero current."""
        self._dc_current_a = 0.0
        self._dc_power_w = 0.0
        self._mode = ChargeMode.OFF

    def ac_limit_dc_a(self, pack_voltage_v: float) -> float:
        """DC current the AC supply allows at ``pack_voltage_v``: I_ac x phases x V_mains x eta / V_pack."""
        if pack_voltage_v <= 0.0:
            return 0.0
        phases = min(self.phases, self.evse.phases)
        ac_w = self.evse.available_current_a * phases * self.mains_voltage_v
        return ac_w * self.efficiency / pack_voltage_v

    def step(self, dt_s: float, pack_voltage_v: float, max_voltage_v: float, ccl_a: float) -> float:
        """Advance ``dt_s`` seconds and return the DC current into the pack (A, >= 0).

        ``pack_voltage_v`` is the measured terminal voltage, ``max_voltage_v``
        the CV target (pack level) and ``ccl_a`` the BMS charge current limit
        (positive amps).  The caller applies the returned current to the pack
        for the next step (``pack.step(dt, load_a - charger_a)``).

        Raises:
            ValueError: a non-finite argument or ``dt_s`` <= 0.
        """
        for name, value in (("dt_s", dt_s), ("pack_voltage_v", pack_voltage_v),
                            ("max_voltage_v", max_voltage_v), ("ccl_a", ccl_a)):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if dt_s <= 0.0:
            raise ValueError(f"dt_s must be > 0, got {dt_s!r}")
        return self._step(float(dt_s), float(pack_voltage_v), float(max_voltage_v), float(ccl_a))

    def _step(self, dt: float, pack_v: float, max_v: float, ccl_a: float) -> float:
        active = self.enabled and self.evse.charging_allowed and pack_v > 0.0
        if not active:
            self._set_output(0.0, pack_v, ChargeMode.OFF)
            return 0.0
        if self._mode is ChargeMode.COMPLETE:
            self._set_output(0.0, pack_v, ChargeMode.COMPLETE)
            return 0.0
        limit = max(0.0, min(ccl_a, self.max_dc_current_a, self.ac_limit_dc_a(pack_v)))
        error_v = max_v - pack_v
        step_gain = min(self.cv_gain_a_per_v_s * dt, self._MAX_STEP_GAIN_A_PER_V)
        delta = min(step_gain * error_v, self.ramp_a_per_s * dt)
        current = min(max(self._dc_current_a + delta, 0.0), limit)
        voltage_limited = current < limit and error_v < 0.01 * max_v
        mode = ChargeMode.CV if voltage_limited else ChargeMode.CC
        if mode is ChargeMode.CV and current < self.termination_current_a:
            current, mode = 0.0, ChargeMode.COMPLETE
        self._set_output(current, pack_v, mode)
        return current

    def _set_output(self, current_a: float, pack_v: float, mode: ChargeMode) -> None:
        self._dc_current_a = current_a
        self._dc_power_w = current_a * max(pack_v, 0.0)
        # Leaving C/D or disabling clears a completed charge, so a replug starts afresh.
        self._mode = mode

    @property
    def dc_current_a(self) -> float:
        """DC current into the pack from the last step, A."""
        return self._dc_current_a

    @property
    def dc_power_w(self) -> float:
        """DC power into the pack from the last step, W."""
        return self._dc_power_w

    @property
    def ac_power_w(self) -> float:
        """AC power drawn from the grid in the last step, W."""
        return self._dc_power_w / self.efficiency

    @property
    def mode(self) -> ChargeMode:
        """What limits the output now (off, CC, CV or a completed charge)."""
        return self._mode
