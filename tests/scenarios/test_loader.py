"""Bad scenario input is refused at load with file, entry, line and reason; the CLI shows one line.

Each case starts from a valid scenario and breaks one thing, so the message
can only come from that one thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.errors import ConfigError
from hilbench.scenarios import load_scenario

GOOD = """\
[scenario]
name = "good"
duration = "20 s"
markers = ["nmc", "short"]

[initial]
chemistry = "nmc"
soc_pct = 60.0

[[steps]]
at = "5 s"
action = "plug_in"

[[steps]]
at = "10 s"
action = "set_ambient"
value_c = 5.0

[[steps]]
at = "15 s"
action = "unplug"

[[checks]]
kind = "always"
name = "soc above reserve"
expr = "soc_pct >= range_reserve_soc_pct"
unit = "%"
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_base_case_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.name == "good" and scenario.duration_s == 20.0
    assert [s.at_s for s in scenario.steps] == [5.0, 10.0, 15.0]
    assert scenario.markers == ("nmc", "short")


# (description, old, new, entry expected in the message, the line to cite (a substring of new) or None, reason)
CASES = [
    ("unknown key in [initial]", 'soc_pct = 60.0', 'soc_pct = 60.0\nsoc = 60', "initial.soc", "soc = 60",
     "unknown key"),
    ("unknown top-level table", '[initial]', '[inital]\nx = 1\n\n[initial]', "inital", "[inital]", "unknown table"),
    ("unknown key in [scenario]", 'duration = "20 s"', 'duration = "20 s"\nlength = 3', "scenario.length",
     "length = 3", "unknown key"),
    ("wrong type", 'soc_pct = 60.0', 'soc_pct = "sixty"', "initial.soc_pct", 'soc_pct = "sixty"',
     'expected a number in %, got "sixty"'),
    ("SOC out of range", 'soc_pct = 60.0', 'soc_pct = 160.0', "initial.soc_pct", "soc_pct = 160.0",
     "160% is outside 0..100%"),
    ("bad duration", 'duration = "20 s"', 'duration = "20 parsecs"', "scenario.duration", 'duration = "20 parsecs"',
     "expected a time"),
    ("times out of order", 'at = "15 s"', 'at = "8 s"', "steps[2].at", 'at = "8 s"',
     "steps must be in time order, but 8 s comes after 10 s"),
    ("step after the end", 'at = "15 s"', 'at = "25 s"', "steps[2].at", 'at = "25 s"', "after the end"),
    ("unknown action", 'action = "unplug"', 'action = "yank"', "steps[2].action", 'action = "yank"',
     "unknown action 'yank'"),
    ("unknown parameter", 'value_c = 5.0', 'value_c = 5.0\ntemp = 3', "steps[1].temp", "temp = 3",
     'unknown parameter of action "set_ambient"; allowed: value_c'),
    ("missing parameter", 'value_c = 5.0', '', "steps[1]", None, 'action "set_ambient" needs value_c'),
    ("parameter of the wrong type", 'value_c = 5.0', 'value_c = "cold"', "steps[1].value_c", 'value_c = "cold"',
     'expected a number in C, got "cold"'),
    ("unknown check kind", 'kind = "always"', 'kind = "sometimes"', "checks[0].kind", 'kind = "sometimes"',
     'expected one of always, never, eventually, holds_for, response, cycle_times, bus_integrity, got "sometimes"'),
    ("unknown signal in an expression", 'expr = "soc_pct >= range_reserve_soc_pct"', 'expr = "soc >= 20"',
     "checks[0].expr", 'expr = "soc >= 20"', 'unknown signal "soc" (did you mean soc_pct?)'),
    ("expression syntax", 'expr = "soc_pct >= range_reserve_soc_pct"', 'expr = "soc_pct >="',
     "checks[0].expr", 'expr = "soc_pct >="', "not a valid expression"),
    ("construct outside the language", 'expr = "soc_pct >= range_reserve_soc_pct"',
     'expr = "__import__(\'os\') == 1"', "checks[0].expr", "__import__", "'Call' is not allowed"),
    ("response without trigger", 'kind = "always"', 'kind = "response"', "checks[0]", None,
     'a "response" check needs trigger and within'),
    ("unknown key in a check", 'unit = "%"', 'unit = "%"\nseverity = "high"', "checks[0].severity",
     'severity = "high"', "unknown key"),
    ("vacuous on a kind that is always judged", 'unit = "%"', 'unit = "%"\nvacuous = "ok"', "checks[0].vacuous",
     'vacuous = "ok"', 'only a response or eventually check can be vacuous'),
    ("vacuous other than ok or fail", 'kind = "always"',
     'kind = "response"\ntrigger = "plug_present == 1"\nwithin = "1 s"\nvacuous = "yes"', "checks[0].vacuous",
     'vacuous = "yes"', 'expected one of ok, fail, got "yes"'),
    ("a window starting after the end", 'unit = "%"', 'unit = "%"\nfrom = "30 s"', "checks[0].from",
     'from = "30 s"', "the window starts at 30 s, after the end of the scenario (20 s)"),
    ("a window ending before it starts", 'unit = "%"', 'unit = "%"\nfrom = "10 s"\nuntil = "5 s"',
     "checks[0].until", 'until = "5 s"', "the window ends at 5 s, before it starts (10 s)"),
]


