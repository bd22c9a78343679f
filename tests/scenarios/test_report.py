"""Reports: JUnit XML, the HTML page with its plots, the trace CSV, the failure text, and the CLI flags.

Two short scenarios are run once for the module: one passes, one fails a
check after a step, with the run recorded so frames carry their payloads.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from hilbench.cli.main import main
from hilbench.scenarios import RunOptions, ScenarioResult, load_scenario, run_scenario
from hilbench.scenarios.plots import _decimate
from hilbench.scenarios.report import (
    HtmlReport,
    fmt_time,
    format_failure,
    junit_tree,
    write_html_report,
    write_junit,
    write_trace_csv,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

PASSING = """\
[scenario]
name = "parked"
duration = "8 s"
markers = ["nmc", "short"]

[initial]
soc_pct = 60.0

[[steps]]
at = "4 s"
action = "plug_in"
name = "plug in"

[[checks]]
kind = "always"
name = "SOC above the reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"
"""

FAILING = """\
[scenario]
name = "gear <D> & co"
duration = "8 s"

[initial]
soc_pct = 60.0

[[steps]]
at = "3 s"
action = "shift"
gear = "D"
name = "shift to D"

[[checks]]
kind = "response"
name = "compute stops within 1 s of leaving P"
trigger = "gear != 'P'"
expr = "compute_power_w == 0"
within = "1 s"
unit = "W"

[[checks]]
kind = "always"
name = "SOC above the reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "a_passing.toml").write_text(PASSING)
    (folder / "b_failing.toml").write_text(FAILING)
    return folder / "a_passing.toml", folder / "b_failing.toml"


