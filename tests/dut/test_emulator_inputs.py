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


def _fresh_observation(emulator: ComputeEmulator, kept: Observation) -> Observation:
    """An Observation whose input fields are written afresh from the current ``inputs``, and the rest
    copied from the one ``observe`` keeps: what ``observe`` would give if it never skipped a rewrite."""
    fresh = Observation(now_s=kept.now_s, bms_fresh=kept.bms_fresh, vcu_fresh=kept.vcu_fresh,
                        obc_fresh=kept.obc_fresh, e2e_ok=kept.e2e_ok, junction_c=kept.junction_c,
                        compute_power_w=kept.compute_power_w)
    emulator._write_inputs(fresh)
    return fresh


def test_observe_equals_an_observation_written_afresh_tick_by_tick() -> None:
    """observe rewrites the input fields of the one Observation only after a merge that may have
    changed ``inputs``: it must always equal one written from every current input, through plugging
    in, a fault and a shift."""
    checked = 0
    with Bench(BenchConfig(soc_pct=60.0)) as bench:
        emulator = bench.dut
        assert emulator is not None
        plain_observe = emulator.observe

        def observe_and_compare() -> Observation:
            nonlocal checked
            kept = plain_observe()
            assert kept is emulator.observation
            assert kept == _fresh_observation(emulator, kept)
            checked += 1
            return kept

        emulator.observe = observe_and_compare  # type: ignore[method-assign]
        bench.clock.call_at(5.0, lambda: apply(bench, "plug_in", {}))
        bench.clock.call_at(9.0, lambda: apply(bench, "set_cell_temps", {"value_c": 58.0}))
        bench.clock.call_at(12.0, lambda: apply(bench, "shift", {"gear": "D"}))
        bench.run_for(20.0)
    assert checked >= 190


def test_observation_fields_are_named_and_slotted() -> None:
    """A misspelt field must fail, not become an attribute the supervisor never reads."""
    obs = Observation(now_s=0.0)
    with pytest.raises(AttributeError):
        obs.soc_percent = 50.0  # type: ignore[attr-defined]
