"""The pytest plugin, driven through ``pytester``: scenario files as items, markers, options, fixtures.

Every inner run is strict (``--strict-markers``, warnings as errors), as the
repository's own configuration is.  Scenarios here are a few simulated
seconds long so the whole file runs in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hilbench.bus.recorder import count_frames

pytestmark = pytest.mark.filterwarnings("error")

INI = """\
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""


def scenario(name: str, *, markers: tuple[str, ...] = ("nmc", "short"), duration: str = "6 s",
             checks: str = "", steps: str = "", chemistry: str = "nmc") -> str:
    marker_list = ", ".join(f'"{m}"' for m in markers)
    return f"""\
[scenario]
name = "{name}"
duration = "{duration}"
markers = [{marker_list}]

[initial]
chemistry = "{chemistry}"
soc_pct = 60.0
{steps}
{checks or PASSING_CHECKS}
"""


PASSING_CHECKS = """\
[[checks]]
kind = "always"
name = "SOC above the reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"

[[checks]]
kind = "eventually"
name = "compute starts within 2 s"
expr = "cu_state == 'RUNNING'"
within = "2 s"
"""

FAILING_CHECK = """\
[[checks]]
kind = "always"
name = "junction below an impossible 30 degC"
expr = "junction_temp_c < 30"
unit = "degC"
"""

SHIFT_TO_D = """\
[[steps]]
at = "3 s"
action = "shift"
gear = "D"
name = "shift to D"
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_a_scenario_file_is_collected_and_passes(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", parked=scenario("parked"))
    result = suite.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*parked.toml::parked PASSED*"])


def test_a_failing_scenario_reports_check_robustness_time_values_and_frames(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", hot=scenario("hot", checks=FAILING_CHECK, steps=SHIFT_TO_D))
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert '"junction below an impossible 30 degC" failed at t=' in out
    assert re.search(r"junction below an impossible 30 degC\s+FAIL\s+-\d[\d.]* degC", out), out
    assert "first violation at t = " in out
    assert re.search(r"signals then: junction_temp_c=\d", out)
    assert "last steps before it" not in out or "shift to D" in out
    assert re.search(r"\d+\.\d{3} s  0x[0-9A-F]{3} CU_Status", out), out    # the frames around it
    assert "Traceback" not in out and "hilbench/scenarios/runner.py" not in out
    # pytest's short summary carries the check's name
    result.stdout.fnmatch_lines(["FAILED hot.toml::hot - *junction below an impossible 30 degC*"])


def test_only_toml_files_with_a_scenario_table_are_collected(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", parked=scenario("parked"))
    suite.makefile(".toml", pyproject='[project]\nname = "x"\n')
    suite.makefile(".toml", signals='[roles]\nsoc_pct = { message = "BMS", signal = "SOC" }\n')
    suite.makefile(".toml", broken_not_a_scenario='[tool\nname = "x"\n')
    result = suite.runpytest("--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["parked.toml::parked", "1 test collected*"])


def test_a_bad_scenario_is_a_collection_error_naming_file_entry_line_and_reason(suite: pytest.Pytester) -> None:
    text = scenario("bad", steps='[[steps]]\nat = "2 s"\naction = "yank"\n')
    suite.makefile(".toml", bad=text)
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    line = next(n for n, raw in enumerate(text.splitlines(), 1) if "yank" in raw)
    result.stdout.fnmatch_lines([f"error: *bad.toml: steps[[]0[]].action (line {line}): unknown action 'yank'*"])
    assert "Traceback" not in result.stdout.str()


def test_markers_select_by_chemistry_and_duration(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", a_lfp_short=scenario("lfp-short", markers=("lfp", "short"), chemistry="lfp"))
    suite.makefile(".toml", b_lfp_long=scenario("lfp-long", markers=("lfp", "long"), chemistry="lfp"))
    suite.makefile(".toml", c_nmc=scenario("nmc-short", markers=("nmc", "short")))
    result = suite.runpytest("-m", "lfp and not long", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*::lfp-short PASSED*"])
    assert suite.runpytest("-m", "scenario and nmc").parseoutcomes() == {"passed": 1, "deselected": 2}


def test_a_duration_marker_is_added_from_the_duration_when_missing(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", unmarked=scenario("unmarked", markers=("nmc",)))
    result = suite.runpytest("-m", "short", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["unmarked.toml::unmarked"])


def test_an_unregistered_marker_is_refused_under_strict_markers(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", typo=scenario("typo", markers=("nmcc", "short")))
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'nmcc' not found in `markers` configuration option*"])


def test_the_bench_dut_and_bus_fixtures(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_fixtures="""
        import can
        from hilbench.bench import Bench
        from hilbench.bus.port import BusPort

        def test_fixtures(bench, dut, bus):
            assert isinstance(bench, Bench) and dut is bench.dut and bus is bench.restbus
            assert isinstance(bus, BusPort) and isinstance(bus.bus, can.BusABC)
            seen = []
            status_id = bench.codec.message("CU_Status").frame_id
            bus.subscribe(status_id, seen.append)        # what the DUT sends reaches the rest bus
            bench.run_for(2.0)
            assert bench.now == 2.0 and bench.monitor.frames > 100
            assert seen and bench.monitor.latest["cu_state"] == "RUNNING"
            assert dut.unit.tokens_total > 0

        def test_seed_option(bench, request):
            assert bench.config.seed == request.config.getoption("hil_seed")
    """)
    result = suite.runpytest("--hil-seed", "7")
    result.assert_outcomes(passed=2)


def test_bench_config_can_be_overridden(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_override="""
        import pytest
        from hilbench.bench import BenchConfig

        @pytest.fixture
        def bench_config():
            return BenchConfig(chemistry="lfp", soc_pct=42.0)

        def test_lfp(bench):
            bench.run_for(1.0)
            assert bench.config.chemistry == "lfp"
            assert abs(bench.monitor.latest["soc_pct"] - 42.0) < 1.0
    """)
    suite.runpytest().assert_outcomes(passed=1)


def test_the_same_scenarios_run_on_python_can_virtual(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", parked=scenario("parked"))
    suite.makepyfile(test_bus="""
        def test_bus_is_virtual(bench):
            assert type(bench.restbus.bus).__name__ == "VirtualBus"
            bench.run_for(1.0)
            assert bench.monitor.frames > 50
    """)
    result = suite.runpytest("--hil-interface", "virtual", "--hil-channel", "hil-test")
    result.assert_outcomes(passed=2)


def test_a_dut_defect_makes_the_scenario_fail(suite: pytest.Pytester) -> None:
    checks = """\
