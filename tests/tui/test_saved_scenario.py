"""A session saved as a scenario file: the loader reads it back, and it runs to the same verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.errors import ConfigError
from hilbench.scenarios import load_scenario
from hilbench.scenarios.runner import run_scenario
from tui.session import BenchSession


def test_the_steps_that_fired_and_the_hand_actions_are_saved_at_their_times(short_scenario: Path,
                                                                           tmp_path: Path) -> None:
    with BenchSession.open(short_scenario) as session:
        session.advance(5.0)
        session.act("set_coolant", {"value_c": 45.0})
        session.advance(10.0)            # the scenario's own step (plug in at 10 s) fires meanwhile
        session.cycle_gear()             # to D: compute must stop
        session.advance(5.0)
        session.cycle_gear()             # back to P
        session.advance(3.0)
        saved = session.save_scenario(tmp_path / "explored.toml")
        explored = [(round(t, 1), state, reason) for t, state, reason in session.bench.dut.supervisor.transitions]

    scenario = load_scenario(saved)
    assert scenario.duration_s == pytest.approx(23.0)
    assert [(round(s.at_s, 3), s.action) for s in scenario.steps] == [
        (5.0, "set_coolant"), (10.0, "plug_in"), (15.0, "shift"), (20.0, "shift")]
    assert [s.params for s in scenario.steps] == [{"value_c": 45.0}, {}, {"gear": "D"}, {"gear": "P"}]
    assert scenario.initial == load_scenario(short_scenario).initial
    assert [c.name for c in scenario.checks] == ["no compute power outside P"]

    # The exploration is now a test: headless, the unit goes through what it went through by hand
    # (STANDBY for the gear in D, RUNNING again in P) at the same times, and the check judges it.
    result = run_scenario(scenario, keep_bench=True)
    assert [round(s.t_s, 3) for s in result.steps] == [5.0, 10.0, 15.0, 20.0]
    assert result.bench is not None and result.bench.dut is not None
    replayed = [(round(t, 1), state, reason) for t, state, reason in result.bench.dut.supervisor.transitions]
    assert any(state == "STANDBY" and reason == "GEAR_NOT_PARK" for _t, state, reason in explored)
    assert [(s, r) for _t, s, r in replayed] == [(s, r) for _t, s, r in explored]
    assert [t for t, _s, _r in replayed] == pytest.approx([t for t, _s, _r in explored], abs=0.2)
    # Its strict check ("no compute power outside P", no reaction time allowed) catches the unit's
    # reaction time at the shift done by hand: the verdict is about what was explored.
    (check,) = result.checks
    assert check.verdict == "FAIL" and check.violation_s == pytest.approx(15.0, abs=0.2)


def test_free_play_saves_the_default_bench_and_the_keys(tmp_path: Path) -> None:
    with BenchSession.open() as session:
        session.advance(2.0)
        session.toggle_plug()
        session.advance(2.0)
        saved = session.save_scenario(tmp_path / "free.toml")
    scenario = load_scenario(saved)
    assert scenario.initial == {} and scenario.checks == ()
    assert [(s.at_s, s.action) for s in scenario.steps] == [(2.0, "plug_in")]


def test_nothing_is_written_before_any_time_ran(tmp_path: Path) -> None:
    with BenchSession.open() as session, pytest.raises(ConfigError, match="duration"):
        session.save_scenario(tmp_path / "empty.toml")
    assert not (tmp_path / "empty.toml").exists()


def test_a_seeded_defect_the_session_ran_with_is_saved_for_the_replay(tmp_path: Path) -> None:
    from hilbench.scenarios import RunOptions

    with BenchSession.open(options=RunOptions(seed=7, dut_defect="ignore_gear")) as session:
        session.advance(2.0)
        saved = session.save_scenario(tmp_path / "defect.toml")
    scenario = load_scenario(saved)
    assert scenario.dut == {"defect": "ignore_gear"}
    assert "--seed 7" in scenario.description
