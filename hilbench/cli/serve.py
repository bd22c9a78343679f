"""``hilbench serve --socketcand [HOST:]PORT``: a socketcand daemon, as its own process.

The first line on stdout is ``HOST:PORT CHANNEL``: connect python-can's
``socketcand`` interface (``host``, ``port`` and ``channel``), a lab tool or
``hilbench run --interface socketcand`` from another process.  It listens on
127.0.0.1 unless ``--allow-remote`` is given (socketcand has no authentication), and
sends no discovery beacon.  Behind it is a bench of its own in wall time
(``--emulate``: the BMS, VCU, charger and compute unit by default), or the python-can
bus given by ``--interface``/``--channel``.  Runs until Ctrl-C or SIGTERM (or
``--duration``), then says what crossed it.
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .commands import COMMANDS
from .far_side import add_far_side_options, exit_code, far_side, note, say
from .interrupts import Interrupts

NAME = "serve"
DEFAULT_PORT = 29536   # socketcand's own default


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socketcand", required=True, metavar="[HOST:]PORT",
                        help=f"where to listen (HOST 127.0.0.1 unless given; PORT 0 picks a free one; "
                             f"socketcand's usual port is {DEFAULT_PORT})")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a HOST beyond loopback: socketcand has no authentication, so only on an "
                             "isolated lab network")
    parser.add_argument("--bus-name", default="vcan0", metavar="NAME",
                        help="the channel clients open (default vcan0)")
    parser.add_argument("--classic", action="store_true", help="a classic-CAN bus: refuse CAN FD frames")
    add_far_side_options(parser)
    parser.set_defaults(func=run)


def listen_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` as (host, port).

    Raises:
        ConfigError: not a port number from 0 to 65535.
    """
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(None, "--socketcand", f"expected [HOST:]PORT with a port from 0 to 65535, got {text!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Run the socketcand daemon until stopped; 0 on a clean stop, 1 if its thread failed."""
    from ..bus.emulated import SocketcandServer

    host, port = listen_address(args.socketcand)
    with Interrupts() as interrupts:
        side = far_side(args)
        try:
            try:
                server = SocketcandServer({args.bus_name: side.bus}, host=host, port=port, fd=not args.classic,
                                          allow_remote=args.allow_remote)
            except ValueError as exc:
                option = "--bus-name" if "bus name" in str(exc) else "--socketcand"
                reason = str(exc).replace("(allow_remote,", "(--allow-remote,")
                raise ConfigError(None, option, reason) from None
            try:
                server.start()
            except OSError as exc:
                raise ConfigError(None, "--socketcand", f"cannot listen on {host}:{port}: "
                                                        f"{exc.strerror or exc}") from None
            try:
                say(f"{host}:{server.port} {args.bus_name}")
                note(f"serve: socketcand on {host}:{server.port}, channel {args.bus_name}, bridged to "
                     f"{side.description}; Ctrl-C to stop")
                side.run(args.duration, interrupts.stop, failed=lambda: server.failure)
                note(f"serve: stopped ({interrupts.reason or 'duration reached'}); {server.connections} "
                     f"connection(s), {server.disconnected.total()} closed by the server")
                failure = server.failure
            finally:
                server.stop()
        finally:
            side.close()
    return exit_code("server", failure)
