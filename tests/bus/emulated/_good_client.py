"""A well-behaved client in a process of its own: python-can's own ``socketcand`` or ``slcan`` interface.

    python _good_client.py '{"interface": "socketcand", "channel": "vcan0", "host": ..., "port": ...}' PINGS

Sends PINGS pings (0x7A0, data = the ping's number) one after the other, waits up to 3 s for each
pong (0x7A1, same data) while other traffic goes by, and prints one JSON line: pongs received and
the slowest round trip.
"""

from __future__ import annotations

import json
import sys
import time

import can

PING_ID, PONG_ID = 0x7A0, 0x7A1


def main() -> None:
    config = json.loads(sys.argv[1])
    pings = int(sys.argv[2])
    bus = can.Bus(**config)
    pongs = 0
    slowest_s = 0.0
    try:
        for number in range(pings):
            data = number.to_bytes(4, "big")
            sent_at = time.monotonic()
            bus.send(can.Message(arbitration_id=PING_ID, data=data, is_extended_id=False))
            while time.monotonic() - sent_at < 3.0:
                msg = bus.recv(0.1)
                if msg is not None and msg.arbitration_id == PONG_ID and bytes(msg.data) == data:
                    pongs += 1
                    slowest_s = max(slowest_s, time.monotonic() - sent_at)
                    break
    finally:
        bus.shutdown()
    print(json.dumps({"pongs": pongs, "slowest_s": round(slowest_s, 4)}), flush=True)


if __name__ == "__main__":
    main()
