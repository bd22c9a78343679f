"""Proof that the suite's checks can fail: every seeded DUT defect is caught by a bundled scenario.

Each defect switches one safety rule of the compute emulator off.  For each
one a short scenario known to catch it runs against the defective DUT and
must FAIL on the check written for that rule; ``test_suite.py`` shows the
same scenarios PASS on the correct DUT, so the failure is the defect's doing.
The whole matrix (every scenario x every defect) is ``hilbench defects``; a
small slice of it runs here end to end, the full run only on request.
"""

from __future__ import annotations

import os

import pytest

from hilbench.cli.main import main
from hilbench.dut.compute.supervisor import DEFECTS
from hilbench.scenarios import RunOptions, bundled_scenarios_dir, load_scenario, run_scenario

SUITE = bundled_scenarios_dir()
DOC = SUITE.parents[1] / "docs" / "defects.md"

#: defect -> (the cheapest bundled scenario that catches it, a check that must fail)
CATCHERS: dict[str, tuple[str, str]] = {
    "ignore_reserve": ("charging/plug_yank_at_reserve_lfp_25c.toml", "compute stops at reserve + 2 % within 1 s"),
    "ignore_thermal": ("thermal/cell_overtemp_nmc_45c.toml", "at most half power within 1.5 s of cells at 56 C"),
    "ignore_stale": ("comms/bms_silent_nmc_25c.toml", "SAFE_STOP within 1 s of the silence"),
    "ignore_gear": ("vehicle/shift_to_drive_lfp_-20c.toml", "stops within 0.5 s of leaving P"),
    "ignore_dcl": ("battery/dcl_cold_module_nmc_-20c.toml", "pack current within the BMS discharge limit"),
    "wrong_hysteresis": ("battery/cell_voltage_hysteresis_sodium_25c.toml", "stays stopped below cut-off + 0.20 V"),
    "ignore_charge_only": ("battery/charge_only_module_nmc_25c.toml",
                           "pack never discharges while the charger covers the car's own load"),
}


def test_every_defect_has_a_catcher() -> None:
    assert set(CATCHERS) == set(DEFECTS), "a new seeded defect needs a scenario that catches it"


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defect_is_caught(defect: str) -> None:
    path, check = CATCHERS[defect]
    result = run_scenario(load_scenario(SUITE / path), RunOptions(dut_defect=defect))
    failed = {c.check.name for c in result.checks if not c.passed}
    assert result.error is None
    assert check in failed, f"{defect} escaped {path}: failing checks {sorted(failed) or 'none'}"


def test_defects_command_on_a_slice(capsys, tmp_path) -> None:
    files = [str(SUITE / CATCHERS[d][0]) for d in ("ignore_gear", "ignore_stale")]
    out_md = tmp_path / "defects.md"
    code = main(["defects", *files, "--defect", "ignore_gear", "--defect", "ignore_stale", "--jobs", "1",
                 "--markdown", str(out_md)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2/2 defects caught" in out
    assert "ignore_gear" in out and "shift_to_drive_lfp_-20c: stops within 0.5 s of leaving P" in out
    md = out_md.read_text()
    assert md.count("| `ignore_") == 2 and "ESCAPED" not in md


def test_defects_command_fails_when_a_defect_escapes(capsys) -> None:
    code = main(["defects", str(SUITE / CATCHERS["ignore_gear"][0]), "--defect", "ignore_dcl", "-j", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "ESCAPED" in out and "ignore_dcl" in out


def test_defects_command_skips_long_scenarios_unless_asked(capsys) -> None:
    code = main(["defects", str(SUITE / "overnight.toml"), "--defect", "ignore_gear"])
    assert code == 2
    assert "--include-long" in capsys.readouterr().err


def test_defects_doc_lists_every_defect() -> None:
    text = DOC.read_text(encoding="utf-8")
    for defect in DEFECTS:
        assert f"`{defect}`" in text
    assert "ESCAPED" not in text


@pytest.mark.skipif(not os.environ.get("HILBENCH_SLOW"),
                    reason="the full matrix (every short scenario x 8 DUT variants) takes minutes; "
                           "set HILBENCH_SLOW=1 to run it")
def test_defects_command_on_the_whole_suite(capsys) -> None:
    code = main(["defects"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(DEFECTS)}/{len(DEFECTS)} defects caught" in out
