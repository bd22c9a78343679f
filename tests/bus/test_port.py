"""BusPort on a real (wall-time) python-can interface: what a third-party interface may hand over."""

from __future__ import annotations

import can
import pytest

from hilbench.bus.port import BusPort


@pytest.mark.parametrize("extended_flag", [None, 0, False])
def test_a_frame_whose_extended_flag_is_not_a_bool_still_reaches_its_standard_id_handler(extended_flag) -> None:
    # python-can's own backends pass bools, but a plugin may pass 0 or None; the port looks
    # handlers up by the flag, so it must not crash the run or lose the frame.
    channel = "hilbench-port-test"
    sender = can.Bus(interface="virtual", channel=channel)
    receiver = can.Bus(interface="virtual", channel=channel)
    try:
        port = BusPort(receiver)
        seen: list[can.Message] = []
        port.subscribe(0x100, seen.append)
        msg = can.Message(arbitration_id=0x100, data=b"\x01\x02", is_extended_id=False)
        msg.is_extended_id = extended_flag
        sender.send(msg)
        assert port.poll(timeout_s=1.0) == 1
        assert [m.arbitration_id for m in seen] == [0x100]
        assert port.unhandled == 0
    finally:
        sender.shutdown()
        receiver.shutdown()
