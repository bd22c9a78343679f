"""Every check kind passes and fails on constructed traces, with the robustness sign and value.

A tiny fake monitor serves the traces (times and values per role, states for
enumerated roles), so each case states exactly what the bus carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from hilbench.scenarios.checks import TraceGrid, evaluate_check
from hilbench.scenarios.model import Check

GEARS = ("P", "R", "N", "D")


@dataclass
class _SignalMap:
    roles: dict[str, object]


@dataclass
class _Codec:
    signal_map: _SignalMap


@dataclass
class FakeMonitor:
    """What TraceGrid needs of a BusMonitor: ``trace``, ``states_of`` and the signal map's roles."""

    series: dict[str, tuple[list[float], list[float]]]
    states: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codec = _Codec(_SignalMap({name: None for name in self.series}))

    def trace(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        t, v = self.series[role]
        return np.asarray(t, dtype=float), np.asarray(v, dtype=float)

    def states_of(self, role: str) -> tuple[str, ...]:
        return self.states.get(role, ())


def periodic(duration_s: float, fn, period_s: float = 0.1) -> tuple[list[float], list[float]]:
    """Samples of ``fn(t)`` every ``period_s`` (a message at its cycle time)."""
    t = np.arange(0.0, duration_s + 1e-9, period_s)
    return list(t), [float(fn(x)) for x in t]


def grid_of(duration_s: float = 10.0, **series) -> TraceGrid:
    states = {"gear": GEARS}
    monitor = FakeMonitor({k: periodic(duration_s, fn) for k, fn in series.items()},
                          {k: v for k, v in states.items() if k in series})
    return TraceGrid(monitor, duration_s)


def check(kind: str, expr: str = "", **kw) -> Check:
    return Check(kind=kind, name=f"{kind} {expr}", expr=expr, **kw)


# -- always / never -------------------------------------------------------------------------
def test_always_passes_with_the_smallest_margin_as_robustness() -> None:
    grid = grid_of(soc_pct=lambda t: 30.0 - t)          # 30 % falling to 20 %
    result = evaluate_check(check("always", "soc_pct >= 15", unit="%"), grid)
    assert result.passed and result.verdict == "PASS"
    assert result.robustness == pytest.approx(5.0)       # 20 - 15 at the end
    assert result.violation_s is None


def test_always_fails_at_the_first_violation_with_negative_robustness() -> None:
    grid = grid_of(soc_pct=lambda t: 30.0 - t)
    result = evaluate_check(check("always", "soc_pct >= 25"), grid)
    assert not result.passed and result.verdict == "FAIL"
    assert result.violation_s == pytest.approx(5.1)      # 30 - 5.1 = 24.9 < 25: first grid point below
    assert result.robustness == pytest.approx(-5.0)      # worst: 20 - 25
    assert result.values["soc_pct"] == pytest.approx(24.9)


def test_never_with_an_enumerated_signal() -> None:
    grid = grid_of(compute_power_w=lambda t: 60.0 if t < 5 else 0.0, gear=lambda t: 0 if t < 4.95 else 3)
    ok = evaluate_check(check("never", "compute_power_w > 0 and gear != 'P'"), grid)
    # Passed, but only just: once gear leaves P the power sits exactly at the bound (0 W > 0 by 0).
    assert ok.passed and ok.robustness == pytest.approx(0.0)

    grid = grid_of(compute_power_w=lambda t: 60.0 if t < 6 else 0.0, gear=lambda t: 0 if t < 4.95 else 3)
    bad = evaluate_check(check("never", "compute_power_w > 0 and gear != 'P'"), grid)
    assert not bad.passed
    assert bad.violation_s == pytest.approx(5.0)
    assert bad.robustness == pytest.approx(-1.0)
    assert bad.values == {"compute_power_w": 60.0, "gear": "D"}


def test_from_and_until_bound_the_window() -> None:
    grid = grid_of(junction_temp_c=lambda t: 110.0 if t < 2 else 80.0)
    assert not evaluate_check(check("always", "junction_temp_c < 100"), grid).passed
    late = evaluate_check(check("always", "junction_temp_c < 100", from_s=2.0), grid)
    assert late.passed and late.robustness == pytest.approx(20.0)


def test_no_data_is_a_failure_not_a_pass() -> None:
    monitor = FakeMonitor({"soc_pct": ([], [])})
    result = evaluate_check(check("always", "soc_pct >= 0"), TraceGrid(monitor, 5.0))
    assert not result.passed and result.robustness is None
    assert "no data" in result.detail


# -- eventually / holds_for -------------------------------------------------------------------
def test_eventually_within_passes_and_fails() -> None:
    grid = grid_of(cu_power=lambda t: 0.0 if t < 1.5 else 60.0)
    ok = evaluate_check(check("eventually", "cu_power > 10", within_s=2.0), grid)
    assert ok.passed and ok.robustness == pytest.approx(50.0)
    assert "t=1.5" in ok.detail
    late = evaluate_check(check("eventually", "cu_power > 10", within_s=1.0), grid)
    assert not late.passed
    assert late.robustness == pytest.approx(-10.0)      # best it got within 1 s: 0 - 10
    assert late.violation_s == pytest.approx(1.0)


def test_holds_for_needs_one_unbroken_stretch() -> None:
    grid = grid_of(soc_pct=lambda t: 50.0 if 2.0 <= t < 5.0 else 10.0)
    ok = evaluate_check(check("holds_for", "soc_pct > 40", duration_s=2.5), grid)
    assert ok.passed and ok.robustness == pytest.approx(10.0)
    bad = evaluate_check(check("holds_for", "soc_pct > 40", duration_s=4.0), grid)
    assert not bad.passed and bad.robustness < 0


# -- response ----------------------------------------------------------------------------------
def test_response_answered_in_time() -> None:
    grid = grid_of(junction_temp_c=lambda t: 100.0 if t >= 3 else 60.0,
                   compute_power_w=lambda t: 25.0 if t >= 3.5 else 60.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0, unit="W"), grid)
    assert result.passed
    assert result.robustness == pytest.approx(5.0)


