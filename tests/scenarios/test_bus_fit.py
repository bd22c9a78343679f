"""Verdicts that fit any lab's bus: NOT MAPPED checks, health checks scoped to what the bench sends or
maps, unknown IDs counted but never fatal, and the bench's warnings in every report."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.scenarios import NOT_MAPPED, RunOptions, ScenarioResult, run_scenario
from hilbench.scenarios.checks import TraceGrid, evaluate_check
from hilbench.scenarios.model import Check
from hilbench.scenarios.report import checks_table, format_failure, junit_tree
from hilbench.scenarios.runner import health_check

from .helpers import CAR_MESSAGE, car_dbcs, map_without, scenario

CHECKS = """\
[[steps]]
at = "2 s"
action = "set_ambient"
value_c = 15.0

[[checks]]
kind = "always"
name = "never asked to drive"
expr = "drive_requested == 0"

[[checks]]
kind = "always"
name = "SOC never below the reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"

[[checks]]
kind = "response"
name = "no compute while the owner says no"
trigger = "compute_allowed == 0"
expr = "compute_power_w == 0"
within = "1 s"
vacuous = "ok"      # a guard: the owner never says no in this scenario
"""

FAILING = """\
[[checks]]
kind = "always"
name = "SOC above 99 %"
expr = "soc_pct > 99"
"""


@pytest.fixture(scope="module")
def unmapped_run(tmp_path_factory: pytest.TempPathFactory) -> ScenarioResult:
    folder = tmp_path_factory.mktemp("lab")
    lab_map = map_without(folder, "drive_requested", "compute_allowed")
    return run_scenario(scenario(folder, "lab", CHECKS), RunOptions(signal_map=lab_map))


# -- NOT MAPPED -------------------------------------------------------------------------------------
def test_a_check_over_an_unmapped_role_is_not_mapped(unmapped_run: ScenarioResult) -> None:
    assert [c.verdict for c in unmapped_run.checks] == [NOT_MAPPED, "PASS", NOT_MAPPED]
    first, _, third = unmapped_run.checks
    assert first.not_mapped == ("drive_requested",) and third.not_mapped == ("compute_allowed",)
    assert not first.passed and not first.failed          # neither PASS nor FAIL
    assert "drive_requested not mapped by the signal map" in first.detail


def test_not_mapped_does_not_fail_the_scenario_and_is_counted(unmapped_run: ScenarioResult) -> None:
    assert unmapped_run.passed and unmapped_run.verdict == "PASS"
    assert unmapped_run.failed_checks == [] and unmapped_run.violations == []
    assert unmapped_run.verdict_counts() == {"PASS": 1, "FAIL": 0, NOT_MAPPED: 2, "VACUOUS": 0}
    table = checks_table(unmapped_run)
    assert re.search(r"^  never asked to drive +NOT MAPPED +n/a  role drive_requested not mapped", table, re.M)
    assert re.search(r"^  SOC never below the reserve +PASS +\+", table, re.M)
    assert "1 PASS, 0 FAIL, 0 VACUOUS, 2 NOT MAPPED" in table
    case = junit_tree([unmapped_run]).getroot().find("testsuite/testcase")
    assert case.find("failure") is None and case.find("error") is None
    props = {(p.get("name"), p.get("value")) for p in case.find("properties")}
    assert ("checks_not_mapped", "2") in props and ("not_mapped", "never asked to drive") in props


def test_the_same_checks_are_judged_on_a_map_that_binds_the_roles(tmp_path: Path) -> None:
    result = run_scenario(scenario(tmp_path, "bench", CHECKS), RunOptions())
    assert [c.verdict for c in result.checks] == ["PASS", "PASS", "PASS"]
    assert "NOT MAPPED" not in checks_table(result)       # the table reads as it always did


def test_not_mapped_never_hides_a_failure(tmp_path: Path) -> None:
    lab_map = map_without(tmp_path, "drive_requested", "compute_allowed")
    result = run_scenario(scenario(tmp_path, "lab", CHECKS + FAILING), RunOptions(signal_map=lab_map))
    assert result.verdict == "FAIL"
    assert [c.check.name for c in result.failed_checks] == ["SOC above 99 %"]
    assert result.verdict_counts() == {"PASS": 1, "FAIL": 1, NOT_MAPPED: 2, "VACUOUS": 0}
    assert 'FAILED check "SOC above 99 %"' in format_failure(result)
    assert 'FAILED check "never asked to drive"' not in format_failure(result)


def test_an_expression_error_is_still_a_failure_not_not_mapped(unmapped_run: ScenarioResult) -> None:
    # A grid over the traces the run kept: 'drive_requested' is unmapped, 'soc_pct' is mapped.
    class Monitor:
        codec = type("Codec", (), {"signal_map": type("Map", (), {"roles": {"soc_pct": None}})()})()

        def trace(self, role):
            import numpy as np
            return np.array([0.0, 1.0]), np.array([50.0, 50.0])

        def states_of(self, role):
            return ()

    grid = TraceGrid(Monitor(), 2.0)
    assert evaluate_check(Check("always", "x", "drive_requested == 0 and soc_pct > 0"), grid).verdict == NOT_MAPPED
    bad = evaluate_check(Check("always", "y", "soc_pct >"), grid)
    assert bad.verdict == "FAIL" and "bad expression" in bad.detail


# -- bus health on a car's DBC ----------------------------------------------------------------------
def test_cycle_times_judge_only_what_the_bench_sends_or_the_map_uses(tmp_path: Path) -> None:
    car = car_dbcs(tmp_path)
    body = '[[checks]]\nkind = "cycle_times"\nname = "cycle times"\n'
    result = run_scenario(scenario(tmp_path, "car", body, duration="5 s"), RunOptions(dbc=car))
    (check,) = result.checks
    assert check.passed, check.detail
    assert CAR_MESSAGE not in check.detail


def _bench() -> Bench:
    return Bench(BenchConfig(soc_pct=60.0))


def _frame(bench: Bench, frame_id: int, data: bytes) -> can.Message:
    return can.Message(arbitration_id=frame_id, data=data, is_extended_id=False,
                       timestamp=bench.epoch_s + bench.clock.now)


def test_unknown_ids_are_counted_and_named_but_never_fail_the_bus() -> None:
    integrity = Check("bus_integrity", "bus integrity")
    with _bench() as bench:
        bench.run_for(1.0)
        for frame_id, n in ((0x7AB, 3), (0x7DF, 1)):
            for _ in range(n):
                bench.monitor(_frame(bench, frame_id, b"\x02\x01\x00"))
        result = health_check(integrity, bench)
    assert result.passed and result.robustness == 0.0
    assert ", 4 unknown, 0 undecodable, 0 E2E errors" in result.detail
    assert "unknown IDs (in no DBC, not counted against the bus): 0x7AB x3, 0x7DF x1" in result.detail


def test_undecodable_frames_and_e2e_errors_still_fail_the_bus() -> None:
    integrity = Check("bus_integrity", "bus integrity")
    with _bench() as bench:
        bench.run_for(1.0)
        pack = bench.codec.message("BMS_PackStatus")
        bench.monitor(_frame(bench, pack.frame_id, b"\x00\x01"))              # too short to decode
        short = health_check(integrity, bench)
        bench.monitor(_frame(bench, pack.frame_id, bytes(8)))                 # CRC of all zeros is wrong
        both = health_check(integrity, bench)
    assert not short.passed and "1 undecodable" in short.detail
    assert not both.passed and both.robustness <= -2.0 and "E2E errors" in both.detail


# -- warnings ------------------------------------------------------------------------------------------
WARNINGS = ["role range_reserve_soc_pct: 20 % clipped to 25 % (the minimum of VCU_X.Reserve)",
            "car.dbc line 12: signal X does not fit in message Y (message not used by the map)"]


def test_warnings_are_listed_in_the_text_report_and_junit(unmapped_run: ScenarioResult) -> None:
    result = replace(unmapped_run, warnings=list(WARNINGS))
    text = format_failure(result)
    for warning in WARNINGS:
        assert f"\n  warning: {warning}\n" in text
    assert text.index("warning:") > text.index("never asked to drive")        # with the verdicts
    case = junit_tree([result]).getroot().find("testsuite/testcase")
    assert [p.get("value") for p in case.find("properties") if p.get("name") == "warning"] == WARNINGS
    assert all(f"warning: {w}" in case.find("system-out").text for w in WARNINGS)
    assert "warning:" not in format_failure(unmapped_run)
    assert "warning:" not in checks_table(result)      # the CLI prints each warning once for the run


def test_warnings_and_not_mapped_are_in_the_html_report(unmapped_run: ScenarioResult, tmp_path: Path) -> None:
    from hilbench.scenarios import plots
    from hilbench.scenarios.report import HtmlReport

    if not plots.available():
        pytest.skip("the HTML report needs matplotlib (pip install 'hilbench[report]')")
    report = HtmlReport(tmp_path / "report")
    report.add(replace(unmapped_run, warnings=list(WARNINGS)))
    page = report.write().read_text(encoding="utf-8")
    assert "<h2>Warnings</h2>" in page
    assert page.count("range_reserve_soc_pct: 20 % clipped to 25 %") == 2       # suite list and the section
    assert "<td class='NOT_MAPPED'>NOT MAPPED</td>" in page
    assert "2 checks <span class='NOT_MAPPED'>NOT MAPPED</span>" in page
    # The summary row: 1 of 1 judged checks passed, 2 not mapped.
    assert "<td class='num'>1/1</td><td class='num'>0</td><td class='num'>2</td>" in page


def test_ids_the_map_ignores_are_not_counted_as_unknown(tmp_path: Path) -> None:
    lab_map = map_without(tmp_path, extra="""
        [bus]
        ignore_ids = [0x7DF, "0x7E0-0x7EF"]
        """)
    integrity = Check("bus_integrity", "bus integrity")
    with Bench(BenchConfig(soc_pct=60.0, signal_map=lab_map)) as bench:
        bench.run_for(1.0)
        for frame_id in (0x7DF, 0x7E8, 0x7E8, 0x7AB):
            bench.monitor(_frame(bench, frame_id, b"\x02\x01\x00"))
        result = health_check(integrity, bench)
    assert result.passed
    assert ", 1 unknown, " in result.detail and "0x7AB x1" in result.detail and "0x7DF" not in result.detail
    assert "3 frames of IDs the signal map ignores" in result.detail


def test_the_bench_s_own_warnings_reach_the_result_and_the_report(tmp_path: Path) -> None:
    """A value clipped to its DBC range and a lenient DBC's offender: both said out loud, with the verdicts."""
    dbcs = car_dbcs(tmp_path, reserve_min_pct=25.0)
    body = '[[checks]]\nkind = "always"\nname = "SOC never below 0"\nexpr = "soc_pct >= 0"\n'
    s = scenario(tmp_path, "clip", body)        # the reserve starts at the bench default, 20 %
    result = run_scenario(s, RunOptions(dbc=dbcs))
    assert result.passed
    clipped = [w for w in result.warnings if "range_reserve_soc_pct" in w]
    assert clipped and "sent as 25" in clipped[0]
    offender = [w for w in result.warnings if CAR_MESSAGE in w]
    assert offender, result.warnings
    text = format_failure(result)
    for warning in clipped + offender:
        assert f"  warning: {warning}" in text
    plain = run_scenario(s, RunOptions())
    assert plain.warnings == [] and "warning:" not in format_failure(plain)
