"""Emulated BMS: SOC estimate, derated limits, debounced fault levels, cell detail on the bus."""

from __future__ import annotations

import cantools
import numpy as np
import pytest

from hilbench.bus import default_dbc_path
from hilbench.bus.roles import FAULT_LEVELS

DBC = cantools.database.load_file(default_dbc_path(), strict=True)


def _level_trace(bench, role: str) -> tuple[np.ndarray, list[str]]:
    t, v = bench.monitor.trace(role)
    states = bench.monitor.states_of(role)
    return t, [states[int(x)] for x in v]


def _first_time(t: np.ndarray, values: list[str], state: str) -> float | None:
    for ti, vi in zip(t, values, strict=True):
        if vi == state:
            return float(ti)
    return None


# ---------------------------------------------------------------- SOC

def test_soc_estimate_follows_the_plant_over_a_discharge(make_bench) -> None:
    bench = make_bench(soc_pct=80.0)
    bench.aux_load_w = 40_000.0               # ~105 A, about 1.5 C: a hard discharge
    start_soc = bench.pack.soc * 100
    errors = []
    for _ in range(10):
        bench.run_for(30.0)
        errors.append(abs(bench.bms.soc_estimate_pct - bench.pack.soc * 100))
    drop = start_soc - bench.pack.soc * 100
    assert drop > 10.0, "the discharge must move SOC for this test to mean anything"
    assert max(errors) < 1.0
    on_bus = bench.monitor.latest["soc_pct"]
    assert on_bus == pytest.approx(bench.bms.soc_estimate_pct, abs=0.15)
    assert bench.monitor.latest["pack_current_a"] == pytest.approx(bench.pack.current_a, rel=0.02)
    # the SOC trace on the bus falls monotonically (within its 0.1 % resolution)
    _t, soc = bench.monitor.trace("soc_pct")
    assert np.all(np.diff(soc) <= 0.1 + 1e-9)


# ---------------------------------------------------------------- limits in the cold

@pytest.mark.parametrize(("temp_c", "dcl", "ccl"), [
    pytest.param(20.0, "full", "full", id="20C-both-full"),
    pytest.param(-5.0, "full", "zero", id="-5C-no-charge-below-0C"),
    pytest.param(-15.0, "derated", "zero", id="-15C-discharge-derated"),
    pytest.param(-22.0, "zero", "zero", id="-22C-below-discharge-window"),
])
def test_current_limits_derate_with_cell_temperature(make_bench, temp_c, dcl, ccl) -> None:
    bench = make_bench(chemistry="nmc", ambient_c=temp_c, pack_temp_c=temp_c, soc_pct=70.0)
    bench.run_for(3.0)
    latest = bench.monitor.latest
    full_dcl = bench.bms.params["limits"]["max_discharge_c_rate"] * bench.pack.capacity_ah
    full_ccl = bench.bms.params["limits"]["max_charge_c_rate"] * bench.pack.capacity_ah
    assert latest["min_cell_temp_c"] == pytest.approx(temp_c, abs=2.0)
    for role, expect, full in (("discharge_current_limit_a", dcl, full_dcl),
                               ("charge_current_limit_a", ccl, full_ccl)):
        value = latest[role]
        if expect == "full":
            assert value == pytest.approx(full, abs=0.1), role
        elif expect == "zero":
            assert value == 0.0, role
        else:
            assert 0.2 * full < value < 0.8 * full, role
    # the derate, not a contactor trip, is what took the limits to zero
    assert latest["contactor_state"] == "CLOSED"
    assert bench.bms.contactor_closed


def test_below_the_discharge_window_the_bms_requests_a_stop(make_bench) -> None:
    bench = make_bench(ambient_c=-22.0, pack_temp_c=-22.0)
    bench.run_for(3.0)
    assert bench.monitor.latest["under_temp_discharge"] == "STOP_REQUEST"
    assert bench.monitor.latest["bms_fault_level"] == "STOP_REQUEST"


# ---------------------------------------------------------------- fault levels and debounce

def _staircase(value, now_s):
    """Max-temperature sensor reading: normal, then warning, stop and hard-limit levels (NMC: 55/60/65 C)."""
    if now_s < 2.0:
        return value
    if now_s < 4.0:
        return 57.0
    if now_s < 6.0:
        return 62.0
    return 67.0


