"""The ``simtime`` python-can interface: virtual CAN stamped with the bench clock."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

import can
import pytest

from hilbench.bus import BusConfig, open_bus
from hilbench.bus.simtime import DEFAULT_EPOCH_S, SimTimeBus, open_channels
from hilbench.clock import SimClock
from hilbench.errors import BusError


def _msg(arbitration_id: int = 0x123, data: bytes = b"\x01\x02", **kw) -> can.Message:
    return can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False, **kw)


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


def test_registered_as_a_python_can_interface_entry_point() -> None:
    eps = {ep.name: ep for ep in entry_points(group="can.interface")}
    assert "simtime" in eps
    assert eps["simtime"].load() is SimTimeBus


def test_can_bus_opens_it_by_name(clock) -> None:
    with can.Bus(interface="simtime", channel="t-open", clock=clock) as bus:
        assert isinstance(bus, SimTimeBus)
        assert open_channels() == {"t-open": 1}
    assert "t-open" not in open_channels()


def test_frames_get_simulated_timestamps(clock) -> None:
    with can.Bus(interface="simtime", channel="t-ts", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-ts", clock=clock, epoch_s=0.0) as rx_zero, \
            can.Bus(interface="simtime", channel="t-ts", clock=clock) as rx:
        clock.call_at(1.5, lambda: tx.send(_msg(0x10)))
        clock.call_at(2.25, lambda: tx.send(_msg(0x11)))
        clock.run_until(3.0)
        first, second = rx.recv(timeout=0), rx.recv(timeout=0)
        assert (first.arbitration_id, second.arbitration_id) == (0x10, 0x11)
        assert first.timestamp == DEFAULT_EPOCH_S + 1.5
        assert second.timestamp == DEFAULT_EPOCH_S + 2.25
        assert first.channel == "t-ts"
        # the sender's epoch stamps the frame, whatever the receiver's
        assert rx_zero.recv(timeout=0).timestamp == DEFAULT_EPOCH_S + 1.5

    with can.Bus(interface="simtime", channel="t-ts0", clock=clock, epoch_s=0.0) as tx, \
            can.Bus(interface="simtime", channel="t-ts0", clock=clock) as rx:
        tx.send(_msg())
        assert rx.recv(timeout=0).timestamp == clock.now == 3.0


def test_other_buses_receive_the_sender_does_not(clock) -> None:
    with can.Bus(interface="simtime", channel="t-rx", clock=clock) as a, \
            can.Bus(interface="simtime", channel="t-rx", clock=clock) as b, \
            can.Bus(interface="simtime", channel="t-rx", clock=clock) as c, \
            can.Bus(interface="simtime", channel="t-other", clock=clock) as elsewhere:
        a.send(_msg(0x1, b"\xAA"))
        for bus in (b, c):
            got = bus.recv(timeout=0)
            assert got.arbitration_id == 0x1 and bytes(got.data) == b"\xAA"
            assert bus.recv(timeout=0) is None
        assert a.recv(timeout=0) is None
        assert elsewhere.recv(timeout=0) is None


def test_receive_own_messages(clock) -> None:
    with can.Bus(interface="simtime", channel="t-own", clock=clock, receive_own_messages=True) as a, \
            can.Bus(interface="simtime", channel="t-own", clock=clock) as b:
        a.send(_msg(0x2))
        assert a.recv(timeout=0).arbitration_id == 0x2
        assert b.recv(timeout=0).arbitration_id == 0x2


def test_frames_arrive_in_send_order_and_recv_nowait_drains(clock) -> None:
    with can.Bus(interface="simtime", channel="t-order", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-order", clock=clock) as rx:
        for i in range(100):
            tx.send(_msg(i))
        assert rx.pending == 100
        got = []
        while (msg := rx.recv_nowait()) is not None:
            got.append(msg.arbitration_id)
        assert got == list(range(100))
        assert rx.pending == 0


def test_filters_apply_to_recv_and_recv_nowait(clock) -> None:
    filters = [{"can_id": 0x100, "can_mask": 0x7F0, "extended": False}]
    with can.Bus(interface="simtime", channel="t-filter", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-filter", clock=clock, can_filters=filters) as rx1, \
            can.Bus(interface="simtime", channel="t-filter", clock=clock) as rx2:
        rx2.set_filters([{"can_id": 0x200, "can_mask": 0x7FF}])
        for frame_id in (0x050, 0x101, 0x200, 0x10F, 0x300):
            tx.send(_msg(frame_id))
        got = []
        while rx1.pending:
            if (msg := rx1.recv(timeout=0)) is not None:
                got.append(msg.arbitration_id)
        assert got == [0x101, 0x10F]
        assert [m.arbitration_id for m in iter(rx2.recv_nowait, None)] == [0x200]
        assert rx2.pending == 0


def test_recv_timeout_zero_skips_filtered_frames_to_the_next_match(clock) -> None:
    """Regression: BusABC.recv(timeout=0) gave up at the first filtered-out frame."""
    with can.Bus(interface="simtime", channel="t-filter0", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-filter0", clock=clock,
                    can_filters=[{"can_id": 0x100, "can_mask": 0x7FF}]) as rx:
        tx.send(_msg(0x050))
        tx.send(_msg(0x100))
        got = rx.recv(timeout=0)
        assert got is not None and got.arbitration_id == 0x100


def test_fd_frames_pass_unchanged(clock) -> None:
    with can.Bus(interface="simtime", channel="t-fd", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-fd", clock=clock) as rx:
        assert tx.protocol is can.CanProtocol.CAN_FD
        tx.send(can.Message(arbitration_id=0x118, data=bytes(range(64)), is_fd=True, bitrate_switch=True,
                            is_extended_id=False))
        got = rx.recv(timeout=0)
        assert got.is_fd and got.bitrate_switch and bytes(got.data) == bytes(range(64))


def test_shutdown_removes_the_bus_and_sending_after_it_fails(clock) -> None:
    a = can.Bus(interface="simtime", channel="t-shut", clock=clock)
    b = can.Bus(interface="simtime", channel="t-shut", clock=clock)
    assert open_channels()["t-shut"] == 2
    b.shutdown()
    assert open_channels()["t-shut"] == 1
    a.send(_msg())                         # nobody left to hear it; not an error
    b.shutdown()                           # twice is harmless
    a.shutdown()
    assert "t-shut" not in open_channels()
    with pytest.raises(can.CanOperationError):
        a.send(_msg())


def test_missing_clock_is_a_clear_error() -> None:
    with pytest.raises(can.CanInitializationError, match="clock"):
        can.Bus(interface="simtime", channel="t-noclock")
    assert "t-noclock" not in open_channels()
    with pytest.raises(BusError, match=r"simtime.*clock"):
        open_bus(BusConfig(interface="simtime", channel="t-noclock"), clock=None)


def test_open_bus_passes_the_clock(clock) -> None:
    bus = open_bus(BusConfig(channel="t-openbus"), clock=clock)
    try:
        assert isinstance(bus, SimTimeBus)
    finally:
        bus.shutdown()


def test_recv_with_a_timeout_on_an_empty_bus_returns_none(clock) -> None:
    with can.Bus(interface="simtime", channel="t-empty", clock=clock) as bus:
        assert bus.recv(timeout=0) is None
        assert bus.recv(timeout=0.01) is None


def test_recv_without_timeout_on_an_empty_bus_does_not_hang(clock) -> None:
    """Regression: BusABC.recv(timeout=None) spun forever at 100 % CPU on an empty simtime bus.

    Run in a thread so that a regression fails this test instead of hanging the suite.
    """
    with can.Bus(interface="simtime", channel="t-hang", clock=clock) as rx, \
            can.Bus(interface="simtime", channel="t-hang", clock=clock) as tx:
        results: list = []
        worker = threading.Thread(target=lambda: results.append(rx.recv()), daemon=True)
        worker.start()
        worker.join(0.5)
        hung = worker.is_alive()
        if hung:
            tx.send(_msg())                # release the spinning thread
            worker.join(5.0)
        assert not hung, "bus.recv() with no timeout never returned on an empty simtime bus"


# ---------------------------------------------------------------- the leak check in tests/conftest.py

def test_leak_check_fails_a_test_that_leaves_a_bus_open(pytester) -> None:
    from pathlib import Path

    conftest = (Path(__file__).parents[1] / "conftest.py").read_text(encoding="utf-8")
    pytester.makeconftest(conftest.replace('pytest_plugins = ("pytester",)', ""))
    pytester.makepyfile(test_leaky="""
        import can
        from hilbench.clock import SimClock

        def test_leaks():
            can.Bus(interface="simtime", channel="leaky", clock=SimClock())

        def test_clean():
            with can.Bus(interface="simtime", channel="clean", clock=SimClock()):
                pass

        def test_after_leak_sees_no_leftovers():
            from hilbench.bus.simtime import open_channels
            assert "leaky" not in open_channels()
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test left simtime bus(es) open*leaky*"])
    assert "leaky" not in open_channels()


