"""How the emulator takes frames into its inputs: the contract its per-tick shortcuts rest on.

``ComputeEmulator.observe`` skips merging a message's roles when the message
brought the very dict it merged last time, which is exact only while the codec
hands out a distinct, never-changed dict per distinct payload.  These tests
pin that contract down and check that inputs follow values that change and
change back (A -> B -> A), frame by frame.
"""

from __future__ import annotations

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.clock import SimClock
from hilbench.dut.compute.supervisor import Observation, Supervisor
from hilbench.dut.compute.unit import ComputeUnit
from hilbench.dut.emulator import ComputeEmulator, reference_performance
from hilbench.scenarios.actions import apply

PACK = "BMS_PackStatus"


class _FakePort:
    """Just enough of a BusPort: keeps the handlers, and poll() hands over queued frames."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[int, bool], list] = {}
        self.queue: list[can.Message] = []

    def subscribe(self, frame_id: int, handler, *, extended: bool = False) -> None:
        self.handlers.setdefault((frame_id, extended), []).append(handler)

    def poll(self, timeout_s: float = 0.0) -> int:
        queue, self.queue = self.queue, []
        for msg in queue:
            for handler in self.handlers.get((msg.arbitration_id, msg.is_extended_id), []):
                handler(msg)
        return len(queue)


@pytest.fixture(scope="module")
def codec():
    with Bench(BenchConfig()) as bench:
        return bench.codec


def test_codec_hands_out_a_distinct_unchanged_dict_per_distinct_payload(codec) -> None:
    sender = codec.fresh_sender(PACK)
    receiver = codec.message(PACK)
    first, _ = receiver.receive(sender.encode({"soc_pct": 50.0}).data)
    snapshot = dict(first)
    second, _ = receiver.receive(sender.encode({"soc_pct": 60.0}).data)
    assert second is not first
    assert first == snapshot, "a roles dict handed out earlier must never change"
    again, _ = receiver.receive(sender.encode({"soc_pct": 50.0}).data)
    assert again == snapshot


def test_inputs_follow_a_value_that_changes_and_changes_back(codec) -> None:
    clock = SimClock()
    port = _FakePort()
    perf, table = reference_performance()
    emulator = ComputeEmulator(codec, port, clock, ComputeUnit(perf, table=table),  # type: ignore[arg-type]
                               Supervisor(max_power_w=table.max_w))
    sender = codec.fresh_sender(PACK)
    seen = []
    for soc in (40.0, 40.0, 50.0, 60.0, 50.0, 50.0, 60.0):
        msg = sender.encode({"soc_pct": soc})
        msg.timestamp = clock.epoch_s + clock.now
        port.queue.append(msg)
        emulator.tick()
        seen.append(emulator.inputs.get("soc_pct"))
        clock.run_until(clock.now + sender.cycle_time_s)
    # The first two frames bring the E2E receiver through INIT; their data is not used.
    assert seen == pytest.approx([None, None, 50.0, 60.0, 50.0, 50.0, 60.0])
    assert emulator.e2e_errors == 0 and emulator.decode_errors == 0


def _observation_by_keyword(emulator: ComputeEmulator, fast: Observation) -> Observation:
    """The plain formulation of ``observe`` over the already merged ``inputs``: every field by keyword."""
    get = emulator.inputs.get
    levels = {"NONE": 0, "WARNING": 1, "STOP_REQUEST": 2, "HARD_LIMIT": 3}
    last = emulator.unit.last
    return Observation(
        now_s=emulator.clock.now,
        bms_fresh=fast.bms_fresh, vcu_fresh=fast.vcu_fresh, obc_fresh=fast.obc_fresh, e2e_ok=fast.e2e_ok,
        inputs_seen=fast.inputs_seen,
        gear=get("gear"),
        drive_requested=bool(get("drive_requested", 0)),
        compute_allowed=bool(get("compute_allowed", 1)),
        coolant_c=get("coolant_temp_c"),
        soc_pct=get("soc_pct"), reserve_soc_pct=get("range_reserve_soc_pct"),
        pack_voltage_v=get("pack_voltage_v"), pack_current_a=get("pack_current_a"),
        dcl_a=get("discharge_current_limit_a"),
        min_cell_voltage_v=get("min_cell_voltage_v"),
        cell_voltage_min_limit_v=get("cell_voltage_min_limit_v"),
        bms_fault_level=get("bms_fault_level"),
        temp_fault_level=max(levels.get(get("over_temp_discharge"), 0), levels.get(get("under_temp_discharge"), 0)),
        contactor_closed=get("contactor_state", "CLOSED") == "CLOSED",
        plug_present=bool(get("plug_present", 0)),
        cp_state=get("cp_state"),
        charge_power_w=get("charge_power_w") or 0.0,
        junction_c=emulator.unit.thermal.junction_c,
        compute_power_w=last.power_w if last else 0.0,
    )


def test_observe_equals_the_keyword_formulation_tick_by_tick() -> None:
    """observe passes the fields positionally and keeps the input part between merges: both must
    give what naming every field from the current inputs gives, through plugging in and a fault."""
    checked = 0
    with Bench(BenchConfig(soc_pct=60.0)) as bench:
        emulator = bench.dut
        assert emulator is not None
        plain_observe = emulator.observe

        def observe_and_compare() -> Observation:
            nonlocal checked
            fast = plain_observe()
            assert fast == _observation_by_keyword(emulator, fast)
            checked += 1
            return fast

        emulator.observe = observe_and_compare  # type: ignore[method-assign]
        bench.clock.call_at(5.0, lambda: apply(bench, "plug_in", {}))
        bench.clock.call_at(9.0, lambda: apply(bench, "set_cell_temps", {"value_c": 58.0}))
        bench.clock.call_at(12.0, lambda: apply(bench, "shift", {"gear": "D"}))
        bench.run_for(20.0)
    assert checked >= 190
