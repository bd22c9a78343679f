"""The thermal governor's rules at their trip points, both ways, and the budget cap at its edges.

Default trips (DOMAIN.md): passive 95 C (hysteresis 5), hot 102 C, critical 107 C (hysteresis 15);
one passive step per 1 s poll.  Default power table: IDLE 9 W, P25 21.75 W, P50 34.5 W,
P75 47.25 W, P100 60 W.  What ``mutmut run`` (docs/mutation.md) holds the governor to.
"""

from __future__ import annotations

import math

import pytest

from hilbench.dut.compute import Governor, PowerLevel, PowerTable, ThermalTrips, TripPoint

P = PowerLevel
BIG_W = 1000.0


@pytest.fixture
def gov() -> Governor:
    return Governor()


def run(gov: Governor, temps: list[float], *, tick_s: float = 1.0, budget_w: float = BIG_W,
        requested: PowerLevel = P.P100) -> list[tuple[PowerLevel, str]]:
    out = []
    for i, temp in enumerate(temps):
        level = gov.update(round(i * tick_s, 9), temp, budget_w, requested)
        out.append((level, gov.reason))
    return out


# -- construction ----------------------------------------------------------------------------

@pytest.mark.parametrize(("temp", "hysteresis"), [(math.nan, 5.0), (math.inf, 5.0), (95.0, math.nan),
                                                  (95.0, math.inf), (95.0, -0.1)])
def test_a_trip_point_needs_finite_figures_and_a_hysteresis_not_below_zero(temp: float, hysteresis: float) -> None:
    with pytest.raises(ValueError, match="trip point: expected finite temp and hysteresis >= 0"):
        TripPoint(temp, hysteresis)


def test_a_trip_point_may_have_no_hysteresis() -> None:
    assert TripPoint(95.0, 0.0).hysteresis_c == 0.0


@pytest.mark.parametrize(("passive", "hot", "critical"), [(102.0, 102.0, 107.0), (95.0, 107.0, 107.0),
                                                           (103.0, 102.0, 107.0), (95.0, 108.0, 107.0)])
def test_trips_must_rise_strictly(passive: float, hot: float, critical: float) -> None:
    with pytest.raises(ValueError, match=f"expected passive < hot < critical, got {passive}, {hot}, {critical}"):
        ThermalTrips(TripPoint(passive, 5.0), TripPoint(hot, 2.0), TripPoint(critical, 15.0))


@pytest.mark.parametrize("poll_s", [0.0, -1.0, math.nan, math.inf])
def test_the_poll_interval_must_be_a_positive_number(poll_s: float) -> None:
    with pytest.raises(ValueError, match=f"poll_interval_s: expected > 0, got {poll_s}"):
        Governor(poll_interval_s=poll_s)


def test_defaults_and_given_parts_are_used() -> None:
    gov = Governor()
    assert gov.trips == ThermalTrips() and gov.levels == PowerTable() and gov.poll_interval_s == 1.0
    assert (gov.cooling_state, gov.critical_latched, gov.reason, gov.status) == (0, False, "requested", None)
    assert gov.thermal_cap is P.P100
    trips = ThermalTrips(TripPoint(70.0, 5.0), TripPoint(80.0, 2.0), TripPoint(90.0, 10.0))
    table = PowerTable(max_w=100.0, idle_w=10.0)
    gov = Governor(trips, poll_interval_s=2, levels=table)
    assert gov.trips is trips and gov.levels is table
    assert gov.poll_interval_s == 2.0 and type(gov.poll_interval_s) is float
    assert gov.update(0.0, 70.0, BIG_W, P.P100) == P.P75          # its own passive trip
    assert gov.update(1.9, 71.0, BIG_W, P.P100) == P.P75          # its own poll interval
    assert gov.update(2.0, 71.0, BIG_W, P.P100) == P.P50
    assert gov.update(2.1, 71.0, 55.0, P.P100) == P.P50           # its own table: P50 = 55 W
    assert gov.update(2.2, 71.0, 54.9, P.P100) == P.P25


# -- inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("now_s", "junction_c", "budget_w"), [(math.nan, 50.0, 10.0), (math.inf, 50.0, 10.0),
                                                               (0.0, math.nan, 10.0), (0.0, 50.0, math.nan)])
def test_inputs_must_be_numbers(gov: Governor, now_s: float, junction_c: float, budget_w: float) -> None:
    with pytest.raises(ValueError, match=f"governor inputs must be numbers, got now_s={now_s}, "
                                         f"junction_c={junction_c}, budget_w={budget_w}"):
        gov.update(now_s, junction_c, budget_w, P.P100)


def test_infinite_readings_are_judged_not_refused(gov: Governor) -> None:
    assert gov.update(0.0, 50.0, math.inf, P.P100) == P.P100
    assert gov.update(0.1, math.inf, math.inf, P.P100) == P.OFF
    assert gov.update(0.2, -math.inf, -math.inf, P.P100) == P.OFF   # latched; and no budget


