"""What the car asks of the unit and what the BMS limits it to reach the unit's Observation from the bus.

Each test builds its own bench (no shared session), so mutation testing credits it with the
calls it makes (docs/mutation.md, "The latest run").
"""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.dut.compute.supervisor import State
from hilbench.scenarios.actions import apply


def test_the_cars_no_compute_request_stops_the_unit_and_its_withdrawal_lets_it_run() -> None:
    with Bench(BenchConfig(soc_pct=70.0, keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        bench.run_for(5.0)
        assert dut.observation.compute_allowed is True
        assert dut.last_decision is not None and dut.last_decision.state is State.RUNNING
        apply(bench, "request_compute", {"on": False})
        bench.run_for(2.0)
        assert dut.observation.compute_allowed is False
        assert (dut.last_decision.state, dut.last_decision.reason) == (State.OFF, "NOT_REQUESTED")
        assert dut.unit.last is not None and dut.unit.last.power_w == 0.0
        apply(bench, "request_compute", {"on": True})
        bench.run_for(10.0)
        assert dut.observation.compute_allowed is True
        assert dut.last_decision.state is State.RUNNING


def test_the_bms_cell_voltage_limit_on_the_bus_is_the_one_the_unit_judges_by() -> None:
    with Bench(BenchConfig(soc_pct=70.0, keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        bench.run_for(5.0)
        sent = bench.monitor.latest["cell_voltage_min_limit_v"]
        assert isinstance(sent, float) and sent > 2.0
        assert dut.observation.cell_voltage_min_limit_v == pytest.approx(sent)
        assert dut.observation.min_cell_voltage_v == pytest.approx(bench.monitor.latest["min_cell_voltage_v"])


def test_the_observation_carries_the_units_own_power_and_junction() -> None:
    """The supervisor's charge-only rule weighs the unit's own draw: the Observation must hold what
    the unit drew in its last tick and its junction now, not a default."""
    with Bench(BenchConfig(soc_pct=70.0, keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        bench.run_for(5.0)
        obs = dut.observe()
        assert dut.unit.last is not None and dut.unit.last.power_w > 1.0
        assert obs.compute_power_w == dut.unit.last.power_w
        assert obs.junction_c == dut.unit.thermal.junction_c
        assert obs.junction_c != 25.0          # warmed by computing: not the field's default
