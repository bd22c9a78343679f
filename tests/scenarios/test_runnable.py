"""Every scenario of a run is checked against the bus description before the first one starts.

A step that needs a role the signal map does not bind, a fault on a node the
bench does not emulate, a message that is not in the DBC or that no emulated
node sends: each is refused by ``check_runnable`` with file, entry, line and
reason, all of them at once, and ``run_scenario`` refuses such a scenario
before it builds a bench.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hilbench.errors import ConfigError, ScenarioError
from hilbench.scenarios import NotRunnableError, RunOptions, check_runnable, run_scenario, runner

from .helpers import CAR_MESSAGE, car_dbcs, map_without, scenario

DRIVE = """\
[[checks]]
kind = "always"
name = "SOC never below 0"
expr = "soc_pct >= 0"

[[steps]]
at = "1 s"
action = "set_ambient"
value_c = 20.0

[[steps]]
at = "2 s"
action = "request_drive"
name = "driver wants to go"

[[steps]]
at = "3 s"
action = "drop"
role = "drive_requested"
duration_s = "1 s"
"""

LOSS = """\
[[steps]]
at = "1 s"
action = "drop"
message = "ABS_WheelSpeeds"

[[checks]]
kind = "always"
name = "SOC never below 0"
expr = "soc_pct >= 0"
"""

FINE = """\
[[steps]]
at = "1 s"
action = "drop"
role = "pack_voltage_v"
every_n = 2

