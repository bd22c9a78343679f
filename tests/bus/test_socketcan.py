"""The bench on Linux SocketCAN (vcan0), in wall time; skipped where the kernel has no SocketCAN.

To run it on a Linux machine::

    sudo modprobe vcan
    sudo ip link add dev vcan0 type vcan && sudo ip link set up vcan0

Where SocketCAN is missing (containers without the ``can`` module, macOS,
Windows) the SLCAN and socketcand emulators (``test_slcan_adapter.py``,
``test_socketcand_server.py``) prove the same real-adapter path instead.
"""

from __future__ import annotations

import socket

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BusConfig

CHANNEL = "vcan0"


def _socketcan_unavailable() -> str | None:
    """Why the test cannot run here, or None if it can."""
    if not hasattr(socket, "AF_CAN"):
        return "this Python has no socket.AF_CAN (SocketCAN exists on Linux only), so vcan0 cannot be created"
    try:
        sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
    except OSError as exc:
        return (f"AF_CAN is unsupported by this kernel ({exc.strerror}), so vcan0 cannot be created; "
                "the SLCAN and socketcand emulator tests cover the real-adapter path instead")
    try:
        sock.bind((CHANNEL,))
    except OSError as exc:
        return (f"SocketCAN works but there is no {CHANNEL} interface ({exc.strerror}); create it with "
                f"'sudo ip link add dev {CHANNEL} type vcan && sudo ip link set up {CHANNEL}'")
    finally:
        sock.close()
    return None


UNAVAILABLE = _socketcan_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


def test_bench_runs_on_vcan0_in_wall_time() -> None:
    """Emulated BMS/VCU/OBC and the bundled compute unit on vcan0: every frame crosses the kernel."""
    peer = can.Bus(interface="socketcan", channel=CHANNEL)
    try:
        config = BenchConfig(bus=BusConfig(interface="socketcan", channel=CHANNEL),
                             emulate=frozenset({"bms", "vcu", "obc", "cu"}))
        with Bench(config) as bench:
            assert not bench.clock.is_simulated
            bench.clock.call_at(0.5, lambda: peer.send(
                can.Message(arbitration_id=0x7AB, data=b"\x01", is_extended_id=False)))
            bench.run_for(1.5)
            monitor = bench.monitor
        assert monitor.decode_errors == 0 and monitor.e2e_errors == 0
        pack = monitor.stats["BMS_PackStatus"]
        assert pack.count >= 0.8 * 1.5 / 0.02
        assert pack.mean_period_s == pytest.approx(0.02, rel=0.25)
        assert monitor.stats["CU_Status"].count >= 10             # the DUT heard the BMS and answered
        assert monitor.latest["cu_reason"] != "NO_DATA"
        assert monitor.unknown_ids == {0x7AB: 1}                   # a foreign node on the bus is seen
        heard = set()
        while (msg := peer.recv(0.0)) is not None:
            heard.add(msg.arbitration_id)
        assert {0x100, 0x400} <= heard                             # BMS_PackStatus and CU_Status on the wire
    finally:
        peer.shutdown()
