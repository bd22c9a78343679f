"""The fault panel's form accepts what a scenario file accepts, and refuses it with the same reasons."""

from __future__ import annotations

import pytest

from hilbench.errors import ConfigError
from hilbench.scenarios.actions import ACTIONS
from tui.fault_form import action_names, checked_step, params_of, parse_value
from tui.session import BenchSession


def test_every_scenario_action_is_in_the_form() -> None:
    assert action_names() == sorted(ACTIONS)
    assert len(action_names()) >= 26


@pytest.mark.parametrize(("text", "value"), [
    ("12.5", 12.5), ("3", 3), ("true", True), ('"BMS_Status"', "BMS_Status"), ("bms", "bms"),
    ("  D ", "D"), ('"5 s"', "5 s"),
])
def test_typed_values_read_as_toml_or_as_a_bare_word(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_a_step_is_checked_like_a_scenario_file_step() -> None:
    assert checked_step("set_coolant", {"value_c": "45"}) == {"value_c": 45.0}
    assert checked_step("node_silent", {"node": "bms", "duration_s": '"5 s"'}) == {"node": "bms", "duration_s": 5.0}
    assert checked_step("drop", {"node": "", "every_n": ""}) == {}   # blank keeps the defaults


@pytest.mark.parametrize(("action", "typed", "entry", "reason"), [
    ("set_coolant", {"value_c": "hot"}, "value_c", "expected a number in C"),
    ("set_coolant", {}, "value_c", "needs value_c"),
    ("shift", {"gear": "X"}, "gear", "expected one of P, R, N, D"),
    ("drop", {"bogus": "1"}, "bogus", "unknown parameter"),
    ("set_coolant", {"value_c": "500"}, "value_c", "C"),
    ("node_silent", {"node": "abs"}, "node", 'unknown node "abs"'),
])
def test_a_bad_step_is_refused_naming_the_parameter(action: str, typed: dict[str, str], entry: str,
                                                    reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        checked_step(action, typed)
    problem = caught.value.problems[0]
    assert problem.file == "fault panel" and problem.entry == entry and reason in problem.reason


def test_a_step_that_would_not_reach_this_bus_is_refused(tmp_path) -> None:
    """The bench does not emulate the BMS: silencing it from the panel would do nothing, so it is refused."""
    from hilbench.scenarios import RunOptions

    with BenchSession.open(options=RunOptions(emulate=frozenset({"vcu", "obc", "cu"}))) as session:
        with pytest.raises(ConfigError, match="BMS is not emulated"):
            checked_step("sensor_offset", {"role": "max_cell_temp_c", "offset": "5"}, session.bus_view())


def test_params_follow_the_action_signature() -> None:
    names = [p.name for p in params_of("sensor_offset")]
    assert names == ["role", "offset", "duration_s"]
    required = {p.name: p.required for p in params_of("sensor_offset")}
    assert required == {"role": True, "offset": True, "duration_s": False}
    assert "required" in params_of("sensor_offset")[0].hint
