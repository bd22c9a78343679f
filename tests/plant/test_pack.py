"""Pack plant: capacity, cold behaviour, I*R drop, spread, determinism, heat."""

from __future__ import annotations

import numpy as np
import pytest

from hilbench.plant import CellSpread, Chemistry, Pack, PackSnapshot, load_chemistry

from ._harness import discharge_to_cutoff


def test_one_c_discharge_at_25c_delivers_rated_capacity(chemistry: Chemistry) -> None:
    pack = Pack.from_config(chemistry, soc=1.0, temp_c=25.0, seed=1)
    delivered_ah = discharge_to_cutoff(pack, current_a=pack.capacity_ah)
    assert pack.min_cell_voltage_v <= chemistry.min_voltage_v
    assert delivered_ah == pytest.approx(pack.capacity_ah, rel=0.05)
    assert pack.equivalent_full_cycles == pytest.approx(delivered_ah / pack.capacity_ah)


def _cold_fraction(name: str) -> float:
    pack = Pack.from_config(name, soc=1.0, temp_c=-20.0, ambient_c=-20.0, seed=1, isothermal=True)
    return discharge_to_cutoff(pack, current_a=pack.capacity_ah, dt_s=5.0) / pack.capacity_ah


def test_sodium_ion_beats_lfp_at_minus_20c() -> None:
    sodium, lfp = _cold_fraction("sodium_ion"), _cold_fraction("lfp")
    assert sodium > 0.70
    assert lfp < sodium
    assert 0.3 < lfp < 0.7  # poor in the cold, but not dead


def test_cold_delivers_less_than_warm(chemistry: Chemistry) -> None:
    warm = Pack.from_config(chemistry, soc=1.0, temp_c=25.0, seed=3, spread=CellSpread.none())
    cold = Pack.from_config(chemistry, soc=1.0, temp_c=-10.0, ambient_c=-10.0, seed=3,
                            spread=CellSpread.none(), isothermal=True)
    current = chemistry.capacity_ah
    assert discharge_to_cutoff(cold, current, dt_s=5.0) < discharge_to_cutoff(warm, current, dt_s=5.0)


@pytest.mark.parametrize("temp_c", [25.0, 0.0, -20.0])
def test_current_step_from_rest_drops_by_i_r0(chemistry: Chemistry, temp_c: float) -> None:
    pack = Pack.from_config(chemistry, soc=0.6, temp_c=temp_c, ambient_c=temp_c,
                            spread=CellSpread.none(), isothermal=True)
    rest_v = pack.cell_voltages_v.copy()
    current = 0.5 * pack.capacity_ah
    pack.step(1e-3, current)
    expected_drop_v = current / pack.parallel * float(chemistry.r0_ohm_at(temp_c))
    drop_v = rest_v - pack.cell_voltages_v
    np.testing.assert_allclose(drop_v, expected_drop_v, rtol=0.02)
    assert pack.pack_voltage_v == pytest.approx(float(pack.cell_voltages_v.sum()))


def test_relaxation_after_load_recovers_towards_ocv(chemistry: Chemistry) -> None:
    pack = Pack.from_config(chemistry, soc=0.6, spread=CellSpread.none(), isothermal=True)
    for _ in range(60):
        pack.step(10.0, pack.capacity_ah)
    loaded = pack.min_cell_voltage_v
    pack.step(1e-3, 0.0)
    just_after = pack.min_cell_voltage_v
    for _ in range(360):
        pack.step(10.0, 0.0)
    ocv = float(chemistry.ocv_v(pack.cell_soc[0], 25.0))
    assert loaded < just_after < pack.min_cell_voltage_v
    assert pack.min_cell_voltage_v == pytest.approx(ocv, abs=2e-3)


def test_resistance_drop_is_larger_in_the_cold(chemistry: Chemistry) -> None:
    drops = []
    for temp_c in (25.0, -10.0):
        pack = Pack.from_config(chemistry, soc=0.6, temp_c=temp_c, ambient_c=temp_c, isothermal=True)
        rest = pack.pack_voltage_v
        pack.step(1.0, pack.capacity_ah)
        drops.append(rest - pack.pack_voltage_v)
    assert drops[1] > 1.5 * drops[0]


def test_spread_makes_cells_differ(chemistry: Chemistry) -> None:
    pack = Pack.from_config(chemistry, soc=0.5, seed=7)
    pack.step(10.0, pack.capacity_ah)
    assert pack.min_cell_voltage_v < pack.max_cell_voltage_v
    assert pack.min_cell_temp_c < pack.max_cell_temp_c
    assert len(pack.cell_voltages_v) == pack.series == chemistry.series_400v
    assert pack.cell_temps_c.shape == pack.cell_soc.shape == (pack.series,)


def test_no_spread_means_identical_cells() -> None:
    pack = Pack.from_config("nmc", soc=0.5, spread=CellSpread.none())
    pack.step(10.0, 50.0)
    assert pack.min_cell_voltage_v == pack.max_cell_voltage_v


def _run(seed: int) -> Pack:
    pack = Pack.from_config("lfp", soc=0.8, temp_c=20.0, ambient_c=5.0, seed=seed)
    for k in range(200):
        pack.step(0.1 + 0.01 * (k % 3), 80.0 if k < 150 else -40.0)
    return pack


