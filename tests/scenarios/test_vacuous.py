"""VACUOUS: a check that tested nothing fails the scenario, and says so everywhere a verdict is shown.

One short scenario whose drive-request response never fires (nobody asks to
drive) is run once for the module; the verdict table, the failure text, JUnit,
the HTML page, ``hilbench run`` and the pytest plugin must all call it
VACUOUS, and the scenario must not pass.  The same scenario with
``vacuous = "ok"`` on that check passes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.scenarios import RunOptions, ScenarioResult, load_scenario, run_scenario
from hilbench.scenarios.report import checks_table, failure_message, format_failure, junit_tree, write_html_report

UNTRIGGERED = """\
[scenario]
name = "nobody drives"
duration = "6 s"
markers = ["nmc", "short"]

[initial]
soc_pct = 60.0

[[checks]]
kind = "response"
name = "stops within 0.5 s of a drive request"
trigger = "drive_requested == 1"
expr = "compute_power_w == 0"
within = "0.5 s"
{extra}

[[checks]]
kind = "always"
name = "SOC above the reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("vacuous")
    strict, guard = folder / "strict.toml", folder / "guard.toml"
    strict.write_text(UNTRIGGERED.format(extra=""))
    guard.write_text(UNTRIGGERED.format(extra='# a guard: nobody asks to drive here\nvacuous = "ok"')
                     .replace('"nobody drives"', '"nobody drives, guard"'))
    return strict, guard


@pytest.fixture(scope="module")
def result(files: tuple[Path, Path]) -> ScenarioResult:
    return run_scenario(load_scenario(files[0]), RunOptions())


def test_an_untriggered_response_fails_the_scenario_as_vacuous(result: ScenarioResult) -> None:
    vacuous, always = result.checks
    assert vacuous.verdict == "VACUOUS" and always.verdict == "PASS"
    assert not result.passed and result.verdict == "FAIL"
    assert result.vacuous_checks == [vacuous] and result.failed_checks == []
    assert result.failing_checks == [vacuous]
    assert result.verdict_counts() == {"PASS": 1, "FAIL": 0, "VACUOUS": 1, "NOT MAPPED": 0}
    assert result.violations == []          # nothing was violated: nothing was tested


def test_the_guard_passes_with_vacuous_ok(files: tuple[Path, Path]) -> None:
    guard = run_scenario(load_scenario(files[1]), RunOptions())
    assert guard.passed
    assert guard.checks[0].verdict == "PASS" and guard.checks[0].vacuous
    assert 'allowed: vacuous = "ok"' in guard.checks[0].detail


def test_the_verdict_table_and_the_failure_text_say_vacuous(result: ScenarioResult) -> None:
    table = checks_table(result)
    assert re.search(r"stops within 0.5 s of a drive request\s+VACUOUS\s+n/a\s+trigger never occurred", table)
    assert "1 PASS, 0 FAIL, 1 VACUOUS, 0 NOT MAPPED (VACUOUS: the trigger never fired" in table
    text = format_failure(result)
    assert text.startswith('scenario "nobody drives" FAIL')
    assert 'VACUOUS check "stops within 0.5 s of a drive request"' in text
    assert "trigger signals then: drive_requested=0" in text
    assert 'vacuous = "ok"' in text      # the way out, for a guard
    assert failure_message(result) == '"stops within 0.5 s of a drive request" VACUOUS (nothing tested)'


def test_junit_reports_a_failure_and_names_the_vacuous_check(result: ScenarioResult) -> None:
    root = junit_tree([result]).getroot()
    assert root.find("testsuite").get("failures") == "1"
    case = root.find("testsuite/testcase")
    failure = case.find("failure")
    assert failure is not None and "VACUOUS" in failure.get("message")
    assert "VACUOUS check" in failure.text
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["checks_vacuous"] == "1" and props["vacuous"] == "stops within 0.5 s of a drive request"


def test_the_html_page_shows_the_vacuous_verdict(result: ScenarioResult, tmp_path: Path) -> None:
    page = write_html_report([result], tmp_path / "report").read_text()
    assert "<td class='VACUOUS'>VACUOUS</td>" in page
    assert "1 check <span class='VACUOUS'>VACUOUS</span>" in page and "0 of 1 scenarios passed" in page
    assert "<h3>Failures</h3>" in page and "VACUOUS check" in page


def test_hilbench_run_exits_1_on_a_vacuous_check(files: tuple[Path, Path], capsys) -> None:
    assert main(["run", str(files[0]), "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "nobody drives  [FAIL]" in out and "VACUOUS" in out and "0 passed, 1 failed" in out
    assert main(["run", str(files[1]), "-j", "1"]) == 0


def test_the_pytest_plugin_fails_the_item_with_the_vacuous_text(files: tuple[Path, Path],
                                                               pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makefile(".toml", strict=files[0].read_text(), guard=files[1].read_text())
    outcome = pytester.runpytest()
    outcome.assert_outcomes(passed=1, failed=1)
    out = outcome.stdout.str()
    assert 'VACUOUS check "stops within 0.5 s of a drive request"' in out
    outcome.stdout.fnmatch_lines(['FAILED strict.toml::nobody drives - "stops within 0.5 s of a drive request" V*'])


def test_defects_do_not_count_a_vacuous_check_as_a_catch(files: tuple[Path, Path]) -> None:
    """A defect is caught by a check that FAILS; a check that tested nothing catches nothing."""
    from hilbench.cli.defects import run_defects

    report = run_defects([load_scenario(files[1])], ["ignore_gear"])
    assert report.escaped == ["ignore_gear"] and not report.broken_baseline
    report = run_defects([load_scenario(files[0])], ["ignore_gear"])
    assert [o.scenario for o in report.broken_baseline] == ["nobody drives"]
    assert report.baseline("nobody drives").vacuous_checks == ("stops within 0.5 s of a drive request",)
