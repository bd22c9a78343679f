"""Falsification: [fuzz] ranges, the search, the written counterexample, ``hilbench fuzz``.

The proof asked of the fuzzer: against seeded defects it finds a violation
within a small budget, the scenario it writes fails on that defective DUT
and passes on the correct one, and the correct DUT shows no violation on the
same ranges with the same budget.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.errors import ConfigError
from hilbench.scenarios import RunOptions, load_scenario, run_scenario
from hilbench.scenarios.fuzz import fuzz, load_fuzz_scenario, scenario_to_toml, write_counterexample

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "fuzz"
OVERNIGHT = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios" / "overnight.toml"
BUDGET = dict(max_examples=5, shrink_runs=4, seed=0)

CASES = [
    pytest.param("reserve.toml", "ignore_reserve", id="ignore_reserve"),
    pytest.param("thermal.toml", "ignore_thermal", id="ignore_thermal"),
    pytest.param("cold.toml", "ignore_dcl", id="ignore_dcl"),
    pytest.param("gear.toml", "ignore_gear", id="ignore_gear"),
]


# -- the proof -------------------------------------------------------------------------
@pytest.mark.parametrize(("file", "defect"), CASES)
def test_finds_the_defect_and_writes_a_scenario_that_reproduces_it(file, defect, tmp_path):
    scenario, space = load_fuzz_scenario(FUZZ_DIR / file)
    outcome = fuzz(scenario, space, dut_defect=defect, **BUDGET)
    assert outcome.found, f"no violation in {outcome.examples} examples; lowest: {outcome.lowest}"
    assert outcome.examples <= BUDGET["max_examples"] and outcome.shrink_runs <= BUDGET["shrink_runs"]

    path = write_counterexample(outcome, tmp_path)
    assert path.name == f"{Path(file).stem}-counterexample.toml"
    written = load_scenario(path)
    failed = {c.check.name for c in outcome.counterexample.failed}
    on_defect = run_scenario(written, RunOptions(dut_defect=defect))
    assert not on_defect.passed
    assert {c.check.name for c in on_defect.checks if not c.passed} == failed
    on_correct = run_scenario(written, RunOptions())
    # No check FAILS on the correct DUT. A guard whose trigger the drawn values do not reach is
    # VACUOUS there (the fuzz fixtures cannot say vacuous = "ok" until the writer keeps it).
    assert not on_correct.failed_checks and on_correct.error is None, \
        [(c.check.name, c.detail) for c in on_correct.failed_checks]


@pytest.mark.parametrize(("file", "defect"), CASES)
def test_correct_dut_shows_no_violation_with_the_same_budget(file, defect):
    scenario, space = load_fuzz_scenario(FUZZ_DIR / file)
    outcome = fuzz(scenario, space, **BUDGET)
    assert not outcome.found, [(c.check.name, c.detail) for c in outcome.counterexample.failed]
    assert 1 <= outcome.examples <= BUDGET["max_examples"]
    assert set(outcome.lowest) <= {c.name for c in scenario.checks}


def test_search_without_corners_finds_and_shrinks_to_a_simple_value():
    """Inside the range, not at a corner: hypothesis draws, fails, and shrinks to a round number."""
    scenario, space = load_fuzz_scenario(FUZZ_DIR / "cold.toml")
    outcome = fuzz(scenario, space, dut_defect="ignore_dcl", max_examples=10, shrink_runs=12, seed=0,
                   with_corners=False)
    assert outcome.found and outcome.shrink_runs > 0
    values = outcome.counterexample.values
    assert values["initial.ambient_c"] <= -20.0        # the BMS allows no discharge this cold
    assert values["initial.ambient_c"] == round(values["initial.ambient_c"])


def test_the_same_seed_gives_the_same_search():
    scenario, space = load_fuzz_scenario(FUZZ_DIR / "gear.toml")
    first = fuzz(scenario, space, max_examples=3, seed=7, with_corners=False)
    second = fuzz(scenario, space, max_examples=3, seed=7, with_corners=False)
    assert [r.values for r in first.runs] == [r.values for r in second.runs]


# -- the CLI -------------------------------------------------------------------------------
def test_cli_exit_1_and_writes_the_counterexample(tmp_path, capsys):
    assert main(["fuzz", str(FUZZ_DIR / "gear.toml"), "--dut-defect", "ignore_gear", "--out", str(tmp_path),
                 "--max-examples", "3", "-q"]) == 1
    out = capsys.readouterr().out
    assert "violation found" in out and "gear-counterexample.toml" in out
    assert "reproduce: hilbench run" in out and "--dut-defect ignore_gear" in out
    assert (tmp_path / "gear-counterexample.toml").is_file()


def test_cli_exit_0_reports_the_lowest_robustness(tmp_path, capsys):
    assert main(["fuzz", str(FUZZ_DIR / "thermal.toml"), "--max-examples", "2", "--out", str(tmp_path),
                 "--keep-lowest"]) == 0
    out = capsys.readouterr().out
    assert "no violation found" in out and "lowest robustness" in out and "junction below" in out
    lowest = tmp_path / "thermal-lowest.toml"
    assert not run_scenario(load_scenario(lowest)).failed_checks


@pytest.mark.parametrize("argv", [
    ["--dut-defect", "no_such_defect"],
    ["--max-examples", "0"],
])
def test_cli_exit_2_on_bad_options(argv, capsys):
    assert main(["fuzz", str(FUZZ_DIR / "gear.toml"), *argv]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_exit_2_on_a_scenario_without_ranges(capsys):
    assert main(["fuzz", str(OVERNIGHT)]) == 2
    err = capsys.readouterr().err
    assert "overnight.toml: fuzz: no [fuzz] table" in err


# -- [fuzz] syntax and its validation ------------------------------------------------------------
BASE = """\
[scenario]
name = "t"
duration = "60 s"