def test_same_seed_is_bit_for_bit_identical() -> None:
    a, b = _run(42), _run(42)
    for name in ("cell_voltages_v", "cell_temps_c", "cell_soc"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.snapshot() == b.snapshot()


def test_different_seed_differs() -> None:
    a, b = _run(42), _run(43)
    assert not np.array_equal(a.cell_voltages_v, b.cell_voltages_v)
    assert not np.array_equal(a.cell_temps_c, b.cell_temps_c)


def test_discharge_warms_the_pack_above_ambient(chemistry: Chemistry) -> None:
    pack = Pack.from_config(chemistry, soc=1.0, temp_c=25.0, ambient_c=25.0, spread=CellSpread.none())
    for _ in range(180):
        pack.step(10.0, 2.0 * pack.capacity_ah)  # 2C for up to 30 min
        if pack.min_cell_voltage_v <= chemistry.min_voltage_v:
            break
    assert pack.min_cell_temp_c > 25.5
    assert pack.heat_w > 0.0


def test_warm_pack_relaxes_towards_ambient() -> None:
    pack = Pack.from_config("nmc", soc=0.5, temp_c=40.0, ambient_c=10.0)
    temps = [pack.max_cell_temp_c]
    for _ in range(96):
        pack.step(1800.0, 0.0)  # two days in half-hour steps
        temps.append(pack.max_cell_temp_c)
    assert all(b < a for a, b in zip(temps, temps[1:]))
    # A parked pack follows ambient over hours, not minutes: after 6 h
    # roughly a third to two thirds of the 30 K gap remains.
    assert 10.0 + 0.3 * 30.0 < temps[12] < 10.0 + 0.7 * 30.0
    assert temps[-1] == pytest.approx(10.0, abs=0.5)
    assert pack.min_cell_temp_c >= 10.0 - 1e-9  # never undershoots


def test_coolant_pulls_the_pack_to_coolant_temperature() -> None:
    pack = Pack.from_config("nmc", soc=0.5, temp_c=40.0, ambient_c=40.0,
                            coolant_c=20.0, coolant_conductance_w_per_k=200.0)
    for _ in range(100):
        pack.step(60.0, 0.0)
    assert pack.max_cell_temp_c < 22.0


def test_ambient_is_settable_and_validated() -> None:
    pack = Pack.from_config("lfp")
    pack.ambient_c = -5.0
    assert pack.ambient_c == -5.0
    with pytest.raises(ValueError):
        pack.ambient_c = float("nan")


def test_charge_raises_soc_and_voltage() -> None:
    pack = Pack.from_config("nmc", soc=0.3)
    soc0, v0 = pack.soc, pack.pack_voltage_v
    for _ in range(60):
        pack.step(10.0, -36.0)
    assert pack.soc > soc0 and pack.pack_voltage_v > v0
    assert pack.charge_ah == pytest.approx(36.0 * 600 / 3600)
    assert pack.discharge_ah == 0.0


@pytest.mark.parametrize(("dt_s", "current_a"), [(0.0, 1.0), (-1.0, 1.0), (float("nan"), 1.0),
                                                 (float("inf"), 1.0), (1.0, float("nan")), (1.0, float("inf"))])
def test_step_refuses_bad_arguments(dt_s: float, current_a: float) -> None:
    pack = Pack.from_config("nmc")
    with pytest.raises(ValueError):
        pack.step(dt_s, current_a)
    assert pack.elapsed_s == 0.0


@pytest.mark.parametrize("kwargs", [{"series": 0}, {"parallel": 0}, {"soc": 1.5}, {"temp_c": float("nan")},
                                    {"ambient_conductance_w_per_k": 0.0}])
def test_constructor_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Pack.from_config("nmc", **kwargs)  # type: ignore[arg-type]


def test_parallel_cells_share_the_current_and_scale_capacity() -> None:
    one = Pack.from_config("nmc", parallel=1, soc=0.6, spread=CellSpread.none())
    two = Pack.from_config("nmc", parallel=2, soc=0.6, spread=CellSpread.none())
    assert two.capacity_ah == 2 * one.capacity_ah
    one.step(1.0, 50.0)
    two.step(1.0, 100.0)
    np.testing.assert_allclose(one.cell_voltages_v, two.cell_voltages_v)


def test_arrays_are_read_only_and_snapshot_is_frozen() -> None:
    pack = Pack.from_config("lfp")
    with pytest.raises(ValueError):
        pack.cell_voltages_v[0] = 0.0
    snap = pack.snapshot()
    assert isinstance(snap, PackSnapshot)
    assert snap.pack_voltage_v == pack.pack_voltage_v and snap.chemistry == "lfp"
    with pytest.raises(AttributeError):
        snap.soc = 0.0  # type: ignore[misc]


def test_from_config_uses_400v_class_series_counts() -> None:
    for name in ("lfp", "nmc", "sodium_ion", "solid_state"):
        pack = Pack.from_config(name, soc=1.0, spread=CellSpread.none())
        nominal_v = pack.series * load_chemistry(name).nominal_voltage_v
        assert 330.0 <= nominal_v <= 400.0, name
        assert pack.pack_voltage_v <= 480.0, name


def test_set_cell_temps_for_a_hot_cell_fault() -> None:
    pack = Pack.from_config("nmc")
    temps = np.full(pack.series, 25.0)
    temps[10] = 70.0
    pack.set_cell_temps_c(temps)
    assert pack.max_cell_temp_c == 70.0
    with pytest.raises(ValueError):
        pack.set_cell_temps_c(np.full(3, 25.0))