def test_fault_levels_rise_only_after_the_debounce_and_hard_limit_opens_contactors(make_bench) -> None:
    bench = make_bench()
    bench.bms.sensor_faults["max_cell_temp_c"] = _staircase
    debounce = bench.bms.params["faults"]["debounce_s"]
    assert debounce > 0
    bench.run_for(9.0)
    t, levels = _level_trace(bench, "bms_fault_level")
    t_warn = _first_time(t, levels, "WARNING")
    t_stop = _first_time(t, levels, "STOP_REQUEST")
    t_hard = _first_time(t, levels, "HARD_LIMIT")
    assert t_warn is not None and t_stop is not None and t_hard is not None
    assert 2.0 + debounce <= t_warn <= 2.0 + debounce + 0.25
    assert 4.0 + debounce <= t_stop <= 4.0 + debounce + 0.25
    assert 6.0 + debounce <= t_hard <= 6.0 + debounce + 0.25
    # monotone: never back down while the condition holds
    ranks = [FAULT_LEVELS.index(x) for x in levels]
    assert ranks == sorted(ranks)
    _t, flag = _level_trace(bench, "over_temp_discharge")
    assert flag[-1] == "HARD_LIMIT"
    # contactors open at HARD_LIMIT (not before), and the limits drop to zero
    tc, contactor = _level_trace(bench, "contactor_state")
    t_open = _first_time(tc, contactor, "OPEN")
    assert t_open is not None and t_hard - 0.1 <= t_open <= t_hard + 0.1
    assert all(c == "CLOSED" for tt, c in zip(tc, contactor, strict=True) if tt < t_hard - 0.1)
    latest = bench.monitor.latest
    assert latest["discharge_current_limit_a"] == 0.0 and latest["charge_current_limit_a"] == 0.0
    # and the plant sees the open contactors: no current flows
    assert bench.pack.current_a == 0.0


def test_a_spike_shorter_than_the_debounce_raises_nothing(make_bench) -> None:
    bench = make_bench()
    debounce = bench.bms.params["faults"]["debounce_s"]

    def spike(value, now_s):
        return 80.0 if 2.0 <= now_s < 2.0 + debounce - 0.15 else value

    bench.bms.sensor_faults["max_cell_temp_c"] = spike
    bench.run_for(5.0)
    _t, levels = _level_trace(bench, "bms_fault_level")
    assert set(levels) == {"NONE"}
    assert bench.bms.contactor_closed


def test_a_level_clears_only_after_the_debounce(make_bench) -> None:
    bench = make_bench()
    debounce = bench.bms.params["faults"]["debounce_s"]
    bench.bms.sensor_faults["max_cell_temp_c"] = lambda v, t: 57.0 if 1.0 <= t < 3.0 else v
    bench.run_for(6.0)
    t, levels = _level_trace(bench, "over_temp_discharge")
    t_clear = next(float(ti) for ti, vi in zip(t, levels, strict=True) if ti > 1.5 + debounce and vi == "NONE")
    assert 3.0 + debounce <= t_clear <= 3.0 + debounce + 0.25


def test_reset_contactors_after_a_trip(make_bench) -> None:
    bench = make_bench()
    bench.bms.sensor_faults["max_cell_temp_c"] = lambda v, t: 70.0 if t >= 1.0 else v
    bench.run_for(3.0)
    assert bench.monitor.latest["contactor_state"] == "OPEN"
    bench.bms.sensor_faults.clear()
    bench.run_for(2.0)
    assert bench.monitor.latest["contactor_state"] == "OPEN", "a hard-limit trip latches"
    bench.bms.reset_contactors()
    bench.run_for(1.0)
    assert bench.monitor.latest["contactor_state"] == "CLOSED"


# ---------------------------------------------------------------- cell values on the bus

def test_min_cell_voltage_is_below_max_on_the_bus(make_bench) -> None:
    bench = make_bench()
    bench.aux_load_w = 10_000.0
    bench.run_for(20.0)
    _t, v_min = bench.monitor.trace("min_cell_voltage_v")
    _t, v_max = bench.monitor.trace("max_cell_voltage_v")
    assert len(v_min) == len(v_max) > 100
    assert np.all(v_min < v_max)
    chem = bench.pack.chemistry
    assert np.all(v_min > chem.min_voltage_v) and np.all(v_max < chem.max_voltage_v)
    assert v_min[-1] == pytest.approx(bench.pack.min_cell_voltage_v, abs=0.005)
    assert v_max[-1] == pytest.approx(bench.pack.max_cell_voltage_v, abs=0.005)
    _t, t_min = bench.monitor.trace("min_cell_temp_c")
    _t, t_max = bench.monitor.trace("max_cell_temp_c")
    assert np.all(t_min <= t_max)


