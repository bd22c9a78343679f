"""One emulated server in a process of its own, for the fuzz tests: its RSS is then the server's alone.

    python _fuzz_server.py socketcand|slcan CHANNEL '{"write_timeout_s": 0.5}'

Prints one JSON line when it serves (``{"port": N}`` or ``{"path": "/dev/pts/N"}``), then answers
each line on stdin with one JSON line: ``stats`` (the server's counters, its RSS, the peer's count of
frames), ``markers`` (count and digest of the marker frames the peer heard since the last
``reset``) or ``reset``.  End of input stops it.  Warnings go to stderr, as the server logs them.

On the bridged virtual bus a peer stands in for the rest of the bus: it records the marker frames
(IDs 0x5A0..0x5AF, what the no-loss checks send) and answers each ping (0x7A0) with a pong (0x7A1)
carrying the same data, which is how a well-behaved client sees that it is still being answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading

import can

from hilbench.bus import BusConfig
from hilbench.bus.emulated import SlcanAdapter, SocketcandServer

MARKER_IDS = range(0x5A0, 0x5B0)
PING_ID, PONG_ID = 0x7A0, 0x7A1


def marker_key(msg: can.Message) -> str:
    """What must arrive unchanged of a marker frame (shared with the tests)."""
    data = "" if msg.is_remote_frame else bytes(msg.data).hex()
    return (f"{msg.arbitration_id:X}/{int(msg.is_extended_id)}{int(msg.is_remote_frame)}{int(msg.is_fd)}"
            f"{int(msg.bitrate_switch)}/{msg.dlc}/{data}")


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Peer(threading.Thread):
    """The rest of the bus: counts every frame, digests the markers, answers pings."""

    def __init__(self, channel: str) -> None:
        super().__init__(name="peer", daemon=True)
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.frames = 0
        self.pings = 0
        self._reset_markers()

    def _reset_markers(self) -> None:
        self.marker_count = 0
        self.marker_digest = hashlib.sha256()
        self.last_markers: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            msg = self.bus.recv(0.05)
            if msg is None:
                continue
            with self.lock:
                self.frames += 1
                if msg.arbitration_id in MARKER_IDS:
                    key = marker_key(msg)
                    self.marker_count += 1
                    self.marker_digest.update(key.encode() + b"\n")
                    self.last_markers = (self.last_markers + [key])[-5:]
            if msg.arbitration_id == PING_ID and not msg.is_extended_id and not msg.is_remote_frame:
                self.pings += 1
                self.bus.send(can.Message(arbitration_id=PONG_ID, data=msg.data, is_extended_id=False))

    def markers(self) -> dict:
        with self.lock:
            return {"count": self.marker_count, "digest": self.marker_digest.hexdigest(), "last": self.last_markers}

    def reset(self) -> dict:
        with self.lock:
            self._reset_markers()
        return {"reset": True}


def main() -> None:
    kind, channel = sys.argv[1], sys.argv[2]
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    bridge = BusConfig(interface="virtual", channel=channel)
    server = SocketcandServer({"vcan0": bridge}, **options) if kind == "socketcand" else SlcanAdapter(bridge, **options)
    peer = Peer(channel)
    with server:
        peer.start()
        print(json.dumps({"port": server.port} if kind == "socketcand" else {"path": server.slave_path}), flush=True)
        for command in sys.stdin:
            command = command.strip()
            if command == "markers":
                print(json.dumps(peer.markers()), flush=True)
            elif command == "reset":
                print(json.dumps(peer.reset()), flush=True)
            elif command == "stats":
                counters = {name: value for name, value in vars(server).items()
                            if isinstance(value, int) and not isinstance(value, bool) and not name.startswith("_")}
                counters.update(disconnected=dict(getattr(server, "disconnected", {})),
                                resets=dict(getattr(server, "resets", {})),
                                failure=repr(server.failure) if server.failure else None,
                                clients=getattr(server, "clients", None),
                                host_present=getattr(server, "host_present", None),
                                rss_kib=rss_kib(), peer_frames=peer.frames, pings=peer.pings)
                print(json.dumps(counters), flush=True)
        peer.stopping.set()
        peer.join()
        peer.bus.shutdown()


if __name__ == "__main__":
    main()
