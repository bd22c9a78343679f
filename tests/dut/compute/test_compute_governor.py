"""Step-wise governor: one step per poll over the passive trip, hysteresis, hot, critical latch, budget."""

from __future__ import annotations

import itertools

import pytest

from hilbench.dut.compute import Governor, PowerLevel, PowerTable, ThermalTrips, TripPoint

P = PowerLevel


@pytest.fixture
def gov() -> Governor:
    return Governor(ThermalTrips(), poll_interval_s=1.0, levels=PowerTable())


def test_cool_unit_gets_what_it_asks(gov: Governor) -> None:
    assert gov.update(0.0, 60.0, 1000.0, P.P100) == P.P100
    assert gov.reason == "requested"
    assert gov.update(0.1, 60.0, 1000.0, P.P50) == P.P50


def test_steps_down_one_step_per_poll_over_passive(gov: Governor) -> None:
    levels = []
    now = 0.0
    for _ in range(60):  # 6 s of 0.1 s ticks at 97 C
        levels.append(gov.update(now, 97.0, 1000.0, P.P100))
        now = round(now + 0.1, 9)
    # polls at 0,1,2,3,4,5 s: P75, P50, P25, IDLE, then held at IDLE (max cooling state)
    assert levels[0] == P.P75
    assert levels[9] == P.P75 and levels[10] == P.P50
    assert levels[19] == P.P50 and levels[20] == P.P25
    assert levels[30] == P.IDLE and levels[59] == P.IDLE
    changes = sum(1 for a, b in itertools.pairwise(levels) if a != b)
    assert changes == 3
    assert gov.reason == "passive"


def test_resumes_only_below_trip_minus_hysteresis(gov: Governor) -> None:
    for t in range(3):  # three polls over the trip -> P25
        gov.update(float(t), 96.0, 1000.0, P.P100)
    assert gov.status.level == P.P25
    # Inside the hysteresis band (90 < T < 95): held, however long.
    for t in range(3, 13):
        assert gov.update(float(t), 92.0, 1000.0, P.P100) == P.P25
    # Below 90 C: back up one step per poll.
    got = [gov.update(float(t), 89.0, 1000.0, P.P100) for t in range(13, 18)]
    assert got == [P.P50, P.P75, P.P100, P.P100, P.P100]


def test_no_extra_steps_between_polls(gov: Governor) -> None:
    gov.update(0.0, 96.0, 1000.0, P.P100)
    for k in range(1, 10):
        assert gov.update(k * 0.1, 99.0, 1000.0, P.P100) == P.P75


def test_hot_trip_throttles_at_once(gov: Governor) -> None:
    gov.update(0.0, 80.0, 1000.0, P.P100)
    assert gov.update(0.1, 103.0, 1000.0, P.P100) == P.IDLE
    assert gov.reason == "hot"


def test_critical_switches_off_and_latches(gov: Governor) -> None:
    gov.update(0.0, 80.0, 1000.0, P.P100)
    assert gov.update(0.1, 108.0, 1000.0, P.P100) == P.OFF
    assert gov.reason == "critical"
    # Cooling below passive is not enough; the latch holds until critical - hysteresis (92 C).
    assert gov.update(5.0, 93.0, 1000.0, P.P100) == P.OFF
    assert gov.update(6.0, 91.0, 1000.0, P.P100) == P.IDLE  # resumes fully throttled
    assert gov.update(7.0, 80.0, 1000.0, P.P100) == P.P25  # then one step per poll
    assert gov.update(8.0, 80.0, 1000.0, P.P100) == P.P50


def test_budget_caps_the_level(gov: Governor) -> None:
    table = gov.levels
    assert gov.update(0.0, 50.0, table.watts(P.P50), P.P100) == P.P50
    assert gov.reason == "budget"
    assert gov.update(0.1, 50.0, table.watts(P.P50) - 0.1, P.P100) == P.P25
    assert gov.update(0.2, 50.0, table.idle_w, P.P100) == P.IDLE
    assert gov.update(0.3, 50.0, 0.0, P.P100) == P.OFF
    assert gov.update(0.4, 50.0, 1e9, P.P75) == P.P75


def test_tightest_constraint_wins(gov: Governor) -> None:
    for t in range(2):
        gov.update(float(t), 97.0, 1000.0, P.P100)  # thermal cap P50
    assert gov.update(2.05, 93.0, PowerTable().watts(P.P25), P.P100) == P.P25
    assert gov.reason == "budget"
    assert gov.update(2.1, 93.0, 1000.0, P.P100) == P.P50
    assert gov.reason == "passive"


def test_time_must_not_go_backwards(gov: Governor) -> None:
    gov.update(5.0, 50.0, 100.0, P.P100)
    with pytest.raises(ValueError, match="backwards"):
        gov.update(4.0, 50.0, 100.0, P.P100)


def test_trips_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="passive < hot < critical"):
        ThermalTrips(passive=TripPoint(110.0, 5.0))


def test_status_says_why_and_describes_the_decision_it_was_made_for(gov: Governor) -> None:
    assert gov.status is None and gov.reason == "requested"
    table = gov.levels
    steps = [
        ((0.0, 60.0, 1000.0, P.P100), "requested", "P100 as requested"),
        ((0.1, 60.0, table.watts(P.P50), P.P100), "budget", "budget 34.5 W caps at P50 (34.5 W)"),
        ((1.0, 97.0, 1000.0, P.P100), "passive", "passive trip: cooling state 1 caps at P75 (junction 97.0 C)"),
        ((1.1, 103.0, 1000.0, P.P100), "hot", "hot trip: cooling state 4 caps at IDLE (junction 103.0 C)"),
        (
            (1.2, 108.0, 1000.0, P.P100),
            "critical",
            "critical trip 107.0 C latched (junction 108.0 C); OFF until below 92.0 C",
        ),
    ]
    for (now_s, junction_c, budget_w, requested), reason, detail in steps:
        level = gov.update(now_s, junction_c, budget_w, requested)
        status = gov.status
        assert status is gov.status  # built once per decision
        assert (status.reason, status.detail) == (reason, detail)
        assert (status.now_s, status.junction_c, status.requested, status.level) == (
            now_s,
            junction_c,
            requested,
            level,
        )
        assert status.cooling_state == gov.cooling_state and status.critical_latched == gov.critical_latched
        assert gov.reason == reason
    assert gov.status.thermal_cap == P.OFF and gov.status.budget_cap == P.P100


def test_status_read_late_still_describes_its_own_update(gov: Governor) -> None:
    """The detail is built lazily, from the figures of the update it belongs to."""
    gov.update(0.0, 60.0, 20.0, P.P100)
    gov.update(0.1, 61.5, 25.0, P.P100)
    assert gov.status.detail == "budget 25.0 W caps at P25 (21.8 W)"
    assert gov.status.junction_c == 61.5