def _collect(bench, message: str) -> list:
    frame_id = DBC.get_message_by_name(message).frame_id
    frames: list = []
    bench.restbus.add_tap(lambda msg: frames.append(msg) if msg.arbitration_id == frame_id else None)
    return frames


@pytest.mark.parametrize("series", [96, 110])
def test_per_cell_mux_frames_cover_every_cell(make_bench, series: int) -> None:
    bench = make_bench(series=series)
    voltages = _collect(bench, "BMS_CellVoltages")
    temps = _collect(bench, "BMS_CellTemps")
    fd = _collect(bench, "BMS_ModuleCellsFD")
    bench.run_for(3.0)
    n_sensors = len(bench.bms.sensor_temps_c)

    cells: dict[int, float] = {}
    for frame in voltages:
        for name, value in DBC.decode_message(frame.arbitration_id, frame.data).items():
            if name.startswith("CellVoltage"):
                cells[int(name[len("CellVoltage"):])] = value
    assert set(range(1, series + 1)) <= set(cells)
    plant = bench.pack.cell_voltages_v
    got = np.array([cells[i] for i in range(1, series + 1)])
    assert np.allclose(got, plant, atol=0.003)

    sensors: dict[int, float] = {}
    for frame in temps:
        for name, value in DBC.decode_message(frame.arbitration_id, frame.data).items():
            if name.startswith("CellTemp"):
                sensors[int(name[len("CellTemp"):])] = value
    assert set(range(1, n_sensors + 1)) <= set(sensors)
    got_t = np.array([sensors[i] for i in range(1, n_sensors + 1)])
    assert np.allclose(got_t, bench.bms.sensor_temps_c, atol=0.6)

    fd_cells: dict[tuple[int, int], float] = {}
    counts: dict[int, int] = {}
    for frame in fd:
        decoded = DBC.decode_message(frame.arbitration_id, frame.data)
        module = decoded["ModuleIndex"]
        counts[module] = decoded["ModuleCellCount"]
        for k in range(1, decoded["ModuleCellCount"] + 1):
            fd_cells[(module, k)] = decoded[f"M{module:02d}Cell{k:02d}Voltage"]
    assert sum(counts.values()) == series
    flat = [fd_cells[(m, k)] for m in sorted(counts) for k in range(1, counts[m] + 1)]
    assert np.allclose(flat, plant, atol=0.003)



@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_no_charge_reaches_a_cell_below_its_charge_limit_while_the_pack_warms_through_it(make_bench,
                                                                                          chemistry) -> None:
    """Plugged in with the cells just below their charge limit, then warming through it 0.1 C a minute,
    3 C apart from the coldest cell to the warmest (in no order the sensors follow).

    The BMS senses a subset of the cells (``temp_sensors_per_cells``), with noise; the plant
    counts the charge that goes into any cell below ``charge_min_c`` (``plating_ah``), sensed or not.
    """
    bench = make_bench(chemistry=chemistry, soc_pct=40.0, plugged_in=True)
    limit_c = bench.pack.chemistry.charge_min_c
    bench.vehicle.set_ambient_c(limit_c)
    spread_c = np.random.default_rng(5).permutation(np.linspace(-1.5, 1.5, bench.pack.series))
    for minute in range(120):                        # from 4 C below the limit to 8 C above it
        bench.pack.set_cell_temps_c(limit_c - 4.0 + 0.1 * minute + spread_c)
        bench.run_for(60.0)
    assert bench.pack.plating_ah == 0.0, f"charged {bench.pack.plating_ah:.4f} Ah into cells below {limit_c} C"
    assert bench.pack.charge_ah > 1.0, "the pack warmed through its limit but was never charged"


def test_a_cold_charge_that_reaches_the_cells_is_a_warning_of_the_run(make_bench) -> None:
    """Whoever let it through (a real BMS in the loop, a scenario forcing current), the run says so."""
    bench = make_bench(chemistry="lfp", ambient_c=-5.0, pack_temp_c=-5.0)
    bench.run_for(1.0)
    assert not any("plating" in w for w in bench.warnings)
    bench.pack.step(36.0, -10.0)        # 0.1 Ah forced into the cold pack
    assert bench.snapshot().plating_ah == pytest.approx(0.1)
    assert any("0.1000 Ah into cells below 0 C (lithium plating risk)" in w for w in bench.warnings)
