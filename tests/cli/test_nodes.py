"""``hilbench nodes`` and the report of an outside node that stays silent (issue 15, HIL modes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.resources import scenarios_dir


def test_nodes_lists_each_node_as_emulated_or_from_outside_with_its_messages(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "--no-dut", "--real", "obc"]) == 0
    out = capsys.readouterr().out
    assert "bms  battery management (BMS): emulated" in out
    assert "obc  on-board charger (OBC): from outside (a real ECU)" in out
    assert "cu   compute unit (the DUT): from outside (a real ECU)" in out
    assert "0x100  BMS_PackStatus  (20 ms, 8 bytes)" in out
    assert "0x118  BMS_ModuleCellsFD  (100 ms, 64 bytes, FD)" in out


def test_nodes_on_a_cars_map_lists_the_cars_messages(capsys: pytest.CaptureFixture[str]) -> None:
    gm = Path(__file__).resolve().parents[2] / "fixtures" / "foreign" / "gm_volt.signals.toml"
    assert main(["nodes", "--signal-map", str(gm), "--real", "bms"]) == 0
    out = capsys.readouterr().out
    assert "bms  battery management (BMS): from outside (a real ECU)" in out and "GW_BmsPack" in out


def test_a_node_expected_from_outside_that_sends_nothing_is_named_after_the_run_never_waited_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    """No real compute unit on the bus: the run still ends on time, fails its checks, and says which node was
    silent and which of its messages never came."""
    scenario = scenarios_dir() / "vehicle" / "owner_stops_compute_solid_state_25c.toml"
    assert main(["run", "--no-dut", str(scenario)]) == 1
    out = capsys.readouterr().out
    assert ("warning: the cu is not emulated (expected from outside) and sent nothing in 120.0 s: none of CU_Status"
            in out)


def test_an_emulated_run_names_no_silent_node(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = scenarios_dir() / "vehicle" / "owner_stops_compute_solid_state_25c.toml"
    assert main(["run", str(scenario)]) == 0
    assert "expected from outside" not in capsys.readouterr().out