def test_time_may_stand_still_but_not_go_back(gov: Governor) -> None:
    gov.update(5.0, 50.0, BIG_W, P.P100)
    assert gov.update(5.0, 50.0, BIG_W, P.P100) == P.P100
    with pytest.raises(ValueError, match=r"now_s went backwards: 4\.5 < 5\.0"):
        gov.update(4.5, 50.0, BIG_W, P.P100)


def test_a_level_given_as_a_number_comes_back_as_a_level(gov: Governor) -> None:
    level = gov.update(0.0, 50.0, BIG_W, 4)   # type: ignore[arg-type]
    assert type(level) is PowerLevel and level.name == "P75"
    assert type(gov.status.requested) is PowerLevel


# -- the trips, both ways ----------------------------------------------------------------------

def test_the_junction_through_every_trip_and_back(gov: Governor) -> None:
    temps = [90, 94, 95, 96, 99, 102, 104, 107, 110, 100, 95, 93, 92, 91.9, 91, 90, 89.9, 89, 85, 80, 80]
    expected = [
        (P.P100, "requested"), (P.P100, "requested"),                 # below the passive trip
        (P.P75, "passive"), (P.P50, "passive"), (P.P25, "passive"),   # one step per poll from 95 C
        (P.IDLE, "hot"), (P.IDLE, "hot"),                             # 102 C: all the way at once
        (P.OFF, "critical"), (P.OFF, "critical"), (P.OFF, "critical"),  # 107 C: off, latched ...
        (P.OFF, "critical"), (P.OFF, "critical"), (P.OFF, "critical"),  # ... down to 92 C inclusive
        (P.IDLE, "passive"),                                          # below 92 C: back, fully throttled
        (P.IDLE, "passive"), (P.IDLE, "passive"),                     # held down to 90 C inclusive
        (P.P25, "passive"), (P.P50, "passive"), (P.P75, "passive"),   # below 90 C: one step up per poll
        (P.P100, "requested"), (P.P100, "requested"),
    ]
    assert run(gov, temps) == expected


def test_the_passive_trip_is_inclusive_and_its_release_strict(gov: Governor) -> None:
    assert run(gov, [94.99, 95.0]) == [(P.P100, "requested"), (P.P75, "passive")]
    gov = Governor()
    assert run(gov, [95.0, 90.0, 90.0, 89.999]) == [(P.P75, "passive")] * 3 + [(P.P100, "requested")]


def test_the_hot_trip_is_inclusive(gov: Governor) -> None:
    assert gov.update(0.0, 101.99, BIG_W, P.P100) == P.P75
    assert gov.update(0.1, 102.0, BIG_W, P.P100) == P.IDLE and gov.reason == "hot"
    assert gov.cooling_state == 4


def test_after_a_hot_spell_the_throttle_is_passive_and_comes_off_step_by_step(gov: Governor) -> None:
    assert run(gov, [103.0, 100.0, 89.0, 89.0]) == [(P.IDLE, "hot"), (P.IDLE, "passive"), (P.P25, "passive"),
                                                    (P.P50, "passive")]


def test_the_critical_trip_is_inclusive_and_its_release_strict(gov: Governor) -> None:
    assert gov.update(0.0, 106.99, BIG_W, P.P100) == P.IDLE
    assert gov.update(0.1, 107.0, BIG_W, P.P100) == P.OFF and gov.critical_latched
    assert gov.update(0.2, 92.0, BIG_W, P.P100) == P.OFF
    assert gov.update(0.3, 91.99, BIG_W, P.P100) == P.IDLE and gov.critical_latched is False
    assert gov.status.critical_latched is False


def test_leaving_critical_waits_a_full_poll_before_the_first_step_up(gov: Governor) -> None:
    gov.update(0.0, 108.0, BIG_W, P.P100)
    gov.update(5.0, 80.0 + 15.0, BIG_W, P.P100)          # a poll at 5.0, still latched
    assert gov.update(5.5, 80.0, BIG_W, P.P100) == P.IDLE  # released between polls
    assert gov.update(6.0, 80.0, BIG_W, P.P100) == P.IDLE  # the poll due at 6.0 waits for 6.5
    assert gov.update(6.4, 80.0, BIG_W, P.P100) == P.IDLE
    assert gov.update(6.5, 80.0, BIG_W, P.P100) == P.P25


def test_a_critical_latch_is_reported_whatever_was_requested(gov: Governor) -> None:
    assert gov.update(0.0, 108.0, BIG_W, P.OFF) == P.OFF and gov.reason == "critical"


def test_the_cooling_state_stays_within_its_range(gov: Governor) -> None:
    run(gov, [99.0] * 8)
    assert gov.cooling_state == 4 and gov.thermal_cap is P.IDLE
    gov.update(8.0, 60.0, BIG_W, P.P100)
    assert gov.cooling_state == 3
    for t in range(9, 16):
        gov.update(float(t), 60.0, BIG_W, P.P100)
    assert gov.cooling_state == 0 and gov.thermal_cap is P.P100