[[checks]]
kind = "response"
name = "compute stops within 1 s of leaving P"
trigger = "gear != 'P'"
expr = "compute_power_w == 0"
within = "1 s"
unit = "W"
"""
    suite.makefile(".toml", gear=scenario("gear", checks=checks, steps=SHIFT_TO_D))
    suite.runpytest().assert_outcomes(passed=1)
    result = suite.runpytest("--hil-dut-defect", "ignore_gear")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*compute stops within 1 s of leaving P*failed at t=3.0 s*",
                                 "*DUT defect ignore_gear*", "*last steps before it: 3.0 s shift to D*"])


@pytest.mark.parametrize(("args", "message"), [
    (["--hil-dut-defect", "sloppy"], "*--hil-dut-defect 'sloppy' is not a known defect; known: ignore_reserve*"),
    (["--hil-interface", "socketcan"], "*--hil-interface socketcan needs --hil-channel*"),
    (["--hil-bitrate", "0"], "*--hil-bitrate must be positive*"),
])
def test_bad_options_are_usage_errors(suite: pytest.Pytester, args: list[str], message: str) -> None:
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_artifacts_hold_a_complete_recording_a_trace_and_plots(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", hot=scenario("hot", checks=FAILING_CHECK, steps=SHIFT_TO_D))
    suite.makepyfile(test_bench_art="""
        def test_with_bench(bench):
            bench.run_for(1.0)
    """)
    out = suite.path / "artifacts"
    result = suite.runpytest("--hil-artifacts", str(out))
    result.assert_outcomes(passed=1, failed=1)

    folder = out / "hot"
    names = {p.name for p in folder.iterdir()}
    assert {"bus.log", "trace.csv", "traces.png", "report.txt", "index.html"} <= names
    report = (folder / "report.txt").read_text()
    frames = int(re.search(r"(\d+) frames\)", report).group(1))
    assert count_frames(folder / "bus.log") == frames            # every frame the monitor saw
    assert (folder / "traces.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (folder / "trace.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "t_s" and "soc_pct [%]" in header and "cu_state" in header
    assert f"artifacts: {folder}" in result.stdout.str()
    # payloads of the frames around the violation come from the recording
    assert re.search(r"0x400 CU_Status\s+[0-9A-F]{16}\s+cu_state=", report), report

    bench_folder = out / "test_with_bench"
    assert {"bus.log", "trace.csv", "traces.png"} <= {p.name for p in bench_folder.iterdir()}
    assert count_frames(bench_folder / "bus.log") > 100


def test_pytest_xdist_runs_the_scenarios(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is part of the test extra")
    suite.makefile(".toml", a=scenario("a"), b=scenario("b", markers=("nmc", "long")))
    result = suite.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2)


def test_the_repository_collects_its_scenario_suite() -> None:
    """``pytest`` in the repository root collects fixtures/scenarios (see testpaths in pyproject.toml)."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    testpaths = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert "fixtures/scenarios" in testpaths
    from hilbench.pytest_plugin import is_scenario_file

    assert is_scenario_file(root / "fixtures" / "scenarios" / "overnight.toml")
    assert not is_scenario_file(root / "pyproject.toml")
    assert not is_scenario_file(root / "dbc" / "hilbench.signals.toml")
