"""open_port: the one place that knows how frames reach a handle in simulated and wall time."""

from __future__ import annotations

import itertools

import can

from hilbench.bus import BusConfig, open_port
from hilbench.clock import SimClock

_CHANNELS = itertools.count()


def _frame(value: int) -> can.Message:
    return can.Message(arbitration_id=0x123, data=bytes([value]), is_extended_id=False)


def test_on_the_simulated_time_bus_a_frame_is_handled_right_after_the_task_that_sent_it() -> None:
    clock = SimClock()
    config = BusConfig("simtime", f"open-port-{next(_CHANNELS)}")
    sender, receiver = open_port(config, clock), open_port(config, clock)
    try:
        seen: list[tuple[float, float]] = []     # (bench time when handled, frame time)
        receiver.subscribe(0x123, lambda msg: seen.append((clock.now, msg.timestamp - clock.epoch_s)))
        clock.call_at(0.25, lambda: sender.send(_frame(1)))
        clock.call_at(0.5, lambda: None)
        clock.run_until(1.0)
        assert seen == [(0.25, 0.25)]
    finally:
        sender.bus.shutdown()
        receiver.bus.shutdown()


def test_a_handle_polled_by_its_owner_sees_nothing_until_the_owner_polls() -> None:
    clock = SimClock()
    config = BusConfig("simtime", f"open-port-{next(_CHANNELS)}")
    sender, owned = open_port(config, clock), open_port(config, clock, polled_by_owner=True)
    try:
        seen: list[int] = []
        owned.subscribe(0x123, lambda msg: seen.append(msg.data[0]))
        clock.call_at(0.1, lambda: sender.send(_frame(1)))
        clock.call_at(0.2, lambda: sender.send(_frame(2)))
        clock.run_until(1.0)
        assert seen == []
        assert owned.poll() == 2
        assert seen == [1, 2]
    finally:
        sender.bus.shutdown()
        owned.bus.shutdown()


def test_on_python_cans_virtual_bus_in_simulated_time_frames_carry_the_bench_time() -> None:
    clock = SimClock()
    config = BusConfig("virtual", f"hilbench-open-port-{next(_CHANNELS)}")
    sender, receiver = open_port(config, clock), open_port(config, clock)
    try:
        seen: list[float] = []
        receiver.subscribe(0x123, lambda msg: seen.append(msg.timestamp - clock.epoch_s))
        clock.call_at(0.3, lambda: sender.send(_frame(1)))
        clock.call_at(0.7, lambda: sender.send(_frame(2)))
        clock.run_until(1.0)
        assert seen == [0.3, 0.7]
    finally:
        sender.bus.shutdown()
        receiver.bus.shutdown()