def test_exact_filters_drop_frames_at_delivery_and_filter_frames_already_waiting(clock) -> None:
    with can.Bus(interface="simtime", channel="t-accept", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-accept", clock=clock) as rx:
        tx.send(_msg(0x050))
        tx.send(_msg(0x100))
        rx.set_filters([{"can_id": 0x100, "can_mask": 0x7FF, "extended": False}])
        assert [m.arbitration_id for m in rx.queue] == [0x100]      # the waiting 0x050 is gone
        tx.send(_msg(0x050))
        tx.send(can.Message(arbitration_id=0x100, data=b"", is_extended_id=True))
        tx.send(_msg(0x100))
        assert rx.pending == 2      # neither 0x050 nor the extended 0x100 was queued
        rx.set_filters(None)
        tx.send(_msg(0x050))
        assert rx.pending == 3


def test_on_pending_fires_once_per_empty_to_waiting_transition(clock) -> None:
    with can.Bus(interface="simtime", channel="t-wake", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-wake", clock=clock) as rx:
        wakes = []
        rx.on_pending = lambda: wakes.append(rx.pending)
        tx.send(_msg(0x1))
        tx.send(_msg(0x2))
        assert wakes == [1]
        rx.recv_nowait()
        rx.recv_nowait()
        tx.send(_msg(0x3))
        assert wakes == [1, 1]


def test_exact_id_filters_follow_python_cans_rule_at_the_edges(clock) -> None:
    odd = [{"can_id": 0x923, "can_mask": 0x1FFFFFFF, "extended": False},   # an ID beyond 11 bits
           {"can_id": 0x123, "can_mask": 0x7FF, "extended": False}]
    with can.Bus(interface="simtime", channel="t-edge", clock=clock) as tx, \
            can.Bus(interface="simtime", channel="t-edge", clock=clock, can_filters=odd[:1]) as rx1, \
            can.Bus(interface="simtime", channel="t-edge", clock=clock, can_filters=odd[1:]) as rx2:
        frames = [_msg(0x123), can.Message(arbitration_id=0x923, data=b"", is_extended_id=False, check=False)]
        for frame in frames:
            tx.send(frame)
        for rx in (rx1, rx2):
            expected = [f.arbitration_id for f in frames if rx._matches_filters(f)]
            assert [m.arbitration_id for m in iter(rx.recv_nowait, None)] == expected
