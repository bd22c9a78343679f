"""The parked powertrain: what draws on the pack, what charges it, and the energy counted."""

from __future__ import annotations

import pytest

from hilbench.plant import Evse, OnBoardCharger, Pack, ParkedPowertrain, Vehicle


def _powertrain(*, plugged: bool = False, aux_load_w: float = 200.0) -> ParkedPowertrain:
    pack = Pack.from_config("nmc", series=96, parallel=1, soc=0.6, temp_c=25.0, ambient_c=25.0, seed=0)
    evse = Evse(max_current_a=16.0)
    if plugged:
        evse.plug_in()
        evse.set_vehicle_ready(True)          # S2 closed: state C
    return ParkedPowertrain(pack, Vehicle(ambient_c=25.0), OnBoardCharger(evse), aux_load_w=aux_load_w,
                            dcdc_efficiency=0.9)


def test_the_load_is_drawn_through_the_dcdc_and_counted() -> None:
    train = _powertrain()
    pack_v = train.pack.pack_voltage_v
    current_a = train.step(1.0, 700.0, contactors_closed=True, max_charge_voltage_v=None, granted_ccl_a=0.0)
    assert current_a == pytest.approx((200.0 + 700.0 / 0.9) / pack_v)
    assert train.compute_energy_j == pytest.approx(700.0)
    assert train.energy_from_pack_j == pytest.approx(current_a * pack_v)
    assert train.charge_energy_j == 0.0


def test_open_contactors_carry_nothing_but_the_unit_is_still_counted() -> None:
    train = _powertrain()
    soc = train.pack.soc
    assert train.step(1.0, 700.0, contactors_closed=False, max_charge_voltage_v=None, granted_ccl_a=0.0) == 0.0
    assert train.pack.soc == soc and train.energy_from_pack_j == 0.0
    assert train.compute_energy_j == pytest.approx(700.0)


def test_the_charger_pushes_current_in_within_the_granted_limit() -> None:
    train = _powertrain(plugged=True)
    for _ in range(30):                       # the charger ramps up
        current_a = train.step(1.0, 0.0, contactors_closed=True, max_charge_voltage_v=None, granted_ccl_a=10.0)
    assert current_a < 0                      # charging
    assert train.charge_energy_j > 0 and train.energy_from_pack_j == 0.0
    assert -current_a <= 10.0 + 1e-9


def test_the_vehicle_sets_the_weather_of_the_pack() -> None:
    train = _powertrain()
    train.vehicle.set_ambient_c(-15.0)
    train.step(1.0, 0.0, contactors_closed=True, max_charge_voltage_v=None, granted_ccl_a=0.0)
    assert train.pack.ambient_c == -15.0