@pytest.fixture(scope="module")
def results(files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[ScenarioResult]:
    record = tmp_path_factory.mktemp("rec") / "failing.log"
    passing = run_scenario(load_scenario(files[0]), RunOptions())
    failing = run_scenario(load_scenario(files[1]), RunOptions(dut_defect="ignore_gear", record=record))
    return [passing, failing]


def test_results_keep_what_reports_need(results: list[ScenarioResult]) -> None:
    passing, failing = results
    assert passing.passed and not failing.passed and failing.verdict == "FAIL"
    traces = passing.traces
    assert traces is not None and len(traces.t_s) == 81            # 0..8 s on the 0.1 s grid
    for role in ("soc_pct", "pack_current_a", "min_cell_temp_c", "max_cell_temp_c", "junction_temp_c",
                 "cu_power_level", "tokens_per_s", "cu_state"):
        assert role in traces and len(traces.values[role]) == len(traces.t_s)
    assert traces.value("cu_state", 40) == "RUNNING"
    assert [(s.t_s, s.label, s.fault) for s in passing.steps] == [(4.0, "plug in", False)]
    assert passing.bench is None                                    # the bench is closed and dropped
    (violation,) = failing.violations
    assert violation.check == "compute stops within 1 s of leaving P" and violation.t_s == pytest.approx(3.0)
    assert violation.frames and all(abs(f.t_s - 3.0) <= 0.5 + 1e-9 for f in violation.frames)
    assert {f.message for f in violation.frames} >= {"VCU_VehicleStatus", "CU_Status"}
    assert all(re.fullmatch(r"[0-9A-F]{16}", f.data) for f in violation.frames)     # payloads from the .log


def test_the_failure_text_names_check_robustness_time_values_steps_and_frames(results) -> None:
    text = format_failure(results[1])
    assert text.startswith('scenario "gear <D> & co" FAIL  (')
    assert "DUT defect ignore_gear" in text
    assert re.search(r"compute stops within 1 s of leaving P\s+FAIL\s+-60 W", text), text
    assert "FAILED check \"compute stops within 1 s of leaving P\"  (response: whenever gear != 'P', then " \
           "compute_power_w == 0 within 1 s)" in text
    assert "first violation at t = 3.0 s (3.0 s)" in text
    assert "signals then: compute_power_w=60  gear=D" in text
    assert "last steps before it: 3.0 s shift to D" in text
    assert re.search(r"3\.000 s  0x200 VCU_VehicleStatus\s+[0-9A-F]{16}\s+gear=D", text), text
    assert "tokens " in text and "M tokens/kWh" in text


def test_junit_has_one_testcase_per_scenario_with_the_failure(results, tmp_path: Path) -> None:
    path = write_junit(results, tmp_path / "deep" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("errors") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["parked", "gear <D> & co"]
    assert [c.get("classname") for c in cases] == ["scenarios.a_passing", "scenarios.b_failing"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == '"compute stops within 1 s of leaving P" failed at t=3.0 s (robustness -60 W)'
    assert "first violation at t = 3.0 s" in failure.text
    assert float(cases[0].get("time")) > 0
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "0" and props["bus"] == "simtime:bench"


def test_junit_of_no_results_is_still_valid() -> None:
    root = junit_tree([]).getroot()
    assert root.find("testsuite").get("tests") == "0"


def test_html_report_has_verdicts_checks_economics_and_readable_plots(results, tmp_path: Path) -> None:
    index = write_html_report(results, tmp_path / "report")
    page = index.read_text()
    assert index.name == "index.html"
    images = re.findall(r"<img src='([^']+)'", page)
    assert len(images) == 2
    for image in images:
        data = (index.parent / image).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 20_000
    assert "gear &lt;D&gt; &amp; co" in page and "<D>" not in page          # names are escaped
    assert "compute stops within 1 s of leaving P" in page and "-60 W" in page
    for figure in ("tokens per kWh", "energy from the pack", "energy from the grid", "pack wear", "capacity it costs",
                   "% per million tokens"):
        assert figure in page
    assert "1 of 2 scenarios passed" in page
    assert "<h3>Failures</h3>" in page and "0x400 CU_Status" in page


def test_html_report_keeps_names_apart(results, tmp_path: Path) -> None:
    report = HtmlReport(tmp_path)
    report.add(results[0])
    report.add(results[0])
    report.write()
    assert {p.name for p in tmp_path.glob("*.png")} == {"parked.png", "parked-2.png"}


def test_trace_csv_is_the_check_grid_with_state_names(results, tmp_path: Path) -> None:
    traces = results[0].traces
    path = write_trace_csv(traces, tmp_path / "trace.csv")
    with path.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "t_s" and "soc_pct [%]" in rows[0] and "cu_state" in rows[0]
    assert len(rows) == 1 + len(traces.t_s)
    col = rows[0].index("cu_state")
    assert rows[41][col] == "RUNNING" and rows[1][0] == "0.000" and rows[-1][0] == "8.000"
    soc = rows[0].index("soc_pct [%]")
    assert float(rows[41][soc]) == pytest.approx(traces.values["soc_pct"][40], rel=1e-5)


def test_the_cli_writes_junit_and_html(files, tmp_path: Path, capsys) -> None:
    junit, report = tmp_path / "out.xml", tmp_path / "out"
    assert main(["run", str(files[0].parent), "--junit", str(junit), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed" in out and f"JUnit report: {junit}" in out
    assert len(ET.parse(junit).getroot().findall("./testsuite/testcase")) == 2
    assert (report / "index.html").is_file() and len(list(report.glob("*.png"))) == 2


def test_the_cli_fails_with_exit_1_and_prints_the_frames(files, tmp_path: Path, capsys) -> None:
    code = main(["run", str(files[1]), "--dut-defect", "ignore_gear", "--junit", str(tmp_path / "j.xml")])
    out = capsys.readouterr().out
    assert code == 1
    assert "first violation at t = 3.0 s" in out and "CU_Status" in out


def test_the_cli_refuses_a_folder_as_junit_file(files, tmp_path: Path, capsys) -> None:
    assert main(["run", str(files[0]), "--junit", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--junit: is a folder; give a file name" in err


def test_decimation_keeps_a_short_spike() -> None:
    t = np.arange(0.0, 28800.0, 0.1)
    v = np.zeros_like(t)
    v[123_456] = 9.0
    td, vd = _decimate(t, v)
    assert len(td) <= 3000 and vd.max() == 9.0 and td[0] == 0.0


def test_time_format() -> None:
    assert fmt_time(3.04) == "3.0 s"
    assert fmt_time(9000.0) == "2:30:00.0"


def test_robustness_reads_with_sign_and_unit() -> None:
    from hilbench.scenarios.checks import CheckResult
    from hilbench.scenarios.model import Check
    from hilbench.scenarios.report import fmt_robustness

    check = Check(kind="never", name="x", expr="compute_power_w > 0", unit="W")
    assert fmt_robustness(CheckResult(check, True, -0.0, "")) == "+0 W"
    assert fmt_robustness(CheckResult(check, False, -12.5, "")) == "-12.5 W"
    assert fmt_robustness(CheckResult(check, False, float("-inf"), "")) == "-inf"
    assert fmt_robustness(CheckResult(check, True, None, "")) == "n/a"


def test_the_cli_runs_scenarios_in_parallel_with_the_same_verdicts_and_recordings(files, tmp_path: Path,
                                                                                  capsys) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    serial.mkdir()
    parallel.mkdir()
    args = ["run", str(files[0].parent), "--dut-defect", "ignore_gear"]
    assert main([*args, "-j", "1", "--record", str(serial / "r.log")]) == 1
    out_serial = capsys.readouterr().out
    assert main([*args, "-j", "2", "--record", str(parallel / "r.log")]) == 1
    out_parallel = capsys.readouterr().out
    assert out_parallel.replace(str(parallel), "") == out_serial.replace(str(serial), "")
    names = sorted(p.name for p in serial.iterdir())
    assert len(names) == 2 and names == sorted(p.name for p in parallel.iterdir())
    for name in names:
        assert (serial / name).read_bytes() == (parallel / name).read_bytes()


def test_the_cli_refuses_a_negative_job_count(files, capsys) -> None:
    assert main(["run", str(files[0]), "-j", "-1"]) == 2
    assert "--jobs: must be >= 0" in capsys.readouterr().err


def test_the_cli_refuses_a_report_without_matplotlib_before_running(files, tmp_path: Path, capsys,
                                                                     monkeypatch) -> None:
    from hilbench.scenarios import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    ran = []
    monkeypatch.setattr("hilbench.cli.run.run_scenario", lambda *a, **k: ran.append(a))
    assert main(["run", str(files[0]), "--report", str(tmp_path / "out")]) == 2
    assert "pip install 'hilbench[report]'" in capsys.readouterr().err
    assert ran == []


def test_sigterm_to_a_parallel_run_stops_the_workers_and_keeps_their_recordings(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import can

    from hilbench.resources import scenarios_dir

    record = tmp_path / "r.log"
    proc = subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "run", "-j", "2", "--record", str(record),
                             str(scenarios_dir() / "overnight.toml"), str(scenarios_dir() / "comms")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = tmp_path / "r-01-overnight.log"
        for _ in range(300):                  # until the 8-hour scenario has frames on disk
            if first.is_file() and first.stat().st_size > 100_000:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)      # to the parent only, as CI cancelling a job does
        assert proc.wait(timeout=20) == 130   # not after the 8-hour scenario has run to its end (~60 s)
    finally:
        proc.kill()
    frames = sum(1 for _ in can.LogReader(str(first)))
    assert frames > 1000                      # flushed, and every line of it readable
