"""The fault matrix: its FTTI file is checked at load, it derives the safety messages from the signal map,
repeats itself bit for bit, catches a deliberately broken DUT, and its exit code follows the verdicts.

The default run is a reduced, seeded matrix (a few modes x messages x injections); the full one
(every mode x every safety message, >= 1,000 injections) runs with ``HILBENCH_SLOW=1``.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from hilbench.bus import load_bus_description
from hilbench.cli.main import main
from hilbench.errors import ConfigError
from hilbench.scenarios.fault_matrix import (
    FAILURE_MODES,
    FTTI_FILE,
    Cell,
    MatrixSettings,
    Outcome,
    format_summary,
    format_table,
    load_ftti,
    parse_seeds,
    plan,
    run_matrix,
    safety_messages,
)

from .helpers import map_without

SAFETY = {"BMS_PackStatus", "BMS_CellExtremes", "BMS_Limits", "BMS_Faults", "VCU_VehicleStatus",
          "OBC_ChargerStatus"}
#: Modes that any compute unit worth the name handles: detected (loss, corruption) or ridden through.
SMALL_MODES = ["loss", "corrupt_bits", "loss_single", "delay_0_2s"]
SMALL_MESSAGES = ["BMS_Limits", "VCU_VehicleStatus"]

MINIMAL = """\
[matrix]
margin = 0.8
warmup_s = 3.0
inject_window_s = 1.0
settle_s = 1.0
recording_s = 5.0

[messages.BMS_Limits]
ftti_ms = 1000
why = "the DCL"

