"""Charge into a cell below its chemistry's charge limit is counted and flagged; reversible heat has its sign.

The pack does not refuse a cold charge (the BMS must, tests/nodes/test_bms.py): it
reports every Ah of it, so a bench run can prove that none reached the cells.
"""

from __future__ import annotations

import pytest

from hilbench.plant import CellSpread, Chemistry, Pack


def _cell(chemistry: Chemistry, temp_c: float, soc: float = 1.0) -> Pack:
    return Pack(chemistry, series=1, soc=soc, temp_c=temp_c, ambient_c=temp_c, spread=CellSpread.none(),
                isothermal=True)


def test_charging_below_the_chemistrys_limit_is_flagged_and_counted(chemistry: Chemistry) -> None:
    pack = _cell(chemistry, chemistry.charge_min_c - 5.0, soc=0.5)
    pack.step(10.0, 5.0)               # discharging in the cold is allowed
    assert not pack.plating_risk
    pack.step(36.0, -10.0)             # 0.1 Ah of charge
    assert pack.plating_risk
    assert pack.plating_ah == pytest.approx(0.1)
    assert pack.snapshot().plating_ah == pytest.approx(0.1)


def test_charging_within_the_limit_is_not_flagged(chemistry: Chemistry) -> None:
    pack = _cell(chemistry, chemistry.charge_min_c + 1.0, soc=0.5)
    pack.step(36.0, -10.0)
    assert not pack.plating_risk
    assert pack.plating_ah == 0.0


def test_the_reversible_heat_warms_a_cell_one_way_and_cools_it_the_other() -> None:
    """NMC's dU/dT < 0: at a current small enough that I^2 R is nothing, discharge heats and charge cools."""
    def heat_w(current_a: float) -> float:
        pack = Pack("nmc", series=1, soc=0.5, temp_c=25.0, spread=CellSpread.none())
        pack.step(1.0, current_a)
        return pack.heat_w

    discharge, charge = heat_w(2.0), heat_w(-2.0)
    entropic_w = 2.0 * (25.0 + 273.15) * 1e-4   # i T |dU/dT|
    assert discharge > 0.0 > charge
    # What remains of the sum is the ohmic and polarisation heat, which is even in the current.
    assert (discharge - charge) / 2.0 == pytest.approx(entropic_w, rel=1e-6)
