"""EVSE control/proximity pilot and the CC/CV on-board charger."""

from __future__ import annotations

import pytest

from hilbench.plant import (
    ChargeMode,
    CpState,
    Evse,
    EvseFault,
    OnBoardCharger,
    Pack,
    current_to_pwm_duty_pct,
    pp_resistor_to_current_a,
    pwm_duty_to_current_a,
)
from hilbench.plant.evse import pilot_offer


@pytest.mark.parametrize(("state", "volts"), [("A", 12.0), ("B", 9.0), ("C", 6.0), ("D", 3.0),
                                              ("E", 0.0), ("F", -12.0)])
def test_pilot_voltages(state: str, volts: float) -> None:
    assert CpState(state).pilot_voltage_v == volts


def test_cp_state_follows_plug_readiness_and_faults() -> None:
    evse = Evse()
    assert evse.cp_state is CpState.A and evse.pwm_duty_pct is None
    evse.plug_in()
    assert evse.cp_state is CpState.B
    assert evse.available_current_a == 0.0  # connected but not ready: no current
    evse.set_vehicle_ready(True)
    assert evse.cp_state is CpState.C
    evse.set_vehicle_ready(True, ventilation=True)
    assert evse.cp_state is CpState.D
    evse.set_fault(EvseFault.NO_POWER)
    assert evse.cp_state is CpState.E and evse.available_current_a == 0.0
    evse.set_fault("unavailable")
    assert evse.cp_state is CpState.F and evse.pilot_voltage_v == -12.0
    evse.clear_fault()
    assert evse.cp_state is CpState.D
    evse.unplug()
    assert evse.cp_state is CpState.A and evse.cable_rating_a is None


@pytest.mark.parametrize(("duty_pct", "amps"), [(10.0, 6.0), (16.0 / 0.6, 16.0), (50.0, 30.0),
                                                (85.0, 51.0), (90.0, 65.0), (5.0, 0.0), (99.0, 0.0)])
def test_pwm_duty_to_current(duty_pct: float, amps: float) -> None:
    assert pwm_duty_to_current_a(duty_pct) == pytest.approx(amps)


@pytest.mark.parametrize("amps", [6.0, 13.0, 16.0, 32.0, 51.0, 63.0, 80.0])
def test_duty_round_trip(amps: float) -> None:
    assert pwm_duty_to_current_a(current_to_pwm_duty_pct(amps)) == pytest.approx(amps)


def test_duty_outside_range_refused() -> None:
    with pytest.raises(ValueError):
        current_to_pwm_duty_pct(5.0)
    with pytest.raises(ValueError):
        Evse(max_current_a=100.0)


@pytest.mark.parametrize(("ohm", "amps"), [(1500.0, 13.0), (680.0, 20.0), (220.0, 32.0), (100.0, 63.0),
                                           (1400.0, 13.0), (230.0, 32.0)])
def test_pp_resistor_ratings(ohm: float, amps: float) -> None:
    assert pp_resistor_to_current_a(ohm) == amps


@pytest.mark.parametrize("ohm", [10.0, 10_000.0, float("inf"), 0.0])
def test_pp_resistor_unknown_refused(ohm: float) -> None:
    with pytest.raises(ValueError, match="matches no cable rating"):
        pp_resistor_to_current_a(ohm)


def test_cable_limits_the_advertised_current() -> None:
    evse = Evse(max_current_a=32.0)
    evse.plug_in(cable_resistor_ohm=1500.0)  # 13 A cable
    evse.set_vehicle_ready(True)
    assert evse.cable_rating_a == 13.0
    assert evse.pwm_duty_pct == pytest.approx(13.0 / 0.6)
    assert evse.available_current_a == pytest.approx(13.0)


def _charging_setup(soc: float, max_current_a: float = 16.0) -> tuple[Pack, Evse, OnBoardCharger]:
    pack = Pack.from_config("nmc", soc=soc)
    evse = Evse(max_current_a=max_current_a)
    evse.plug_in()
    evse.set_vehicle_ready(True)
    return pack, evse, OnBoardCharger(evse, max_dc_current_a=40.0, termination_current_a=2.0)


