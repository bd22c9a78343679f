"""Proof that the suite's checks can fail: every seeded DUT defect is caught by a scenario built for it.

Each defect switches one safety rule of the compute emulator off.  Scenarios
say which defects they are built to catch (``[scenario] catches = [...]``).
For each defect one short scenario built for it runs against the defective DUT
and must FAIL on the check written for that rule; the scenario items of the
suite show the same scenarios PASS on the correct DUT, so the failure is the
defect's doing.  The whole matrix (every scenario x every defect) is
``hilbench defects``; a small slice of it runs here end to end, the full run
only on request.
"""

from __future__ import annotations

import os

import pytest

from hilbench.cli.defects import DefectReport, Outcome, format_markdown, format_table
from hilbench.cli.main import main
from hilbench.dut.compute.supervisor import DEFECTS
from hilbench.errors import ConfigError
from hilbench.scenarios import RunOptions, bundled_scenarios_dir, discover, load_scenario, run_scenario

SUITE = bundled_scenarios_dir()
DOC = SUITE.parents[1] / "docs" / "defects.md"

#: defect -> (the cheapest bundled scenario built for it, a check that must fail)
CATCHERS: dict[str, tuple[str, str]] = {
    "ignore_reserve": ("charging/plug_yank_at_reserve_lfp_25c.toml", "compute stops at reserve + 2 % within 1 s"),
    "ignore_thermal": ("thermal/throttle_hot_coolant_nmc_45c.toml", "DERATED within 2 s of the junction passing 96 C"),
    "ignore_stale": ("comms/bms_silent_nmc_25c.toml", "SAFE_STOP within 1 s of the silence"),
    "ignore_gear": ("vehicle/shift_to_drive_lfp_-20c.toml", "stops within 0.5 s of leaving P"),
    "ignore_dcl": ("battery/dcl_cold_module_nmc_-20c.toml", "pack current within the BMS discharge limit"),
    "wrong_hysteresis": ("battery/cell_voltage_hysteresis_sodium_25c.toml", "stays stopped below cut-off + 0.20 V"),
    "ignore_charge_only": ("battery/charge_only_module_nmc_25c.toml",
                           "compute never makes the pack discharge while the charger delivers"),
}


def test_every_defect_has_a_catcher() -> None:
    assert set(CATCHERS) == set(DEFECTS), "a new seeded defect needs a scenario that catches it"


def test_every_defect_has_a_bundled_scenario_built_for_it() -> None:
    built_for: dict[str, list[str]] = {d: [] for d in DEFECTS}
    for path in discover([SUITE]):
        for defect in load_scenario(path).catches:
            built_for[defect].append(path.relative_to(SUITE).as_posix())
    assert all(built_for.values()), f"no scenario says catches = [...] for {[d for d, s in built_for.items() if not s]}"
    for defect, (path, _) in CATCHERS.items():
        assert path in built_for[defect], f"{path} is this test's catcher of {defect} but is not built for it"


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defect_is_caught(defect: str) -> None:
    path, check = CATCHERS[defect]
    result = run_scenario(load_scenario(SUITE / path), RunOptions(dut_defect=defect))
    failed = {c.check.name for c in result.failed_checks}
    assert result.error is None
    assert check in failed, f"{defect} escaped {path}: failing checks {sorted(failed) or 'none'}"


def test_catches_names_known_defects_once(tmp_path) -> None:
    base = '[scenario]\nduration = "5 s"\n{line}\n[[checks]]\nkind = "always"\nexpr = "soc_pct >= 0"\n'
    path = tmp_path / "s.toml"
    path.write_text(base.format(line='catches = ["ignore_gear"]'))
    assert load_scenario(path).catches == ("ignore_gear",)
    for line, reason in (('catches = ["ignore_gears"]',
                          "unknown seeded defect 'ignore_gears' (did you mean \"ignore_gear\"?); "
                          "known: ignore_reserve"),
                         ('catches = "ignore_gear"', 'expected a list, got "ignore_gear"'),
                         ('catches = [1]', "expected a list of seeded defects"),
                         ('catches = ["ignore_gear", "ignore_gear"]', "named twice")):
        path.write_text(base.format(line=line))
        with pytest.raises(ConfigError) as info:
            load_scenario(path)
        assert str(info.value).startswith(f"{path}: scenario.catches (line 3)") and reason in str(info.value)


def _report(built_for: dict[str, tuple[str, ...]], failing: dict[tuple[str, str | None], tuple[str, ...]]
            ) -> DefectReport:
    """A report of scenarios a, b and defects x, y without running anything: ``failing`` gives the
    failed checks of (scenario, defect) runs (None: the correct DUT); the rest passed."""
    report = DefectReport(("x", "y"), ("a", "b"), built_for=built_for)
    for scenario in ("a", "b"):
        for defect in (None, "x", "y"):
            failed = failing.get((scenario, defect), ())
            report.outcomes.append(Outcome(scenario, defect, "FAIL" if failed else "PASS", failed))
    return report


def test_a_defect_caught_only_as_a_side_effect_fails_the_report() -> None:
    report = _report({"a": ("x",), "b": ("y",)}, {("a", "x"): ("c1",), ("a", "y"): ("c2",)})
    assert report.escaped == [] and report.side_effect_only == ["y"] and report.missed == [("y", "b")]
    assert not report.ok
    table = format_table(report)
    assert "* a: c1" in table and "ONLY AS A SIDE EFFECT" in table and "MISSED by b" in table
    assert "**MISSED** by `b`" in format_markdown(report, "hilbench defects")


def test_each_defect_caught_by_its_own_scenario_passes_the_report() -> None:
    report = _report({"a": ("x",), "b": ("y",)}, {("a", "x"): ("c1",), ("b", "y"): ("c3",), ("b", "x"): ("c4",)})
    assert report.ok
    md = format_markdown(report, "hilbench defects")
    assert "| `x` |" in md and "`a` (c1) | `b` (c4) |" in md


def test_a_vacuous_check_with_the_defect_catches_nothing() -> None:
    report = DefectReport(("x",), ("a",), built_for={"a": ("x",)})
    report.outcomes += [Outcome("a", None, "PASS"), Outcome("a", "x", "FAIL", (), vacuous_checks=("c1",))]
    assert report.escaped == ["x"] and not report.ok


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


def test_defects_doc_lists_every_defect_with_a_scenario_built_for_it() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line.split("|")[3] for line in text.splitlines()
            if line.startswith("| `")}
    assert set(rows) == set(DEFECTS)
    for defect, built in rows.items():
        assert built.strip().startswith("`"), f"{defect}: no scenario built for it in {DOC.name}"
    for word in ("ESCAPED", "MISSED", "NONE", "fail on the correct DUT"):
        assert word not in text


@pytest.mark.skipif(not os.environ.get("HILBENCH_SLOW"),
                    reason="the full matrix (every short scenario x 8 DUT variants) takes minutes; "
                           "set HILBENCH_SLOW=1 to run it")
def test_defects_command_on_the_whole_suite(capsys) -> None:
    code = main(["defects"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(DEFECTS)}/{len(DEFECTS)} defects caught" in out
