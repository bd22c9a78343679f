"""The session the app drives, without Textual: time, queued edits, scenario steps, closing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.bus import simtime
from hilbench.errors import ConfigError
from tui.session import BenchSession, SessionClosed


def test_advance_moves_bench_time_by_the_duration(session: BenchSession) -> None:
    assert session.advance(0.0).now_s == 0.0
    assert session.advance(12.5).now_s == pytest.approx(12.5)
    assert session.advance(7.5).now_s == pytest.approx(20.0)


def test_edits_wait_for_the_next_advance_and_are_logged(session: BenchSession) -> None:
    session.advance(1.0)
    session.toggle_plug()
    assert not session.bench.evse.plugged_in          # queued, not applied yet
    snapshot = session.advance(0.0)
    assert snapshot.plugged_in
    session.cycle_gear()
    session.nudge_coolant(10.0)
    snapshot = session.advance(0.0)
    assert snapshot.gear == "D"
    assert session.bench.vehicle.coolant_c == pytest.approx(30.0)   # from ambient 20 C
    session.toggle_plug()
    session.cycle_gear()
    snapshot = session.advance(0.0)
    assert not snapshot.plugged_in and snapshot.gear == "P"
    assert [e.text for e in session.events] == ["plug in", "shift to D", "coolant 30 C", "unplug", "shift to P"]


def test_max_speed_runs_within_its_wall_budget(session: BenchSession) -> None:
    snapshot = session.advance(None, wall_budget_s=0.02)
    assert snapshot.now_s > 0.0


def test_scenario_steps_fire_and_advance_stops_at_the_end_once(short_scenario: Path) -> None:
    with BenchSession.open(short_scenario) as session:
        assert session.end_s == 40.0 and session.scenario is not None
        snapshot = session.advance(15.0)
        assert snapshot.plugged_in
        assert [(e.at_s, e.text) for e in session.events] == [(10.0, "step: plug in")]
        assert session.advance(100.0).now_s == pytest.approx(40.0)      # stops at the end
        assert session.advance(5.0).now_s == pytest.approx(45.0)          # then free play
        assert session.advance(None, wall_budget_s=0.01).now_s > 45.0


def test_a_bad_scenario_is_refused_before_a_bench_opens(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "bad"\nduration = "1h"\n\n[[steps]]\nat = "1s"\naction = "warp"\n')
    with pytest.raises(ConfigError, match="bad.toml"):
        BenchSession.open(bad)
    assert simtime.open_channels() == {}


def test_close_shuts_the_buses_once_and_stops_advancing() -> None:
    session = BenchSession.open()
    session.advance(1.0)
    session.close()
    session.close()
    assert session.closed
    assert simtime.open_channels() == {}
    with pytest.raises(SessionClosed):
        session.advance(1.0)
