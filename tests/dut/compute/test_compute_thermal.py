"""Thermal RC model: steady state, hot-coolant trip, exact (step-size independent) integration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hilbench.dut.compute import ThermalModel, ThermalParams, ThermalTrips


def _settle(model: ThermalModel, power_w: float, coolant_c: float, hours: float = 2.0) -> float:
    for _ in range(int(hours * 60)):
        model.step(60.0, power_w, coolant_c)
    return model.junction_c


def test_steady_state_at_60w_with_cool_coolant() -> None:
    model = ThermalModel(initial_c=25.0)
    tj = _settle(model, 60.0, 25.0)
    assert 70.0 <= tj <= 80.0
    assert tj == pytest.approx(model.params.steady_junction_c(60.0, 25.0), abs=0.01)
    assert 25.0 < model.heatsink_c < tj


def test_hot_coolant_crosses_the_passive_trip() -> None:
    passive = ThermalTrips().passive.temp_c
    model = ThermalModel(initial_c=55.0)
    assert _settle(model, 60.0, 55.0) > passive
    cool = ThermalModel(initial_c=25.0)
    assert _settle(cool, 60.0, 25.0) < passive


def test_no_power_relaxes_to_coolant() -> None:
    model = ThermalModel(initial_c=90.0)
    assert _settle(model, 0.0, 30.0) == pytest.approx(30.0, abs=0.01)


def test_one_long_step_equals_many_short_ones() -> None:
    a, b = ThermalModel(), ThermalModel()
    a.step(30.0, 60.0, 25.0)
    for _ in range(3000):
        b.step(0.01, 60.0, 25.0)
    assert a.junction_c == pytest.approx(b.junction_c, abs=1e-6)
    assert a.heatsink_c == pytest.approx(b.heatsink_c, abs=1e-6)


def test_junction_time_constant_is_seconds_heatsink_minutes() -> None:
    model = ThermalModel()
    model.step(20.0, 60.0, 25.0)
    gradient = model.junction_c - model.heatsink_c  # settles at P * R_jh within seconds
    assert gradient == pytest.approx(60.0 * model.params.r_jh_k_per_w, rel=0.15)
    assert model.heatsink_c - 25.0 < 3.0  # the cold plate has barely moved


@settings(max_examples=60, deadline=None)
@given(
    dt=st.floats(0.001, 3600.0),
    power=st.floats(0.0, 200.0),
    coolant=st.floats(-30.0, 70.0),
    start=st.floats(-30.0, 120.0),
)
def test_any_step_is_stable_and_exact(dt: float, power: float, coolant: float, start: float) -> None:
    """For any dt: no blow-up (bounded by start, coolant and steady state plus the junction rise),
    and one step equals two half steps (the discretisation is exact)."""
    one = ThermalModel(ThermalParams(), initial_c=start)
    two = ThermalModel(ThermalParams(), initial_c=start)
    steady = one.params.steady_junction_c(power, coolant)
    lo = min(start, coolant)
    hi = max(start, steady) + power * one.params.r_jh_k_per_w
    tj = one.step(dt, power, coolant)
    assert lo - 1e-6 <= tj <= hi + 1e-6
    two.step(dt / 2, power, coolant)
    two.step(dt / 2, power, coolant)
    assert two.junction_c == pytest.approx(tj, abs=1e-6)
    assert two.heatsink_c == pytest.approx(one.heatsink_c, abs=1e-6)


def test_bad_step_is_refused() -> None:
    with pytest.raises(ValueError, match="dt_s"):
        ThermalModel().step(-1.0, 10.0, 25.0)
    with pytest.raises(ValueError, match="finite"):
        ThermalModel().step(1.0, float("nan"), 25.0)