def test_a_poll_is_due_a_rounding_error_early(gov: Governor) -> None:
    # 1.4 - 0.4 is 0.9999999999999999 in floating point: still a full poll.
    assert gov.update(0.4, 96.0, BIG_W, P.P100) == P.P75
    assert gov.update(1.39, 96.0, BIG_W, P.P100) == P.P75
    assert gov.update(1.4, 96.0, BIG_W, P.P100) == P.P50


def test_a_poll_is_due_one_nanosecond_early_and_not_before(gov: Governor) -> None:
    assert gov.update(0.0, 96.0, BIG_W, P.P100) == P.P75
    assert gov.update(0.999999998, 96.0, BIG_W, P.P100) == P.P75
    assert gov.update(0.999999999, 96.0, BIG_W, P.P100) == P.P50


def test_the_thermal_cap_is_off_while_latched(gov: Governor) -> None:
    gov.update(0.0, 108.0, BIG_W, P.P100)
    assert gov.thermal_cap is P.OFF and gov.status.thermal_cap is P.OFF


# -- the budget ------------------------------------------------------------------------------

def test_the_budget_cap_at_each_levels_exact_draw(gov: Governor) -> None:
    table = gov.levels
    for i, level in enumerate([P.IDLE, P.P25, P.P50, P.P75, P.P100]):
        w = table.watts(level)
        assert gov.update(0.1 * i, 50.0, w, P.P100) == level
        # within a nanowatt of a level is that level (the figures are sums of floats) ...
        assert gov.update(0.1 * i, 50.0, w - 1e-9, P.P100) == level
        # ... further below is the level under it.
        assert gov.update(0.1 * i, 50.0, w - 2e-9, P.P100) == P(level - 1)
    assert gov.update(1.0, 50.0, -5.0, P.P100) == P.OFF and gov.reason == "budget"
    assert gov.update(1.0, 50.0, 1e9, P.P100) == P.P100 and gov.reason == "requested"


def test_a_new_power_table_takes_effect_at_the_next_update_and_status_keeps_the_old(gov: Governor) -> None:
    gov.update(0.0, 50.0, 40.0, P.P100)
    assert gov.status.detail == "budget 40.0 W caps at P50 (34.5 W)"
    gov.update(0.1, 50.0, 40.0, P.P100)
    gov.levels = PowerTable(max_w=100.0, idle_w=20.0)                 # P25 = 40 W, P50 = 60 W
    assert gov.status.detail == "budget 40.0 W caps at P50 (34.5 W)"   # described with its own table
    assert gov.update(0.2, 50.0, 40.0, P.P100) == P.P25
    assert gov.status.detail == "budget 40.0 W caps at P25 (40.0 W)"


def test_when_heat_and_budget_cap_alike_the_heat_is_the_reason(gov: Governor) -> None:
    run(gov, [96.0, 96.0])                                            # cooling state 2: P50
    assert gov.update(2.5, 93.0, gov.levels.watts(P.P50), P.P100) == P.P50
    assert gov.reason == "passive"
    assert gov.status.detail == "passive trip: cooling state 2 caps at P50 (junction 93.0 C)"
    assert gov.update(2.6, 93.0, gov.levels.watts(P.P25), P.P100) == P.P25 and gov.reason == "budget"
    assert gov.update(2.7, 93.0, BIG_W, P.P25) == P.P25 and gov.reason == "requested"


def test_status_carries_every_figure_of_its_update(gov: Governor) -> None:
    gov.update(0.0, 97.0, 30.0, P.P75)
    s = gov.status
    assert (s.now_s, s.junction_c, s.requested, s.level) == (0.0, 97.0, P.P75, P.P25)
    assert (s.thermal_cap, s.budget_cap, s.cooling_state, s.critical_latched) == (P.P75, P.P25, 1, False)
    assert (s.reason, s.detail) == ("budget", "budget 30.0 W caps at P25 (21.8 W)")
    gov.update(0.1, 103.0, 30.0, P.P100)
    s = gov.status
    assert (s.now_s, s.junction_c, s.requested, s.level, s.thermal_cap, s.budget_cap) == (
        0.1, 103.0, P.P100, P.IDLE, P.IDLE, P.P25)
    assert (s.cooling_state, s.critical_latched, s.reason) == (4, False, "hot")
    assert s.detail == "hot trip: cooling state 4 caps at IDLE (junction 103.0 C)"
    gov.update(0.2, 107.0, 30.0, P.P100)
    s = gov.status
    assert (s.level, s.thermal_cap, s.critical_latched, s.reason) == (P.OFF, P.OFF, True, "critical")
    assert s.detail == "critical trip 107.0 C latched (junction 107.0 C); OFF until below 92.0 C"
