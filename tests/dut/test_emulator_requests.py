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


@pytest.mark.parametrize(("temp_c", "role"), [(-17.0, "under_temp_discharge"), (57.0, "over_temp_discharge")])
def test_the_bms_temperature_fault_levels_reach_the_observation(temp_c: float, role: str) -> None:
    """An NMC pack 3 C inside its discharge window's edge: the BMS warns on its own role, and the unit's
    Observation carries the level the supervisor judges cell temperature by."""
    with Bench(BenchConfig(chemistry="nmc", ambient_c=temp_c, pack_temp_c=temp_c, soc_pct=70.0,
                           keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        bench.run_for(3.0)
        assert bench.monitor.latest[role] == "WARNING"
        assert dut.observation.temp_fault_level == 1


def test_contactors_opened_by_the_bms_reach_the_observation() -> None:
    with Bench(BenchConfig(soc_pct=70.0, keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        bench.run_for(3.0)
        assert dut.observation.contactor_closed is True
        bench.bms.contactor_closed = False          # as after a hard-limit trip
        bench.run_for(1.0)
        assert bench.monitor.latest["contactor_state"] == "OPEN"
        assert dut.observation.contactor_closed is False


def test_before_any_frame_the_unit_sees_no_plug_and_no_open_contactor() -> None:
    """The Observation written from empty inputs: a plug never reported is absent, contactors never
    reported are taken as closed (the BMS says otherwise when they open)."""
    with Bench(BenchConfig(keep_traces=False)) as bench:
        dut = bench.dut
        assert dut is not None
        assert dut.observation.plug_present is False
        assert dut.observation.contactor_closed is True
        assert dut.observation.temp_fault_level == 0
