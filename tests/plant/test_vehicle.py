"""Vehicle state setters used by scenarios."""

from __future__ import annotations

import pytest

from hilbench.plant import Gear, Vehicle


def test_defaults_are_a_parked_car() -> None:
    car = Vehicle()
    assert car.gear is Gear.P and car.parked and not car.ignition_on


def test_setters() -> None:
    car = Vehicle()
    car.set_gear("d")
    assert car.gear is Gear.D and not car.parked
    car.set_gear(Gear.R)
    assert car.gear is Gear.R
    car.set_ignition(True)
    assert car.ignition_on
    car.set_reserve_soc_pct(35.0)
    assert car.reserve_soc_pct == 35.0
    car.set_ambient_c(-18.0)
    assert car.ambient_c == -18.0
    car.set_coolant_c(20.0)
    assert car.coolant_c == 20.0


@pytest.mark.parametrize(("setter", "value"), [("set_gear", "X"), ("set_reserve_soc_pct", 120.0),
                                               ("set_reserve_soc_pct", -1.0), ("set_ambient_c", float("nan"))])
def test_bad_values_refused(setter: str, value: object) -> None:
    car = Vehicle()
    with pytest.raises(ValueError):
        getattr(car, setter)(value)
