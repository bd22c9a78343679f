"""The bench config's ``dut`` table: each mistake refused with the entry and the reason, each edge accepted.

A test engineer who mistypes a key or puts a staleness figure out of range must be told which
entry and why, before anything runs.  Each test builds its own bench, so mutation testing
credits it with the unit's construction (docs/mutation.md).
"""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.dut import emulator
from hilbench.dut.compute.power import PowerLevel, PowerTable
from hilbench.dut.compute.supervisor import DEFECTS
from hilbench.dut.emulator import DUT_CONFIG_KEYS, ComputeEmulator
from hilbench.errors import ConfigError


def _refused(**dut: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        Bench(BenchConfig(dut=dut, keep_traces=False)).close()
    return caught.value


def test_an_unknown_key_is_refused_naming_it_and_every_allowed_key() -> None:
    error = _refused(stale_cycle=3)
    assert error.file is None
    assert error.entry == "dut"
    assert error.reason == f"unknown key(s) ['stale_cycle']; allowed: {', '.join(DUT_CONFIG_KEYS)}"


@pytest.mark.parametrize(("key", "value", "least"), [
    ("stale_cycles", 0.999, "1"),
    ("stale_cycles", -3, "1"),
    ("stale_cycles", True, "1"),          # a bool is not a number of cycles
    ("stale_cycles", "3", "1"),
    ("min_stale_s", -0.001, "0"),
    ("min_stale_s", float("nan"), "0"),
])
def test_a_staleness_figure_out_of_range_is_refused(key: str, value: object, least: str) -> None:
    error = _refused(**{key: value})
    assert error.entry == f"dut.{key}"
    assert error.reason == f"expected a number >= {least}, got {value!r}"


@pytest.mark.parametrize(("key", "value"), [("stale_cycles", 1), ("stale_cycles", 1.0), ("min_stale_s", 0.0),
                                            ("min_stale_s", 0)])
def test_a_staleness_figure_at_its_least_is_accepted_and_used(key: str, value: float) -> None:
    with Bench(BenchConfig(dut={key: value}, keep_traces=False)) as bench:
        assert bench.dut is not None
        assert getattr(bench.dut.supervisor.params, key) == value


def test_an_unknown_defect_is_refused_naming_it_and_the_known_ones() -> None:
    error = _refused(defect=["ignore_reserve", "no_such_defect"])
    assert error.entry == "dut.defect"
    assert error.reason == f"unknown defect(s) ['no_such_defect']; known: {', '.join(DEFECTS)}"


def test_the_unit_starts_at_the_default_coolant_temperature() -> None:
    """25 C unless the config says otherwise: the junction starts there, and the first heat goes from there."""
    with Bench(BenchConfig(keep_traces=False)) as bench:
        assert bench.dut is not None
        assert bench.dut.unit.coolant_c == 25.0
        assert bench.dut.unit.thermal.junction_c == 25.0
    with Bench(BenchConfig(dut={"coolant_c": 31.5}, keep_traces=False)) as bench:
        assert bench.dut is not None
        assert bench.dut.unit.coolant_c == 31.5


def test_before_it_starts_the_unit_reports_itself_off_for_want_of_data() -> None:
    """What a front end shows of a unit built but not yet run (and what a status frame sent before
    the first tick would carry): off, no data, no power, no tokens, no input named."""
    with Bench(BenchConfig(keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        assert dut.values == {
            "cu_state": "OFF", "cu_power_level": "OFF", "cu_reason": "NO_DATA", "compute_power_w": 0.0,
            "junction_temp_c": 25.0, "tokens_per_s": 0.0, "cu_requested_level": "OFF",
            "cu_requested_pack_current_a": 0.0, "cu_keep_awake": 0, "tokens_total": 0,
            "cu_reason_frame_id": 0, "cu_reason_input_state": "NONE",
            "energy_from_pack_wh": 0.0, "energy_from_grid_wh": 0.0,
        }
        # The supervisor's first look: the unit has drawn nothing yet.
        assert dut.observe().compute_power_w == 0.0


def test_an_unknown_performance_source_is_refused() -> None:
    error = _refused(performance="fast")
    assert error.entry == "dut.performance"
    assert error.reason == "expected 'reference' or 'calibrated', got 'fast'"


@pytest.mark.parametrize("e2e", [3, "window_valid=6", [("window_valid", 6)]])
def test_e2e_settings_that_are_not_a_table_are_refused(e2e: object) -> None:
    error = _refused(e2e=e2e)
    assert error.entry == "dut.e2e"
    assert error.reason == f"expected a table of E2E state machine settings, got {e2e!r}"


def test_a_unit_built_without_a_seed_takes_the_benchs_default_seed() -> None:
    with Bench(BenchConfig(keep_traces=False)) as bench:
        assert bench.dut is not None and bench.dut_port is not None
        unit = ComputeEmulator.from_config(bench.codec, bench.dut_port, bench.clock).unit
        assert unit.seed == BenchConfig().seed == 0


def test_the_tables_e2e_settings_tick_and_seed_reach_the_unit() -> None:
    with Bench(BenchConfig(seed=7, dut={"e2e": {"window_valid": 6, "min_ok_valid": 5}, "tick_s": 0.2},
                           keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        assert dut.tick_s == 0.2
        assert dut.unit.seed == 7
        assert dut.receivers                          # the default bench protects its inputs
        for receiver in dut.receivers.values():
            assert (receiver.config.window_valid, receiver.config.min_ok_valid) == (6, 5)


def test_the_seeded_thermal_defects_set_the_trip_points_they_name() -> None:
    """``ignore_thermal`` moves every trip out of reach; ``wrong_hysteresis`` keeps the temperatures
    and drops the hysteresis (``hilbench defects`` proves a scenario catches each)."""
    from hilbench.dut.compute.governor import ThermalTrips, TripPoint

    with Bench(BenchConfig(dut={"defect": "ignore_thermal"}, keep_traces=False)) as bench:
        assert bench.dut is not None
        assert bench.dut.unit.governor.trips == ThermalTrips(TripPoint(500.0, 5.0), TripPoint(600.0, 2.0),
                                                             TripPoint(700.0, 15.0))
    default = ThermalTrips()
    with Bench(BenchConfig(dut={"defect": "wrong_hysteresis"}, keep_traces=False)) as bench:
        assert bench.dut is not None
        assert bench.dut.unit.governor.trips == ThermalTrips(TripPoint(default.passive.temp_c, 0.0),
                                                             TripPoint(default.hot.temp_c, 0.0),
                                                             TripPoint(default.critical.temp_c, 0.0))
    with Bench(BenchConfig(keep_traces=False)) as bench:
        assert bench.dut is not None
        assert bench.dut.unit.governor.trips == default


REFERENCE_FILE = """\
max_power_w = 80.0
idle_power_w = 12.0
[tokens_per_s]
P25 = 5.0
P50 = 9.0
P75 = 13.0
P100 = 17.0
"""


def test_the_reference_performance_files_figures_are_the_units(tmp_path, monkeypatch) -> None:
    """The unit's power table, its governor's levels, the supervisor's ceiling and the tokens per
    level come from ``compute/reference_performance.toml``.  The figures here differ from
    ``PowerTable``'s defaults, so a table dropped anywhere on the way shows."""
    path = tmp_path / "reference_performance.toml"
    path.write_text(REFERENCE_FILE, encoding="utf-8")
    monkeypatch.setattr(emulator, "REFERENCE_PERFORMANCE", path)
    perf, table = emulator.reference_performance()
    assert (table.max_w, table.idle_w) == (80.0, 12.0)
    assert (perf.watts[PowerLevel.P100], perf.watts[PowerLevel.IDLE], perf.tokens_per_s[PowerLevel.P50]) == (
        80.0, 12.0, 9.0)
    given = PowerTable(max_w=30.0, idle_w=5.0)
    perf, table = emulator.reference_performance(given)
    assert table is given
    assert (perf.watts[PowerLevel.P100], perf.tokens_per_s[PowerLevel.P100]) == (30.0, 17.0)
    with Bench(BenchConfig(keep_traces=False)) as bench:
        assert bench.dut is not None
        unit = bench.dut.unit
        assert (unit.table.max_w, unit.table.idle_w) == (80.0, 12.0)
        assert unit.governor.levels is unit.table
        assert unit.performance.watts[PowerLevel.P100] == 80.0
        assert bench.dut.supervisor.max_power_w == 80.0


def test_a_bundled_model_is_checked_against_the_shipped_manifest(tmp_path, monkeypatch) -> None:
    """A bundled model, by default or by name, is refused when its bytes are not the manifest's."""
    from hilbench.dut.compute import engine

    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[models."tiny-llm.onnx"]\nsha256 = "' + "0" * 64 + '"\n'
        '[models."tiny-llm-int8.onnx"]\nsha256 = "' + "1" * 64 + '"\n', encoding="utf-8")
    monkeypatch.setattr(engine, "BUNDLED_MANIFEST", manifest)
    for dut, expected in (({"fidelity": "real"}, "0" * 64), ({"fidelity": "real", "model": "tiny-llm-int8"}, "1" * 64),
                          ({"performance": "calibrated"}, "0" * 64)):
        with pytest.raises(ConfigError) as caught:
            Bench(BenchConfig(dut=dut, keep_traces=False)).close()
        assert f"expected {expected} (from {manifest})" in str(caught.value)


def test_calibrated_performance_is_measured_on_the_bundled_model_under_the_units_table(tmp_path,
                                                                                       monkeypatch) -> None:
    """``performance = "calibrated"`` times the bundled model (the unit itself stays a model) with
    the unit's own power table; the figures are the measurement's, not the reference file's."""
    from hilbench.dut.compute import calibration

    path = tmp_path / "reference_performance.toml"
    path.write_text(REFERENCE_FILE, encoding="utf-8")
    monkeypatch.setattr(emulator, "REFERENCE_PERFORMANCE", path)
    monkeypatch.setenv("HILBENCH_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[tuple[object, object]] = []
    measure = calibration.calibrate

    def calibrate(engine, table=None, **kwargs):
        calls.append((engine, table))
        assert kwargs.pop("steps") == 256          # the unit's request length (a quicker one measured here)
        return measure(engine, table, repeats=1, steps=4, **kwargs)

    monkeypatch.setattr(calibration, "calibrate", calibrate)
    with Bench(BenchConfig(dut={"performance": "calibrated"}, keep_traces=False)) as bench:
        assert bench.dut is not None
        unit = bench.dut.unit
        assert unit.fidelity == "model"
        assert calls == [(unit.engine, unit.table)] and unit.engine is not None
        assert unit.engine.spec.path.name == "tiny-llm.onnx"
        performance = unit.performance
        assert performance.model_sha256 == unit.engine.spec.sha256
        assert performance.table_key == unit.table.key()
        assert performance.watts[PowerLevel.P100] == 80.0
        assert performance.tokens_per_s[PowerLevel.P100] > 0.0
