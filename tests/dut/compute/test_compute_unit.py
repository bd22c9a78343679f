"""The compute unit: both fidelities agree on tokens, energy is accounted, the governor protects it."""

from __future__ import annotations

import math

import pytest

from hilbench.dut.compute import ComputeUnit, InferenceEngine, PerformanceModel, PowerLevel, PowerTable, ThermalTrips
from hilbench.errors import ConfigError

P = PowerLevel
# A short mixed session: (level, seconds).
SESSION = [(P.P100, 0.3), (P.P25, 0.3), (P.P50, 0.2), (P.OFF, 0.1), (P.P75, 0.2)]
DT = 0.05


def _run(unit: ComputeUnit) -> list:
    results = []
    for level, seconds in SESSION:
        for _ in range(round(seconds / DT)):
            results.append(unit.tick(DT, level))
    return results


@pytest.mark.wall_clock
def test_real_and_model_fidelity_agree_within_5_percent(
    performance: PerformanceModel, engine: InferenceEngine, table: PowerTable
) -> None:
    model = ComputeUnit(performance, table=table, fidelity="model")
    real = ComputeUnit(performance, table=table, fidelity="real", engine=engine, request_tokens=64)
    _run(model)
    _run(real)
    print(f"tokens: model {model.tokens_total}, real {real.tokens_total}, requests {real.requests_started}")
    assert model.tokens_total > 1000
    assert real.requests_started > 0  # real inference ran
    assert abs(real.tokens_total - model.tokens_total) <= 0.05 * model.tokens_total
    assert real.energy_j_total == pytest.approx(model.energy_j_total)


def test_real_fidelity_follows_the_duty_cycle(
    performance: PerformanceModel, engine: InferenceEngine, table: PowerTable
) -> None:
    unit = ComputeUnit(performance, table=table, fidelity="real", engine=engine)
    tokens = [unit.tick(DT, P.P25).tokens for _ in range(8)]  # P25: duty 0.5, batch 1
    assert tokens[0::2] == [0, 0, 0, 0]
    assert all(t > 0 for t in tokens[1::2])


def test_model_fidelity_is_deterministic_and_fractional() -> None:
    perf = PerformanceModel.from_rates({P.P25: 0.3, P.P50: 1.0, P.P75: 2.0, P.P100: 2.5})
    unit = ComputeUnit(perf)
    counts = [unit.tick(1.0, P.P25).tokens for _ in range(10)]
    assert counts == [0, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    again = ComputeUnit(perf)
    assert [again.tick(1.0, P.P25).tokens for _ in range(10)] == counts


def test_energy_and_power_accounting(performance: PerformanceModel, table: PowerTable) -> None:
    unit = ComputeUnit(performance, table=table)
    off = unit.tick(2.0, P.OFF)
    assert (off.tokens, off.power_w, off.energy_j) == (0, 0.0, 0.0)
    idle = unit.tick(2.0, P.IDLE)
    assert idle.tokens == 0 and idle.power_w == table.idle_w and idle.energy_j == pytest.approx(2.0 * table.idle_w)
    full = unit.tick(2.0, "P100")
    assert full.power_w == table.watts(P.P100)
    assert full.tokens == math.floor(2.0 * performance.rate(P.P100) + 1e-9)
    assert unit.energy_j_total == pytest.approx(2.0 * (table.idle_w + table.watts(P.P100)))
    assert unit.tokens_total == full.tokens
    assert unit.now_s == pytest.approx(6.0)


def test_budget_from_the_supervisor_caps_power(performance: PerformanceModel, table: PowerTable) -> None:
    unit = ComputeUnit(performance, table=table)
    r = unit.tick(1.0, P.P100, budget_w=40.0)
    assert r.level == P.P50 and r.requested == P.P100 and r.reason == "budget"
    assert r.power_w <= 40.0


def test_hot_coolant_session_is_throttled_not_cooked() -> None:
    """An hour at P100 with 58 C coolant: the governor holds the junction near the passive trip."""
    perf = PerformanceModel.from_rates({P.P25: 5.0, P.P50: 10.0, P.P75: 15.0, P.P100: 20.0})
    unit = ComputeUnit(perf, coolant_c=58.0)
    trips = ThermalTrips()
    peak, reasons, levels = 0.0, set(), set()
    for _ in range(36_000):
        r = unit.tick(0.1, P.P100)
        peak = max(peak, r.junction_c)
        reasons.add(r.reason)
        levels.add(r.level)
    assert trips.passive.temp_c < peak < trips.hot.temp_c
    assert "passive" in reasons and P.OFF not in levels
    assert 0 < unit.tokens_total < 20.0 * 3600


def test_critical_junction_switches_the_unit_off(performance: PerformanceModel) -> None:
    unit = ComputeUnit(performance)
    unit.thermal.reset(108.0)
    r = unit.tick(0.1, P.P100)
    assert (r.level, r.reason, r.tokens, r.power_w) == (P.OFF, "critical", 0, 0.0)


def test_bad_configuration_is_refused(performance: PerformanceModel) -> None:
    with pytest.raises(ConfigError, match="needs an InferenceEngine"):
        ComputeUnit(performance, fidelity="real")
    with pytest.raises(ConfigError, match="expected one of real, model"):
        ComputeUnit(performance, fidelity="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dt_s"):
        ComputeUnit(performance).tick(-0.1, P.P50)
    with pytest.raises(ValueError, match="power level"):
        ComputeUnit(performance).tick(0.1, "P60")


def test_real_fidelity_turns_requests_over_inside_a_tick(engine: InferenceEngine, table: PowerTable) -> None:
    """12 decode steps due per tick at P100 (batch 4) against 5-step requests: 5 + 5 + 2, then 3 + 5 + 4."""
    batch = table.profile(P.P100).batch_size
    perf = PerformanceModel.from_rates({P.P50: 10.0 * table.profile(P.P50).batch_size, P.P100: 12 * batch / 0.1}, table)
    unit = ComputeUnit(perf, table=table, fidelity="real", engine=engine, request_tokens=5)
    assert unit.tick(0.1, P.P100).tokens == 12 * batch
    assert unit.requests_started == 3 * batch
    assert unit.tick(0.1, P.P100).tokens == 12 * batch
    assert unit.requests_started == 5 * batch
    assert unit._state is not None and unit._state.n_generated == 4 * batch
    unit.tick(0.1, P.P50)  # another batch size: the request in flight is dropped
    assert unit.requests_preempted == batch


def test_new_performance_applies_from_the_next_tick(table: PowerTable) -> None:
    unit = ComputeUnit(PerformanceModel.from_rates({P.P100: 10.0}, table), table=table)
    assert unit.tick(1.0, P.P100).tokens == 10
    unit.performance = PerformanceModel.from_rates({P.P100: 30.0}, PowerTable(max_w=90.0))
    r = unit.tick(1.0, P.P100)
    assert (r.tokens, r.power_w) == (30, 90.0)