def test_response_too_slow_fails_at_the_trigger() -> None:
    grid = grid_of(junction_temp_c=lambda t: 100.0 if t >= 3 else 60.0,
                   compute_power_w=lambda t: 25.0 if t >= 5 else 60.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0), grid)
    assert not result.passed
    assert result.violation_s == pytest.approx(3.0)
    assert result.robustness == pytest.approx(-30.0)
    assert "not answered within 1 s" in result.detail


# -- VACUOUS: a check that tested nothing ------------------------------------------------------
def test_response_never_triggered_is_vacuous_and_fails_the_scenario() -> None:
    grid = grid_of(junction_temp_c=lambda t: 60.0 + t, compute_power_w=lambda t: 60.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0), grid)
    assert result.verdict == "VACUOUS" and result.vacuous
    assert not result.passed and not result.failed and result.fails_scenario
    assert result.robustness is None
    # How close the trigger came, and when: the hottest sample, 25 C short.
    assert "trigger never occurred" in result.detail and "t=10.0 s" in result.detail
    assert "robustness -25" in result.detail and result.values == {"junction_temp_c": 70.0}


def test_a_guard_may_say_vacuous_ok() -> None:
    grid = grid_of(junction_temp_c=lambda t: 60.0, compute_power_w=lambda t: 60.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0, vacuous_ok=True), grid)
    assert result.verdict == "PASS" and result.passed and result.vacuous and not result.fails_scenario
    assert 'allowed: vacuous = "ok"' in result.detail


def test_a_triggered_guard_is_judged_as_any_response() -> None:
    grid = grid_of(junction_temp_c=lambda t: 100.0 if t >= 3 else 60.0,
                   compute_power_w=lambda t: 25.0 if t >= 5 else 60.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0, vacuous_ok=True), grid)
    assert result.verdict == "FAIL" and not result.vacuous


def test_a_trigger_only_in_the_last_window_is_vacuous() -> None:
    grid = grid_of(junction_temp_c=lambda t: 100.0 if t >= 9.5 else 60.0, compute_power_w=lambda t: 0.0)
    result = evaluate_check(check("response", "compute_power_w <= 30", trigger="junction_temp_c > 95",
                                  within_s=1.0), grid)
    assert result.verdict == "VACUOUS"
    assert "trigger held only from t=9.5 s" in result.detail and "too late to judge" in result.detail


def test_eventually_whose_window_never_starts_is_vacuous() -> None:
    grid = grid_of(cu_power=lambda t: 60.0)
    after_end = evaluate_check(check("eventually", "cu_power > 10", from_s=12.0, within_s=1.0), grid)
    assert after_end.verdict == "VACUOUS" and "after the end of the run (10 s)" in after_end.detail
    after_until = evaluate_check(check("eventually", "cu_power > 10", from_s=6.0, until_s=5.0), grid)
    assert after_until.verdict == "VACUOUS" and "after the end of its until (5 s)" in after_until.detail
    guard = evaluate_check(check("eventually", "cu_power > 10", from_s=12.0, vacuous_ok=True), grid)
    assert guard.verdict == "PASS" and guard.vacuous


def test_eventually_cut_short_by_the_end_is_judged_on_what_it_saw() -> None:
    grid = grid_of(cu_power=lambda t: 0.0 if t < 9.5 else 60.0)
    seen = evaluate_check(check("eventually", "cu_power > 10", from_s=9.0, within_s=5.0), grid)
    assert seen.verdict == "PASS"
    grid = grid_of(cu_power=lambda t: 0.0)
    unseen = evaluate_check(check("eventually", "cu_power > 10", from_s=9.0, within_s=5.0), grid)
    assert unseen.verdict == "FAIL" and not unseen.vacuous


@pytest.mark.parametrize("kind", ["always", "never", "holds_for"])
def test_the_other_kinds_are_never_vacuous(kind: str) -> None:
    grid = grid_of(soc_pct=lambda t: 30.0)
    result = evaluate_check(check(kind, "soc_pct > 20", duration_s=1.0), grid)
    assert not result.vacuous and result.verdict in ("PASS", "FAIL")


# -- robustness of the expression language -------------------------------------------------------
@pytest.mark.parametrize(("expr", "robustness"), [
    ("soc_pct >= 20", 10.0),
    ("soc_pct <= 40", 10.0),
    ("soc_pct > 20 and soc_pct < 35", 5.0),       # and: the smaller margin
    ("soc_pct < 20 or soc_pct < 35", 5.0),        # or: the larger margin
    ("not soc_pct < 20", 10.0),
    ("soc_pct >= reserve + 5", 5.0),
    ("soc_pct == 30", 0.0),
])
def test_robustness_of_expressions(expr: str, robustness: float) -> None:
    grid = grid_of(soc_pct=lambda t: 30.0, reserve=lambda t: 20.0)
    result = evaluate_check(check("always", expr), grid)
    assert result.passed
    assert result.robustness == pytest.approx(robustness)


def test_a_bad_expression_fails_the_check_with_the_reason() -> None:
    result = evaluate_check(check("always", "soc >= 20"), grid_of(soc_pct=lambda t: 30.0))
    assert not result.passed and 'unknown signal "soc"' in result.detail
