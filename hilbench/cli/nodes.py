"""``hilbench nodes``: which nodes the bench plays and which it expects from outside, with their messages.

With a car's signal map (``--signal-map``), and ``--real NODE`` / ``--no-dut`` for the ECUs a
lab puts on the bus, it lists each node (BMS, VCU, charger, compute unit) as *emulated* or
*from outside*, and the messages, IDs and cycle times that node sends.  After a run, a node
expected from outside that sent none of them is named in a warning; the run never waits for it.
"""

from __future__ import annotations

import argparse

from .bus_options import EMULATED_NODES, BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS

NAME = "nodes"
TITLES = {"bms": "battery management (BMS)", "vcu": "vehicle control (VCU)", "obc": "on-board charger (OBC)",
          "cu": "compute unit (the DUT)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bus_options(parser)
    parser.add_argument("--real", action="append", default=[], choices=sorted(EMULATED_NODES), metavar="NODE",
                        help="a real ECU provides this node's frames (bms, vcu, obc, cu; repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table; 0."""
    bus = BusOptions.from_args(args)
    description = bus.load(real=args.real)
    print_warnings([*bus.notices, *description.warnings])
    emulate = bus.emulate(args.real)
    db, signal_map = description.db, description.signal_map
    print(f"bus: {bus.bus.interface} on {bus.bus.channel}")
    for node in ("bms", "vcu", "obc", "cu"):
        played = emulate is None or node in emulate
        print(f"\n{node:4s} {TITLES[node]}: {'emulated' if played else 'from outside (a real ECU)'}")
        names = signal_map.messages_of(node)
        if not names:
            print("     (no message of it in the signal map)")
        for name in names:
            message = db.get_message_by_name(name)
            cycle = f"{message.cycle_time} ms" if message.cycle_time else "on event"
            ident = f"0x{message.frame_id:08X}" if message.is_extended_frame else f"0x{message.frame_id:03X}"
            print(f"     {ident}  {name}  ({cycle}, {message.length} bytes{', FD' if message.is_fd else ''})")
    return 0
