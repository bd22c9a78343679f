"""``hilbench record FILE --interface NAME --channel CHANNEL``: what a bus carries, to a file.

Every frame heard goes to FILE in python-can's format for its suffix (``.log`` candump,
``.blf``, ``.asc``, ``.csv``, ``.mf4`` with the ``mf4`` extra, ...) and, beside any format but
``.log``, to a candump ``.log`` primary flushed every 100 ms, so a killed recorder loses at most
that.  Runs for ``--duration`` seconds, or until Ctrl-C or SIGTERM; python-can's configuration
(``CAN_INTERFACE``, its config file) names the bus when the options do not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from .commands import COMMANDS
from .interrupts import Interrupts

NAME = "record"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, metavar="FILE", help="the recording; its suffix picks the format")
    parser.add_argument("--interface", metavar="NAME", help="python-can interface")
    parser.add_argument("--channel", metavar="CHANNEL", help="its channel")
    parser.add_argument("--bitrate", type=int, metavar="BPS", help="its bitrate")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Record until stopped; 0 when the recording ended cleanly."""
    from ..bus.player import record
    from .bus_options import BusOptions
    from .output_paths import check_writable

    if args.duration is not None and not args.duration > 0:
        raise ConfigError(None, "--duration", f"expected seconds > 0, got {args.duration}")
    options = BusOptions.from_values(lambda dest: getattr(args, dest, None))
    if not options.bus.needs_wall_time:
        raise ConfigError(None, "--interface", f"{options.bus.interface!r} is the bench's own simulated bus, which "
                                               "has nothing to hear from outside: name a real interface")
    check_writable(args.file, "FILE")
    for notice in options.notices:
        print(f"warning: {notice}")
    with Interrupts() as interrupts:
        heard = record(options.bus, args.file, duration_s=args.duration, stop=interrupts.stop)
    print(f"{heard} frame(s) recorded to {args.file}" + (f"; stopped by {interrupts.reason}"
                                                          if interrupts.requested else ""))
    return 0
