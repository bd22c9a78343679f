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
from hilbench.dut.compute.supervisor import Supervisor
from hilbench.dut.compute.unit import ComputeUnit
from hilbench.dut.emulator import ComputeEmulator, reference_performance

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
    for soc in (50.0, 60.0, 50.0, 50.0, 60.0):
        msg = sender.encode({"soc_pct": soc})
        msg.timestamp = clock.epoch_s + clock.now
        port.queue.append(msg)
        emulator.tick()
        seen.append(emulator.inputs["soc_pct"])
    assert seen == pytest.approx([50.0, 60.0, 50.0, 50.0, 60.0])
    assert emulator.e2e_errors == 0 and emulator.decode_errors == 0