def test_ac_limit_sets_the_dc_current() -> None:
    pack, evse, obc = _charging_setup(soc=0.3)
    expected_a = 16.0 * 3 * 230.0 * obc.efficiency / pack.pack_voltage_v
    assert obc.ac_limit_dc_a(pack.pack_voltage_v) == pytest.approx(expected_a)
    for _ in range(10):
        current = obc.step(1.0, pack.pack_voltage_v, 403.2, ccl_a=100.0)
        pack.step(1.0, -current)
    assert current == pytest.approx(obc.ac_limit_dc_a(pack.pack_voltage_v), rel=0.01)
    assert obc.mode is ChargeMode.CC
    assert obc.dc_power_w == pytest.approx(current * pack.pack_voltage_v, rel=0.01)
    assert obc.ac_power_w > obc.dc_power_w


def test_bms_ccl_limits_the_current() -> None:
    pack, _, obc = _charging_setup(soc=0.3)
    for _ in range(10):
        current = obc.step(1.0, pack.pack_voltage_v, 403.2, ccl_a=5.0)
        pack.step(1.0, -current)
    assert current == pytest.approx(5.0)


def test_cc_then_cv_taper_then_complete() -> None:
    pack, _, obc = _charging_setup(soc=0.85)
    max_pack_v = pack.series * pack.chemistry.max_voltage_v
    currents, modes, volts = [], [], []
    for _ in range(4 * 3600):
        current = obc.step(1.0, pack.pack_voltage_v, max_pack_v, ccl_a=40.0)
        pack.step(1.0, -current)
        currents.append(current)
        modes.append(obc.mode)
        volts.append(pack.pack_voltage_v)
        if obc.mode is ChargeMode.COMPLETE:
            break
    assert modes[-1] is ChargeMode.COMPLETE
    first_cv = modes.index(ChargeMode.CV)
    cc_current = max(currents[:first_cv])
    assert currents[first_cv - 1] == pytest.approx(cc_current, rel=0.05)  # CC held until CV
    assert currents[-2] < 0.2 * cc_current  # tapered
    assert max(volts) <= max_pack_v * 1.002  # CV holds the pack voltage
    assert pack.soc > 0.99
    assert obc.step(1.0, pack.pack_voltage_v, max_pack_v, 40.0) == 0.0  # stays complete


def test_unplug_and_disable_give_zero_current() -> None:
    pack, evse, obc = _charging_setup(soc=0.5)
    for _ in range(5):
        assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) > 0.0
    evse.unplug()
    assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) == 0.0
    assert obc.mode is ChargeMode.OFF and obc.dc_power_w == 0.0
    evse.plug_in()
    assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) == 0.0  # state B: not ready
    evse.set_vehicle_ready(True)
    assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) > 0.0
    obc.enabled = False
    assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) == 0.0
    obc.enabled = True
    evse.set_fault(EvseFault.NO_POWER)
    assert obc.step(1.0, pack.pack_voltage_v, 403.2, 40.0) == 0.0


def test_charger_refuses_bad_arguments() -> None:
    _, evse, obc = _charging_setup(soc=0.5)
    with pytest.raises(ValueError):
        obc.step(0.0, 350.0, 403.2, 40.0)
    with pytest.raises(ValueError):
        obc.step(1.0, float("nan"), 403.2, 40.0)
    with pytest.raises(ValueError):
        OnBoardCharger(evse, efficiency=1.5)


@pytest.mark.parametrize(("ohm", "offer_a", "expected"), [
    (None, 32.0, (None, None, 0.0, 0.0)),
    (1500.0, 32.0, (13.0, 13.0 / 0.6, 13.0, 13.0)),    # the cable caps the offer
    (100.0, 16.0, (63.0, 16.0 / 0.6, 16.0, 16.0)),     # the offer caps a strong cable
    (100.0, 80.0, (63.0, 63.0 / 2.5 + 64.0, 63.0, 63.0)),
])
def test_pilot_offer_follows_iec_61851(ohm: float | None, offer_a: float, expected: tuple) -> None:
    assert tuple(pilot_offer(ohm, offer_a)) == pytest.approx(expected)


def test_pilot_offer_refuses_what_no_pilot_can_show() -> None:
    with pytest.raises(ValueError, match="matches no cable rating"):
        pilot_offer(5000.0, 16.0)
    with pytest.raises(ValueError, match="6..80 A"):
        pilot_offer(220.0, 5.0)