[initial]
soc_pct = 50.0

[[steps]]
at = "10 s"
action = "shift"
gear = "D"

[[steps]]
at = "40 s"
action = "set_coolant"
value_c = 40.0

[[checks]]
kind = "always"
expr = "soc_pct >= 10"
"""


def write(tmp_path: Path, fuzz_table: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(BASE + "\n[fuzz]\n" + fuzz_table, encoding="utf-8")
    return path


def test_declared_ranges_are_parsed(tmp_path):
    path = write(tmp_path, 'initial.soc_pct = [31, 40.0]\ninitial.ambient_c = [-20.0, 45]\n'
                           'steps.0.at = ["2 s", "30 s"]\n'
                           'steps.0.gear = { choices = ["D", "R"] }\nsteps.1.value_c = [40.0, 70.0]\n'
                           'dut.coolant_c = [25.0, 90.0]\ninitial.series = [90, 100]\n')
    scenario, space = load_fuzz_scenario(path)
    assert scenario.source == path and scenario.name == "t"
    by_path = {p.path: p for p in space.params}
    assert (by_path["initial.soc_pct"].low, by_path["initial.soc_pct"].high) == (31.0, 40.0)
    assert by_path["steps.0.at"].is_time and (by_path["steps.0.at"].low, by_path["steps.0.at"].high) == (2.0, 30.0)
    assert by_path["steps.0.gear"].choices == ("D", "R")
    assert by_path["initial.series"].value_type is int
    concrete = space.apply(scenario, {"initial.soc_pct": 33.0, "steps.0.at": 5.0, "steps.0.gear": "R",
                                      "steps.1.value_c": 55.0, "dut.coolant_c": 80.0})
    assert concrete.initial["soc_pct"] == 33.0 and concrete.dut == {"coolant_c": 80.0}
    assert concrete.steps[0].at_s == 5.0 and concrete.steps[0].params == {"gear": "R"}
    assert concrete.steps[1].params == {"value_c": 55.0}
    assert scenario.steps[0].at_s == 10.0          # the base scenario is untouched


def test_the_same_ranges_as_a_subtable(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(BASE + '\n[fuzz.initial]\nsoc_pct = [31.0, 40.0]\n\n[fuzz.steps.0]\nat = [2, 30]\n',
                    encoding="utf-8")
    _, space = load_fuzz_scenario(path)
    assert [p.path for p in space.params] == ["initial.soc_pct", "steps.0.at"]


@pytest.mark.parametrize(("table", "entry", "reason"), [
    ("initial.soc_pct = [40.0, 31.0]", "fuzz.initial.soc_pct (line 23)", "low must be <= high"),
    ("initial.soc_pct = [31.0]", "fuzz.initial.soc_pct", "expected a range [low, high]"),
    ("initial.soc_pct = [31.0, 40.0, 50.0]", "fuzz.initial.soc_pct", "expected a range [low, high]"),
    ("initial.soc_pct = [-5.0, 40.0]", "fuzz.initial.soc_pct", "within 0..100 %"),
    ("initial.soc_pct = [1.0, inf]", "fuzz.initial.soc_pct", "must be finite"),
    ("initial.soc_pct = [\"a\", 40.0]", "fuzz.initial.soc_pct", "expected float values"),
    ("initial.gear = [\"P\", \"D\"]", "fuzz.initial.gear", "use { choices = [...] }"),
    ("initial.series = [90.5, 100]", "fuzz.initial.series", "expected int values"),
    ("initial.colour = [1.0, 2.0]", "fuzz.initial.colour", "unknown key"),
    ("dut.defect = { choices = [\"ignore_gear\"] }", "fuzz.dut.defect", "--dut-defect"),
    ("plant.soc = [1.0, 2.0]", "fuzz.plant.soc", "unknown target"),
    ("steps.5.at = [1.0, 2.0]", "fuzz.steps.5.at", "there is no step 5"),
    ("steps.x.at = [1.0, 2.0]", "fuzz.steps.x.at", "expected a step number"),
    ("steps.0.value_c = [1.0, 2.0]", "fuzz.steps.0.value_c", 'step 0 is "shift", which takes: at, gear'),
    ("steps.0.at = [\"5 s\", \"2min\"]", "fuzz.steps.0.at", "after the end of the scenario"),
    ("steps.0.at = [\"5 s\", \"45 s\"]", "fuzz.steps.0.at", "must not overlap"),
    ("steps.0.at = [\"5 s\", \"ten s\"]", "fuzz.steps.0.at", "expected a time"),
    ("steps.0.gear = { choices = [] }", "fuzz.steps.0.gear", "at least one value"),
    ("steps.0.gear = { options = [\"D\"] }", "fuzz.steps.0.gear", "expected { choices"),
    ("", "fuzz", "the [fuzz] table is empty"),
    # the loader's own schema: an end no scenario could hold is no more plausible fuzzed
    ("initial.ambient_c = [-100.0, 20.0]", "fuzz.initial.ambient_c", "-100 C is outside -60..90 C"),
    ("dut.tick_s = [0.0, 0.5]", "fuzz.dut.tick_s", "0 s is outside 0..1 s"),
    ("steps.0.gear = { choices = [\"P\", \"X\"] }", "fuzz.steps.0.gear", 'expected one of P, R, N, D, got "X"'),
])
def test_bad_ranges_are_refused_with_file_entry_and_reason(tmp_path, table, entry, reason):
    path = write(tmp_path, table + "\n")
    with pytest.raises(ConfigError) as info:
        load_fuzz_scenario(path)
    err = info.value
    assert err.file == str(path)
    assert err.entry is not None and err.entry.startswith(entry), err
    assert reason in err.reason, err


def test_errors_in_the_rest_of_the_file_keep_their_line_numbers(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[fuzz]\ninitial.soc_pct = [31.0, 40.0]\n\n" + BASE.replace('gear = "D"', 'gear = 4'),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_fuzz_scenario(path)
    assert info.value.file == str(path)
    assert (info.value.entry, info.value.line) == ("steps[0].gear", 14)


def test_ranges_as_dotted_keys_outside_the_table(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("fuzz.initial.soc_pct = [40.0, 31.0]\n" + BASE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_fuzz_scenario(path)
    assert info.value.entry == "fuzz.initial.soc_pct (line 1)"


BAD_TABLE = ('initial.soc_pct = [40.0, 31.0]\ninitial.ambient_c = [-100.0, 20.0]\n'
             'steps.0.gear = { choices = ["P", "X"] }\nsteps.3.at = [1, 2]\n')


def test_every_bad_range_of_a_table_is_reported_at_once(tmp_path):
    path = write(tmp_path, BAD_TABLE)
    with pytest.raises(ConfigError) as info:
        load_fuzz_scenario(path)
    assert [p.entry.split(" ")[0] for p in info.value.problems] == [
        "fuzz.initial.soc_pct", "fuzz.initial.ambient_c", "fuzz.steps.0.gear", "fuzz.steps.3.at"]
    assert all(p.file == str(path) for p in info.value.problems)


def test_hilbench_run_refuses_a_file_whose_fuzz_ranges_are_wrong(tmp_path, capsys):
    """One validation pass: the [fuzz] table is checked at load by every command, not only by ``fuzz``."""
    path = write(tmp_path, BAD_TABLE)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert len(info.value.problems) == 4
    assert main(["run", "-j", "1", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: 4 problems in {path}") and "Traceback" not in err
    assert "fuzz.steps.0.gear" in err and 'got "X"' in err


# -- writing scenarios ----------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [OVERNIGHT, *sorted(FUZZ_DIR.glob("*.toml"))], ids=lambda p: p.name)
def test_a_written_scenario_reads_back_identical(source, tmp_path):
    scenario = load_scenario(source)
    path = tmp_path / source.name
    path.write_text(scenario_to_toml(scenario, "a comment\nover two lines"), encoding="utf-8")
    assert load_scenario(path) == replace(scenario, source=path)
    assert load_fuzz_scenario(path)[1] == load_fuzz_scenario(source)[1] if scenario.fuzz else True


def test_a_scenario_that_cannot_act_on_the_bus_is_refused_before_the_search(tmp_path, monkeypatch):
    """A step on a node the bench does not emulate is refused at once, not taken for a finding."""
    from hilbench.scenarios import NotRunnableError
    from hilbench.scenarios import fuzz as fuzz_module

    def no_run(*args, **kwargs):
        raise AssertionError("a bench ran for a scenario that cannot act on this bus")

    scenario, space = load_fuzz_scenario(FUZZ_DIR / "gear.toml")     # shifts: the VCU must be emulated
    monkeypatch.setattr(fuzz_module, "run_scenario", no_run)
    with pytest.raises(NotRunnableError, match='"shift" acts through the emulated VCU'):
        fuzz(scenario, space, options=RunOptions(emulate=frozenset({"bms", "obc", "cu"})), **BUDGET)