@pytest.mark.parametrize(("old", "new", "entry", "line_text", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_file_entry_line_and_reason(tmp_path: Path, old: str, new: str, entry: str,
                                                              line_text: str | None, reason: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {entry}"), message
    assert reason in message
    if line_text is not None:
        assert f"(line {line_of(text, line_text)})" in message, message


@pytest.mark.parametrize(("kind", "extra", "ok"), [
    ("response", 'trigger = "plug_present == 1"\nwithin = "1 s"\nvacuous = "ok"', True),
    ("eventually", 'vacuous = "ok"', True),
    ("eventually", 'vacuous = "fail"', False),
    ("response", 'trigger = "plug_present == 1"\nwithin = "1 s"', False),
])
def test_vacuous_ok_loads_on_response_and_eventually(tmp_path: Path, kind: str, extra: str, ok: bool) -> None:
    text = GOOD.replace('kind = "always"', f'kind = "{kind}"\n{extra}')
    assert load_scenario(write(tmp_path, text)).checks[0].vacuous_ok is ok


def test_a_state_the_signal_does_not_have_is_refused_at_load(tmp_path: Path) -> None:
    text = GOOD.replace('expr = "soc_pct >= range_reserve_soc_pct"', 'expr = "gear == \'X\'"')
    path = write(tmp_path, text)
    try:
        load_scenario(path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: checks[0].expr (line {line_of(text, 'gear ==')})")
        assert '"X" is not a state' in str(exc)
    else:
        raise AssertionError("loaded a check on a state gear does not have")


def test_not_toml_names_the_file_and_the_toml_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('name = "good"', 'name = "good'))
    with pytest.raises(ConfigError, match=rf"^{path}: line 2: not valid TOML: .*line 2"):
        load_scenario(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


@pytest.mark.parametrize(("old", "new"), [(c[1], c[2]) for c in CASES[:3]] + [
    ('at = "15 s"', 'at = "8 s"'), ('action = "unplug"', 'action = "yank"')])
def test_the_cli_prints_one_error_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   old: str, new: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    code = main(["run", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err
    assert "Traceback" not in out + err


def test_the_cli_refuses_bad_input_before_running_anything(tmp_path: Path, capsys) -> None:
    good = write(tmp_path, GOOD, "a_good.toml")
    write(tmp_path, GOOD.replace('at = "15 s"', 'at = "8 s"'), "b_bad.toml")
    assert good.exists()
    assert main(["run", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "b_bad.toml: steps[2].at" in err
    assert "good" not in out      # the good scenario never ran


def test_the_cli_names_a_path_that_does_not_exist(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "no such scenario file or folder" in capsys.readouterr().err


def test_every_problem_of_a_file_is_reported_at_once_each_with_its_line(tmp_path: Path) -> None:
    text = (GOOD.replace("soc_pct = 60.0", "soc_pct = 365.0")
                .replace('value_c = 5.0', 'value_c = -1000.0')
                .replace('action = "unplug"', 'action = "unplgu"')
                .replace('kind = "always"', 'kind = "alway"'))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    got = [(p.file, p.entry, p.line) for p in info.value.problems]
    assert got == [(str(path), "initial.soc_pct", line_of(text, "soc_pct = 365")),
                   (str(path), "steps[1].value_c", line_of(text, "value_c = -1000")),
                   (str(path), "steps[2].action", line_of(text, 'action = "unplgu"')),
                   (str(path), "checks[0].kind", line_of(text, 'kind = "alway"'))]
    message = str(info.value)
    assert message.startswith(f"4 problems in {path}:")
    assert "-1000 C is outside -60..90 C" in message and "(did you mean \"unplug\"?)" in message


@pytest.mark.parametrize(("table", "key", "value", "reason"), [
    ("initial", "pack_temp_c", "-274.0", "-274 C is outside -60..90 C"),
    ("initial", "ambient_c", "1e29", "1e+29 C is outside -60..90 C"),
    ("initial", "coolant_c", "nan", "expected a finite number in C, got nan"),
    ("initial", "evse_max_current_a", "-16.0", "-16 A is outside 6..80 A"),
    ("initial", "series", "0", "expected a whole number >= 1, got 0"),
    ("initial", "gear", '"X"', 'expected one of P, R, N, D, got "X"'),
    ("dut", "coolant_c", "1000.0", "1000 C is outside -60..150 C"),
    ("dut", "fidelity", '"bogus"', 'expected one of model, real, got "bogus"'),
    ("dut", "tick_s", "0.0", "0 s is outside 0..1 s"),
    ("dut", "defect", '"nope"', "unknown defect(s) ['nope']"),
    ("dut", "e2e", "{ no_such = 1 }", "no_such"),
], ids=lambda v: str(v))
def test_initial_and_dut_values_no_bench_could_mean_are_refused(tmp_path: Path, table: str, key: str, value: str,
                                                                  reason: str) -> None:
    path = write(tmp_path, GOOD + f"\n[{table}]\n{key} = {value}\n" if table == "dut"
                 else GOOD.replace("soc_pct = 60.0", f"soc_pct = 60.0\n{key} = {value}"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    ((problem),) = info.value.problems
    assert problem.entry == f"{table}.{key}" and problem.line is not None and reason in problem.reason, problem


def test_a_chemistry_file_is_loaded_with_the_scenario_and_its_problems_name_it(tmp_path: Path) -> None:
    from hilbench.plant.chemistry import CHEMISTRY_DIR

    cell = (CHEMISTRY_DIR / "lfp.toml").read_text(encoding="utf-8")
    (tmp_path / "cell.toml").write_text(cell.replace("rated_ah = 100.0", "rated_ah = -1.0")
                                            .replace("charge_max_c = 55.0", "charge_max_c = 500.0"),
                                        encoding="utf-8")
    path = write(tmp_path, GOOD.replace('chemistry = "nmc"', 'chemistry = "cell.toml"'))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert [(Path(p.file).name, p.entry) for p in info.value.problems] == [
        ("cell.toml", "capacity.rated_ah"), ("cell.toml", "temperature_limits.charge_max_c")]
    unknown = write(tmp_path, GOOD.replace('chemistry = "nmc"', 'chemistry = "unobtainium"'), "u.toml")
    with pytest.raises(ConfigError, match=r"u.toml: initial.chemistry \(line \d+\): unknown chemistry"):
        load_scenario(unknown)


def test_a_replay_file_is_found_next_to_the_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "lab" / "scenarios"
    folder.mkdir(parents=True)
    (folder / "session.log").write_text("(0.000000) vcan0 100#0000000000000000\n", encoding="utf-8")
    text = GOOD.replace('action = "unplug"', 'action = "replay"\nfile = "session.log"\nnode = "bms"')
    path = write(folder, text)
    monkeypatch.chdir(tmp_path)          # wherever the run starts
    (step,) = [s for s in load_scenario(path).steps if s.action == "replay"]
    assert step.params["file"] == str(folder / "session.log")


def test_a_dut_model_is_a_bundled_one_or_a_file_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "mine.onnx").write_bytes(b"not really a model, but a file")
    scenario = load_scenario(write(tmp_path, GOOD + '\n[dut]\nmodel = "mine.onnx"\n'))
    assert scenario.dut["model"] == str(tmp_path / "mine.onnx")
    assert load_scenario(write(tmp_path, GOOD + '\n[dut]\nmodel = "tiny-llm-int8"\n')).dut["model"] == "tiny-llm-int8"
    with pytest.raises(ConfigError, match=r'dut.model \(line \d+\): no bundled model "tiny-lm" \(bundled: '):
        load_scenario(write(tmp_path, GOOD + '\n[dut]\nmodel = "tiny-lm"\n'))
