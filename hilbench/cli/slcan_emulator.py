"""``hilbench slcan-emulator``: an SLCAN (Lawicel) adapter on a pseudo-terminal, as its own process.

The first line on stdout is the port (``/dev/pts/N``): open it with python-can's
``slcan`` interface, a lab tool or ``hilbench run --interface slcan --channel
/dev/pts/N`` from another process, as a USB-CAN adapter's ``/dev/ttyACM0``.  Behind
the adapter is a bench of its own in wall time (``--emulate``: the BMS, VCU, charger and
compute unit by default), or the python-can bus given by ``--interface``/``--channel``.
Runs until Ctrl-C or SIGTERM (or ``--duration``), then says what crossed the adapter.
"""

from __future__ import annotations

import argparse

from .commands import COMMANDS
from .far_side import add_far_side_options, exit_code, far_side, note, say
from .interrupts import Interrupts

NAME = "slcan-emulator"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classic", action="store_true", help="a classic-CAN adapter: refuse CAN FD frames")
    add_far_side_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the SLCAN adapter until stopped; 0 on a clean stop, 1 if its thread failed."""
    from ..bus.emulated import SlcanAdapter

    with Interrupts() as interrupts:
        side = far_side(args)
        try:
            with SlcanAdapter(side.bus, fd=not args.classic) as adapter:
                say(adapter.slave_path)
                note(f"slcan-emulator: {adapter.slave_path} bridged to {side.description}; Ctrl-C to stop")
                side.run(args.duration, interrupts.stop, failed=lambda: adapter.failure)
                note(f"slcan-emulator: stopped ({interrupts.reason or 'duration reached'}); "
                     f"{adapter.frames_to_bus} frame(s) to the bus, {adapter.frames_to_host} to the host, "
                     f"{adapter.dropped_to_host} dropped, {adapter.errors} command(s) refused")
                failure = adapter.failure
        finally:
            side.close()
    return exit_code("adapter", failure)