[[checks]]
kind = "always"
name = "SOC never below 0"
expr = "soc_pct >= 0"
"""


def _problems(scenarios, options: RunOptions) -> list[tuple[str, str, str]]:
    with pytest.raises(NotRunnableError) as info:
        check_runnable(scenarios, options)
    return [(Path(p.file).name, p.entry, p.reason) for p in info.value.problems]


def test_every_problem_of_every_scenario_is_listed_at_once(tmp_path: Path) -> None:
    lab_map = map_without(tmp_path, "drive_requested")
    scenarios = [scenario(tmp_path, "drive", DRIVE), scenario(tmp_path, "fine", FINE),
                 scenario(tmp_path, "loss", LOSS)]
    problems = _problems(scenarios, RunOptions(signal_map=lab_map))
    assert [(file, entry) for file, entry, _ in problems] == [
        ("drive.toml", "steps[1] (line 18)"),
        ("drive.toml", "steps[2].role (line 26)"),
        ("loss.toml", "steps[0].message (line 11)"),
    ]
    assert 'request_drive "driver wants to go" at 2 s' in problems[0][2]
    assert 'role "drive_requested"' in problems[0][2] and str(lab_map) in problems[0][2]
    assert 'role "drive_requested" is not mapped' in problems[1][2]
    assert 'message "ABS_WheelSpeeds" is not in the DBC' in problems[2][2]
    # On the bench's own map only the message that is in no DBC is left.
    assert [(f, e) for f, e, _ in _problems(scenarios, RunOptions())] == [("loss.toml", "steps[0].message (line 11)")]


def test_the_error_names_file_entry_and_reason_and_crosses_processes(tmp_path: Path) -> None:
    lab_map = map_without(tmp_path, "drive_requested")
    with pytest.raises(ScenarioError) as info:    # a ScenarioError: the CLI's one error line, exit 2
        check_runnable([scenario(tmp_path, "drive", DRIVE)], RunOptions(signal_map=lab_map))
    text = str(info.value)
    assert text.startswith("2 problems in 1 scenario, refused before running")
    assert f"{tmp_path / 'drive.toml'}: steps[1] (line 18): request_drive" in text
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems and str(copy) == text


def test_a_scenario_that_fits_the_bus_passes(tmp_path: Path) -> None:
    check_runnable([scenario(tmp_path, "fine", FINE), scenario(tmp_path, "drive", DRIVE)], RunOptions())


@pytest.mark.parametrize(("step", "emulate", "entry", "reason"), [
    ('action = "drop"\nnode = "bms"', {"vcu", "obc", "cu"}, "steps[0].node", 'node "bms" is not emulated'),
    ('action = "corrupt"\nrole = "gear"', {"bms", "obc", "cu"}, "steps[0].role", 'node "vcu" is not emulated'),
    ('action = "delay"\nmessage = "OBC_ChargerStatus"\ndelay_s = 0.2', {"bms", "vcu", "cu"}, "steps[0].message",
     'node "obc" is not emulated'),
    ('action = "node_silent"\nnode = "dut"', {"bms", "vcu", "obc"}, "steps[0].node", 'node "cu" is not emulated'),
    ('action = "sensor_offset"\nrole = "soc_pct"\noffset = 1.0', {"vcu", "obc", "cu"}, "steps[0]",
     "the BMS is not emulated"),
    ('action = "shift"\ngear = "D"', {"bms", "obc", "cu"}, "steps[0]",
     "the emulated VCU, but this bench does not emulate it"),
], ids=["drop-node", "corrupt-role", "delay-message", "silent-dut", "sensor", "shift"])
def test_a_step_on_a_node_that_is_not_emulated_is_refused(tmp_path: Path, step: str, emulate: set[str],
                                                          entry: str, reason: str) -> None:
    s = scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\n{step}\n')
    ((_, got_entry, got_reason),) = _problems([s], RunOptions(emulate=frozenset(emulate)))
    assert got_entry.startswith(entry + " (line")
    assert reason in got_reason
    check_runnable([s], RunOptions())      # every node emulated: nothing to refuse


def test_a_message_no_emulated_node_sends_is_refused(tmp_path: Path) -> None:
    car = car_dbcs(tmp_path)
    s = scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\naction = "drop"\nmessage = "{CAR_MESSAGE}"\n')
    ((_, entry, reason),) = _problems([s], RunOptions(dbc=car))
    assert entry.startswith("steps[0].message") and f'no emulated sender of message "{CAR_MESSAGE}"' in reason


@pytest.mark.parametrize(("step", "key", "reason"), [
    ('action = "bad_checksum"\nmessage = "BMS_CellVoltages"', "message", "carries no checksum"),
    ('action = "wrong_counter"\nmessage = "BMS_CellTemps"', "message", "carries no alive counter"),
    ('action = "drop"\nrole = "soc_pct"\nmessage = "BMS_PackStatus"', "role", "not both"),
    ('action = "drop"\nnode = "vcu"\nrole = "soc_pct"', "node", 'role "soc_pct" comes from bms'),
    ('action = "drop"\nnode = "vcu"\nmessage = "BMS_Limits"', "node", 'node "vcu" does not send "BMS_Limits"'),
    ('action = "drop"\nrole = "state_of_health_pct"', "role", 'unknown role "state_of_health_pct"'),
    ('action = "drop"', "", "needs node"),
    ('action = "delay"\nnode = "bms"\ndelay_s = 0.0', "delay_s", "must be > 0"),
], ids=["checksum", "counter", "role-and-message", "node-vs-role", "node-vs-message", "unknown-role",
        "no-target", "delay"])
def test_step_parameters_are_checked_before_the_run(tmp_path: Path, step: str, key: str, reason: str) -> None:
    s = scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\n{step}\n')
    problems = _problems([s], RunOptions())
    entry = f"steps[0].{key}" if key else "steps[0]"
    assert any(e.startswith(entry + " (line") and reason in r for _, e, r in problems), problems


@pytest.mark.parametrize(("step", "key", "reason"), [
    ('action = "drop"\nnode = "esp"', "node", 'unknown node "esp"'),
    ('action = "drop"\nnode = "bms"\nevery_n = 0', "every_n", "expected a whole number >= 1, got 0"),
    ('action = "wrong_counter"\nnode = "bms"\nmode = "backwards"', "mode", "repeat, skip"),
    ('action = "sensor_offset"\nrole = "gear"\noffset = 1.0', "role", "expected one of pack_current_a"),
    ('action = "shift"\ngear = "X"', "gear", 'expected one of P, R, N, D, got "X"'),
    ('action = "set_reserve"\nsoc_pct = 120.0', "soc_pct", "120% is outside 0..100%"),
    ('action = "bus_off"\nduration_s = 0.0', "duration_s", "expected > 0 s, got 0 s"),
    ('action = "cold_soak"\ntemp_c = -1000.0', "temp_c", "-1000 C is outside -60..90 C"),
    # moved here from tests/scenarios/test_fault_modes.py: refused at load now, no bus needed
    ('action = "corrupt"\nmessage = "BMS_PackStatus"\nrate = 1.5', "rate", "1.5 is outside 0..1 (a share of frames"),
    ('action = "drop"\nmessage = "BMS_PackStatus"\nframes = 0', "frames", "expected a whole number >= 1, got 0"),
    ('action = "masquerade"\nrole = "gear"\nfrom_role = "soc_pct"\nmode = "id"', "mode",
     'expected one of payload, data_id, got "id"'),
    ('action = "masquerade"\nrole = "gear"\nfrom_role = "soc_pct"\nrate = 0.0', "rate", "0 is outside 0..1"),
    ('action = "reorder"\nnode = "esp"', "node", 'unknown node "esp"'),
], ids=["unknown-node", "every_n", "mode", "sensor-role", "gear", "reserve", "bus-off", "cold-soak", "rate-range",
        "frames", "masquerade-mode", "masquerade-rate", "reorder-node"])
def test_step_values_no_bus_could_take_are_refused_at_load(tmp_path: Path, step: str, key: str,
                                                           reason: str) -> None:
    """What needs no bus to judge (a gear "X", an SOC of 120 %, a cell at -1000 C) is refused when the
    file is loaded, by itself: the pytest plugin, the TUI and ``hilbench fuzz`` refuse it too."""
    with pytest.raises(ConfigError) as info:
        scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\n{step}\n')
    ((entry, line, got),) = [(p.entry, p.line, p.reason) for p in info.value.problems]
    assert entry == f"steps[0].{key}" and line is not None and reason in got, info.value


def test_bad_checksum_on_a_protected_role_or_node_is_fine(tmp_path: Path) -> None:
    s = scenario(tmp_path, "x", """\
        [[steps]]
        at = "1 s"
        action = "bad_checksum"
        role = "pack_voltage_v"

        [[steps]]
        at = "2 s"
        action = "wrong_counter"
        node = "bms"
        """)
    check_runnable([s], RunOptions())


def test_run_scenario_refuses_before_it_builds_a_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_bench(*args, **kwargs):
        raise AssertionError("a bench was built for a scenario that cannot run")

    lab_map = map_without(tmp_path, "drive_requested")
    s = scenario(tmp_path, "drive", DRIVE)
    monkeypatch.setattr(runner, "Bench", no_bench)
    with pytest.raises(NotRunnableError, match="drive_requested"):
        run_scenario(s, RunOptions(signal_map=lab_map))


def test_run_scenario_runs_the_same_scenario_on_a_map_that_fits(tmp_path: Path) -> None:
    result = run_scenario(scenario(tmp_path, "drive", DRIVE), RunOptions())
    assert result.passed and [st.action for st in result.steps] == ["set_ambient", "request_drive", "drop"]


def test_a_sensor_fault_on_an_unmapped_role_is_refused(tmp_path: Path) -> None:
    """With a real compute unit no BMS role is required; a sensor fault on one the map lacks cannot be seen."""
    lab_map = map_without(tmp_path, "max_cell_temp_c")
    s = scenario(tmp_path, "x", '[[steps]]\nat = "1 s"\naction = "sensor_drift"\nrole = "max_cell_temp_c"\n'
                                'rate_per_s = 0.5\n')
    options = RunOptions(signal_map=lab_map, emulate=frozenset({"bms", "vcu", "obc"}))
    ((_, entry, reason),) = _problems([s], options)
    assert entry == "steps[0].role (line 11)"
    assert 'role "max_cell_temp_c" is not mapped by the signal map' in reason
    check_runnable([s], RunOptions(emulate=options.emulate))
