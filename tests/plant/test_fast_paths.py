"""The plant's fast paths give, bit for bit, what their plain reference forms in the package give.

``Pack`` steps with few numpy calls, ``ReferencePack`` (hilbench/plant/pack_reference.py)
with the equations as written; ``Evse`` keeps its pilot figures between changes,
``ReferenceEvse`` (hilbench/plant/evse_reference.py) works them out at every read.
Each test builds both from the same arguments, drives them alike and compares
every reading; the model itself lives only in the package.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest

from hilbench.plant import CellSpread, Chemistry, Evse, EvseFault, Pack
from hilbench.plant.evse_reference import ReferenceEvse
from hilbench.plant.pack_reference import ReferencePack


def _pair(*args: object, **kwargs: object) -> tuple[Pack, ReferencePack]:
    return Pack(*args, **kwargs), ReferencePack(*args, **kwargs)  # type: ignore[arg-type]


def _assert_same(fast: Pack, ref: Pack) -> None:
    """Every reading of the two packs, to the bit (``tobytes`` also tells -0.0 from 0.0)."""
    assert type(fast) is Pack and type(ref) is ReferencePack
    for name in ("cell_voltages_v", "cell_soc", "cell_temps_c"):
        got, want = getattr(fast, name), getattr(ref, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name
        assert not got.flags.writeable and not want.flags.writeable, name
    assert fast.snapshot() == ref.snapshot()   # pack voltage, heat, SOC, extremes, Ah and Wh counters


def _drive(fast: Pack, ref: Pack, steps: list[tuple[float, float]]) -> None:
    for dt, current in steps:
        fast.step(dt, current)
        ref.step(dt, current)
        _assert_same(fast, ref)


def _random_steps(rng: np.random.Generator, capacity_ah: float, n: int, dt: float) -> list[tuple[float, float]]:
    """Currents around zero, both ways, up to several C (charge and discharge alternate at random)."""
    return [(dt, float(rng.normal(0.0, 2.0 * capacity_ah))) for _ in range(n)]


@pytest.mark.parametrize("coolant_c", [None, 18.0])
def test_pack_step_matches_the_reference_bit_for_bit(chemistry: Chemistry, coolant_c: float | None) -> None:
    fast, ref = (cls.from_config(chemistry, soc=0.5, temp_c=10.0, ambient_c=30.0, seed=7, coolant_c=coolant_c,
                                 coolant_conductance_w_per_k=5.0) for cls in (Pack, ReferencePack))
    _assert_same(fast, ref)
    rng = np.random.default_rng(3)
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 200, 0.1))
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 60, 0.25))    # a new step size
    for pack in (fast, ref):                                              # the weather and the coolant change
        pack.ambient_c = -15.0
        pack.coolant_c = None if coolant_c is None else 40.0
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 60, 0.1))
    for pack in (fast, ref):
        pack.set_cell_temps_c(np.linspace(-20.0, 55.0, pack.series))   # forced temperatures, current flowing
    _assert_same(fast, ref)
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 60, 1.0))


@pytest.mark.parametrize("pairs", [0, 1, 3])
def test_pack_step_matches_the_reference_for_other_rc_pair_counts(pairs: int) -> None:
    # The bundled chemistries all have two RC pairs, which take the fast step's two-row shortcut.
    nmc = Pack.from_config("nmc").chemistry
    chem = dataclasses.replace(nmc, rc_r_ohm=(0.0002, 0.0003, 0.0004)[:pairs], rc_tau_s=(5.0, 60.0, 600.0)[:pairs])
    fast, ref = _pair(chem, 12, 2, soc=0.6, temp_c=5.0, ambient_c=20.0, seed=4)
    _assert_same(fast, ref)
    _drive(fast, ref, _random_steps(np.random.default_rng(8), fast.capacity_ah, 80, 0.1))


def test_soc_is_held_within_0_and_1_as_by_the_reference() -> None:
    fast, ref = _pair(Pack.from_config("nmc").chemistry, 20, soc=0.999, seed=2)
    capacity = fast.capacity_ah
    _drive(fast, ref, [(1.0, -3.0 * capacity)] * 50 + [(10.0, 3.0 * capacity)] * 200 + [(1.0, 0.0)] * 5)
    assert fast.cell_soc.min() == 0.0
    _drive(fast, ref, [(10.0, -3.0 * capacity)] * 200)
    assert fast.cell_soc.max() == 1.0


def test_isothermal_and_identical_cells_match_the_reference() -> None:
    fast, ref = (cls.from_config("lfp", soc=0.4, temp_c=0.0, ambient_c=0.0, seed=5, isothermal=True,
                                 spread=CellSpread.none()) for cls in (Pack, ReferencePack))
    rng = np.random.default_rng(1)
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 50, 0.1))
    for pack in (fast, ref):
        pack.ambient_c = 35.0
        pack.set_cell_temps_c(-5.0)
    _drive(fast, ref, _random_steps(rng, fast.capacity_ah, 50, 0.1))


def test_forced_temperatures_at_rest_and_under_load_match_the_reference() -> None:
    fast, ref = (cls.from_config("solid_state", soc=0.7, seed=9) for cls in (Pack, ReferencePack))
    for temps in (-5.0, 60.0, [25.0] * fast.series):
        for pack in (fast, ref):
            pack.set_cell_temps_c(temps)      # first at rest (no current yet), then under load
        _assert_same(fast, ref)
        _drive(fast, ref, [(0.1, 40.0)] * 5)
        for pack in (fast, ref):
            pack.set_cell_temps_c(temps)
        _assert_same(fast, ref)


# -- EVSE: the kept pilot figures against figures worked out at each read ---------------

_ACTIONS: list[Callable[[Evse], None]] = [
    lambda e: e.plug_in(), lambda e: e.plug_in(1500.0), lambda e: e.plug_in(100.0),
    lambda e: e.unplug(), lambda e: e.set_max_current_a(6.0), lambda e: e.set_max_current_a(80.0),
    lambda e: e.set_max_current_a(25.5), lambda e: e.set_fault(EvseFault.NO_POWER),
    lambda e: e.set_fault("unavailable"), lambda e: e.clear_fault(),
    lambda e: e.set_vehicle_ready(True), lambda e: e.set_vehicle_ready(True, ventilation=True),
    lambda e: e.set_vehicle_ready(False)]


def _evse_readings(evse: Evse) -> tuple[object, ...]:
    return (evse.cp_state, evse.plugged_in, evse.fault, evse.pilot_voltage_v, evse.charging_allowed,
            evse.cable_rating_a, evse.pwm_duty_pct, evse.pilot_current_a, evse.available_current_a)


def test_evse_figures_match_the_reference_after_every_sequence_of_three_actions() -> None:
    fast, ref = Evse(max_current_a=16.0), ReferenceEvse(max_current_a=16.0)
    assert _evse_readings(fast) == _evse_readings(ref)
    for sequence in itertools.product(range(len(_ACTIONS)), repeat=3):
        for index in sequence:
            _ACTIONS[index](fast)
            _ACTIONS[index](ref)
            assert _evse_readings(fast) == _evse_readings(ref), [sequence, index]


def test_a_rejected_cable_or_offer_leaves_the_figures_of_the_reference() -> None:
    fast, ref = Evse(max_current_a=16.0), ReferenceEvse(max_current_a=16.0)
    for evse in (fast, ref):
        evse.plug_in(680.0)
        evse.set_vehicle_ready(True)
    before = _evse_readings(fast)
    for evse in (fast, ref):
        with pytest.raises(ValueError):
            evse.plug_in(5000.0)
        with pytest.raises(ValueError):
            evse.set_max_current_a(math.nan)
        assert _evse_readings(evse) == before
