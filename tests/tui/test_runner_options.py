"""Scenario runs started from the TUI are judged on the TUI's own bench: its DUT defect, DBCs, signal
map and emulated nodes, in simulated time on the simtime bus (never on the TUI's real bus)."""

from __future__ import annotations

from pathlib import Path

from hilbench.bus.open import BusConfig
from hilbench.scenarios import RunOptions
from tui.runner import run_in_worker, simulated_options

BUNDLED_BMS_SILENT = "comms/bms_silent_nmc_25c.toml"


def test_the_tuis_options_reach_the_runs_in_simulated_time() -> None:
    tui = RunOptions(seed=3, bus=BusConfig("virtual", "lab", 500_000), dut_defect="ignore_stale",
                     signal_map=Path("map.toml"), wall_time=True, record=Path("x.log"),
                     emulate=frozenset({"bms", "vcu", "obc", "cu"}))
    run = simulated_options(tui, seed=7)
    assert run.seed == 7 and run.dut_defect == "ignore_stale" and run.signal_map == Path("map.toml")
    assert run.emulate == tui.emulate
    assert run.bus == BusConfig() and not run.wall_time and run.record is None
    assert simulated_options(None, seed=2) == RunOptions(seed=2)


def test_a_defect_the_tui_runs_with_fails_the_scenario_built_to_catch_it(tmp_path: Path) -> None:
    from hilbench.scenarios.loader import bundled_scenarios_dir

    path = bundled_scenarios_dir() / BUNDLED_BMS_SILENT
    clean = run_in_worker(path, 0, tmp_path / "clean")
    broken = run_in_worker(path, 0, tmp_path / "broken", options=RunOptions(dut_defect="ignore_stale"))
    assert clean.verdict == "PASS", clean.error
    assert broken.verdict == "FAIL"