[modes.loss]
failure_mode = "loss"
action = "drop"
params = {}
duration_s = 2.0
expect = "stop"
why = "every frame lost for 2 s"
"""


def ftti_file(tmp_path: Path, text: str = MINIMAL, name: str = "ftti.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- what the matrix covers ------------------------------------------------------------------
def test_the_safety_messages_are_those_the_unit_reads(tmp_path: Path) -> None:
    default = load_bus_description().signal_map
    assert set(safety_messages(default)) == SAFETY
    assert "BMS_CellVoltages" in default.messages_of("bms")          # the BMS sends more; the unit reads none of it
    lab = load_bus_description(signal_map=map_without(tmp_path, "cp_state", "plug_present", "charge_power_w"))
    assert set(safety_messages(lab.signal_map)) == SAFETY - {"OBC_ChargerStatus"}   # nothing the unit reads is in it


def test_the_bundled_ftti_file_declares_every_message_and_failure_mode() -> None:
    spec = load_ftti()
    assert spec.path == FTTI_FILE and spec.margin == pytest.approx(0.8)
    assert SAFETY <= set(spec.messages)
    assert all(m.why and m.ftti_s > 0 for m in spec.messages.values())
    stop_modes = {m.failure_mode for m in spec.modes.values() if m.expect in ("stop", "detect")}
    assert stop_modes == set(FAILURE_MODES)                          # the seven, and replay, each must stop the unit
    tolerated = {name: m for name, m in spec.modes.items() if m.expect == "tolerate"}
    assert tolerated["loss_single"].params == {"count": 1}           # a single lost frame is ridden through
    assert tolerated["delay_0_2s"].params["delay_s"] < 0.5           # and a delay shorter than the timeout


@pytest.mark.parametrize(("change", "entry", "reason"), [
    (("margin = 0.8", "margin = 1.5"), "matrix.margin", "must be in (0, 1]"),
    (("ftti_ms = 1000", "ftti_ms = 0"), "messages.BMS_Limits.ftti_ms", "must be > 0"),
    (('why = "the DCL"', 'why = ""'), "messages.BMS_Limits.why", "every value says why"),
    (('expect = "stop"', 'expect = "maybe"'), "modes.loss.expect", "must be one of stop, detect, tolerate"),
    (('failure_mode = "loss"', 'failure_mode = "gremlins"'), "modes.loss.failure_mode", "corruption, repetition"),
    (('action = "drop"', 'action = "explode"'), "modes.loss.action", "unknown action 'explode'"),
    (('action = "drop"', 'action = "shift"'), "modes.loss.action", "does not act on a message"),
    (("params = {}", "params = { every = 2 }"), "modes.loss.params.every", 'unknown parameter of action "drop"'),
    (("params = {}", 'params = { every_n = "2" }'), "modes.loss.params.every_n", "expected int"),
    (("params = {}", 'params = { message = "BMS_Faults" }'), "modes.loss.params.message", "set by the matrix"),
    (("duration_s = 2.0", "duration_s = -1.0"), "modes.loss.duration_s", "must be > 0"),
    (('expect = "stop"', 'expect = "stop"\ncolour = "red"'), "modes.loss.colour", "unknown key"),
    (("[matrix]", "[matrix]\nseeds = 3"), "matrix.seeds", "unknown key"),
    (("[modes.loss]", "[modes.loss]\nfoo = ["), None, "not valid TOML"),
], ids=["margin", "ftti", "why", "expect", "failure-mode", "action", "not-a-frame-fault", "param", "param-type",
        "target", "duration", "mode-key", "matrix-key", "toml"])
def test_a_bad_ftti_file_is_refused_with_file_entry_and_reason(tmp_path: Path, change: tuple[str, str],
                                                               entry: str | None, reason: str) -> None:
    path = ftti_file(tmp_path, MINIMAL.replace(*change, 1))
    with pytest.raises(ConfigError) as info:
        load_ftti(path)
    assert info.value.file == str(path) and info.value.entry == entry and reason in info.value.reason


def test_the_matrix_refuses_before_the_first_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ftti.toml: messages.BMS_PackStatus: the compute unit reads this safety "
                                          r"message but no FTTI is declared"):
        run_matrix(load_ftti(ftti_file(tmp_path)), injections=1, jobs=1)
    bad_step = MINIMAL.replace("params = {}", "params = { after_s = 0.15 }").replace('"drop"', '"insert"')
    with pytest.raises(ConfigError, match=r"modes.loss.params.after_s: insert on BMS_Limits: 0.15 s is not shorter "
                                          r"than the 100 ms cycle"):
        run_matrix(load_ftti(ftti_file(tmp_path, bad_step)), messages=["BMS_Limits"], injections=1, jobs=1)
    with pytest.raises(ConfigError, match="not a safety message"):
        run_matrix(messages=["BMS_CellVoltages"], injections=1, jobs=1)
    with pytest.raises(ConfigError, match="no such mode"):
        run_matrix(modes=["teleport"], injections=1, jobs=1)


def test_seeds_and_the_plan() -> None:
    assert parse_seeds("0-3,7") == (0, 1, 2, 3, 7) and parse_seeds("5") == (5,)
    for bad in ("3-1", "a", "", "1-"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    spec = load_ftti()
    runs = plan(spec, ["BMS_Limits"], ["loss"], 6, (0, 1, 2))
    assert runs == plan(spec, ["BMS_Limits"], ["loss"], 6, (0, 1, 2))          # the same plan every time
    assert [r.seed for r in runs] == [0, 1, 2, 0, 1, 2]
    assert len({r.at_s for r in runs}) == 6
    assert all(spec.warmup_s <= r.at_s < spec.warmup_s + spec.inject_window_s for r in runs)


# -- verdicts -----------------------------------------------------------------------------------
def _cell(expect: str, *stops: float | None, resumed: float | None = None, error: str = "") -> Cell:
    spec = load_ftti()
    mode = spec.modes["loss" if expect == "stop" else "loss_single"]
    cell = Cell(mode, "BMS_Limits", 1.0, 0.8)
    for i, stop in enumerate(stops):
        cell.outcomes.append(Outcome(mode.name, "BMS_Limits", i, 3.0, stop_s=stop,
                                     resumed_s=resumed if i == 0 and stop is not None else None))
    if error:
        cell.outcomes.append(Outcome(mode.name, "BMS_Limits", 9, 3.0, error=error))
    return cell


def test_the_verdict_of_a_cell() -> None:
    assert _cell("stop", 0.5, 0.6, 0.7).verdict == "PASS"
    assert _cell("stop", 0.5, None, 0.7).verdict == "UNDETECTED"
    assert _cell("stop", 0.5, 0.6, resumed=2.5).verdict == "RESUMED"
    assert _cell("stop", 0.5, 0.6, 0.9).verdict == "FTTI_MISS"                 # p99 above 0.8 x 1 s
    assert _cell("stop", 0.5, None, 0.9, resumed=2.0).verdict == "UNDETECTED+RESUMED+FTTI_MISS"
    assert _cell("stop", 0.5, error="ScenarioError: x").verdict == "ERROR"
    assert _cell("tolerate", None, None).verdict == "PASS"
    assert _cell("tolerate", None, 1.2).verdict == "FALSE_STOP"


def test_a_detect_mode_must_stop_every_time_and_stay_stopped_its_handling_time_not_held_to_the_ftti() -> None:
    spec = load_ftti()
    mode = spec.modes["corrupt_rate25"]
    assert mode.expect == "detect"

    def cell(*stops: float | None, resumed: float | None = None) -> Cell:
        c = Cell(mode, "BMS_Limits", 1.0, 0.8)
        c.outcomes += [Outcome(mode.name, "BMS_Limits", i, 3.0, stop_s=stop,
                               resumed_s=resumed if i == 0 else None) for i, stop in enumerate(stops)]
        return c

    assert cell(0.5, 2.9).verdict == "PASS"
    assert cell(0.5, None).verdict == "UNDETECTED"
    assert cell(0.5, 2.9, resumed=3.5).verdict == "RESUMED"


def test_only_a_replay_that_lines_up_with_the_live_counter_may_go_undetected() -> None:
    mode = load_ftti().modes["replay"]
    cell = Cell(mode, "BMS_Limits", 1.0, 0.8)
    cell.outcomes += [Outcome(mode.name, "BMS_Limits", 0, 3.0, stop_s=0.2),
                      Outcome(mode.name, "BMS_Limits", 1, 3.1, aligned=True)]
    assert cell.verdict == "PASS" and len(cell.aligned) == 1
    cell.outcomes.append(Outcome(mode.name, "BMS_Limits", 2, 3.2))
    assert cell.verdict == "UNDETECTED"


# -- runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_report():
    return run_matrix(modes=SMALL_MODES, messages=SMALL_MESSAGES, injections=3, seeds=(0, 1, 2), jobs=1)


def test_a_small_matrix_on_the_bundled_unit(small_report) -> None:
    report = small_report
    assert len(report.outcomes) == len(SMALL_MODES) * len(SMALL_MESSAGES) * 3
    assert not [o for o in report.outcomes if o.error]
    assert report.passed, format_table(report)
    for cell in report.cells:
        if cell.mode.expect == "stop":
            assert len(cell.stops) == 3 and cell.p99_s <= cell.limit_s
            assert all(o.reason for o in cell.stops)                  # the status frame says why
            assert all(o.named == cell.message for o in cell.stops)   # and names the faulted message
    table, summary = format_table(report), format_summary(report)
    assert re.search(r"^loss_single +loss +BMS_Limits +tolerate +0/3 +- +- +- +1000 +800 +PASS$", table, re.MULTILINE)
    assert f"{len(report.outcomes)} injections, 8/8 cells pass" in summary


def test_the_matrix_repeats_bit_for_bit_in_parallel(small_report) -> None:
    again = run_matrix(modes=SMALL_MODES[:2], messages=SMALL_MESSAGES, injections=3, seeds=(0, 1, 2), jobs=2)
    assert again.outcomes == [o for o in small_report.outcomes if o.mode in SMALL_MODES[:2]]


def test_the_matrix_catches_a_dut_that_ignores_stale_data() -> None:
    report = run_matrix(modes=["loss"], messages=["BMS_Limits"], injections=2, seeds=(0, 1), jobs=1,
                        settings=MatrixSettings(dut_defect="ignore_stale"))
    (cell,) = report.cells
    assert cell.verdict == "UNDETECTED" and not cell.stops and not report.passed


def test_a_map_without_the_unit_s_reason_message_names_nothing(tmp_path: Path) -> None:
    lab = map_without(tmp_path, "cu_reason_frame_id", "cu_reason_input_state")
    report = run_matrix(modes=["loss"], messages=["BMS_Limits"], injections=1, jobs=1,
                        settings=MatrixSettings(signal_map=lab))
    (cell,) = report.cells
    assert cell.verdict == "PASS" and cell.named is None and cell.outcomes[0].named is None
    assert re.search(r"^loss +loss +BMS_Limits +stop +1/1 +- ", format_table(report), re.MULTILINE)


def test_a_replay_runs_from_a_recording_made_for_the_matrix() -> None:
    report = run_matrix(modes=["replay"], messages=["VCU_VehicleStatus"], injections=1, jobs=1)
    (outcome,) = report.outcomes
    assert not outcome.error and report.settings.recording.endswith("fault_free.log")


# -- the command ----------------------------------------------------------------------------------
def _matrix(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "matrix.json"
    code = main(["faults", "matrix", "--message", "BMS_Limits", "-n", "2", "--seeds", "0-1", "-j", "1",
                 "--json", str(out), *args])
    return code, json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}


def test_the_command_exits_0_when_every_cell_passes(tmp_path: Path, capsys) -> None:
    code, data = _matrix(tmp_path, "--mode", "loss", "--mode", "loss_single")
    out = capsys.readouterr().out
    assert code == 0 and data["verdict"] == "PASS" and data["injections"] == 4
    assert re.search(r"^loss +loss +BMS_Limits +stop +2/2 +2/2 +\d+ +\d+ +1000 +800 +PASS$", out, re.MULTILINE)
    (loss,) = [c for c in data["cells"] if c["mode"] == "loss"]
    assert loss["stopped"] == 2 and loss["ftti_ms"] == 1000 and loss["limit_ms"] == 800
    assert loss["p99_ms"] <= 800 and len(data["runs"]) == 4
    assert data["messages"]["BMS_Limits"]["why"] and data["modes"]["loss"]["p50_ms"] == loss["p50_ms"]


def test_the_command_exits_1_on_an_undetected_mode(tmp_path: Path, capsys) -> None:
    code, data = _matrix(tmp_path, "--mode", "loss", "--dut-defect", "ignore_stale")
    assert code == 1 and data["verdict"] == "FAIL" and data["dut_defect"] == "ignore_stale"
    assert data["failures"] == ["loss on BMS_Limits: UNDETECTED"]
    assert "FAIL loss on BMS_Limits: UNDETECTED" in capsys.readouterr().out


def test_the_command_exits_1_on_an_ftti_miss_and_on_a_false_stop(tmp_path: Path) -> None:
    tight = load_ftti().path.read_text(encoding="utf-8").replace(
        "[messages.BMS_Limits]\nftti_ms = 1000", "[messages.BMS_Limits]\nftti_ms = 300")
    code, data = _matrix(tmp_path, "--mode", "loss", "--ftti", str(ftti_file(tmp_path, tight, "tight.toml")))
    assert code == 1 and data["failures"] == ["loss on BMS_Limits: FTTI_MISS"]
    lenient = load_ftti().path.read_text(encoding="utf-8").replace(
        'Every frame lost for 2 s', 'Declared tolerated by mistake').replace(
        'duration_s = 2.0\nexpect = "stop"', 'duration_s = 2.0\nexpect = "tolerate"')
    code, data = _matrix(tmp_path, "--mode", "loss", "--ftti", str(ftti_file(tmp_path, lenient, "lenient.toml")))
    assert code == 1 and data["failures"] == ["loss on BMS_Limits: FALSE_STOP"]


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "5-1"], "--seeds"),
    (["--mode", "teleport"], "no such mode"),
    (["--message", "BMS_CellVoltages"], "not a safety message"),
    (["--injections", "0"], "--injections: must be >= 1"),
    (["--interface", "socketcan", "--channel", "vcan0"], "only the simtime interface"),
    (["--dut-defect", "nonsense"], "not a known defect"),
])
def test_the_command_exits_2_on_bad_input(args: list[str], message: str, capsys) -> None:
    assert main(["faults", "matrix", "-n", "1", "-j", "1", *args]) == 2
    assert message in capsys.readouterr().err


def test_faults_list_shows_every_ftti_and_mode(capsys) -> None:
    assert main(["faults", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SAFETY) and "masquerade_data_id" in out and "tolerate" in out


# -- the full matrix, on request -------------------------------------------------------------------
@pytest.mark.skipif(not os.environ.get("HILBENCH_SLOW"),
                    reason="the full fault matrix (>= 1,000 injections) takes minutes; set HILBENCH_SLOW=1 to run it")
def test_the_full_matrix_passes() -> None:
    report = run_matrix()
    assert len(report.outcomes) >= 1000 and set(report.messages) == SAFETY
    assert report.passed, "\n".join([format_table(report), "", format_summary(report)])
