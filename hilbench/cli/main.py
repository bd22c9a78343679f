"""Entry point: parse the subcommand, run it, turn any bench error into one line and exit code 2.

As in cantools, each subcommand is its own small module and the traceback
of an expected error stays behind ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Iterable, Sequence

from ..errors import HilbenchError
from .commands import COMMANDS
from .interrupts import STOP_SIGNALS, Interrupts, sigterm_to_interrupt

#: Exit codes: 0 passed, 1 a verdict failed, 2 bad input (refused with file, entry and reason),
#: 3 an internal error (a bug: no input should ever reach one), 130 interrupted.
INTERNAL_ERROR = 3

#: Subcommands; each one's module is imported only when it runs (or for its --help), inside
#: main()'s start-up guard, which holds Ctrl-C as a flag while the bench, cantools and numpy load.
SUBCOMMANDS = tuple(COMMANDS)


#: What ``hilbench --help`` tells a test engineer (the module docstring is for whoever changes this file).
DESCRIPTION = """\
A hardware-in-the-loop bench for the compute unit of a parked, charging EV: emulated
BMS, VCU and charger nodes on CAN feed a compute unit that runs ONNX inference, and
scenario files check that it obeys the battery and the car (reserve, heat, gear, plug,
silent nodes). Runs in simulated time on virtual CAN, or on a real bus."""

EPILOG = """\
examples:
  hilbench run                         the bundled scenarios, simulated time
  hilbench run --seeds 0-19 -j 2 DIR   every scenario of DIR on 20 noise seeds
  hilbench tui SCENARIO                watch and steer a bench
  hilbench faults matrix               every E2E failure mode into every safety message

exit codes: 0 passed, 1 a verdict failed, 2 bad input (file, entry and reason are named),
3 an internal error (a bug; --debug shows the traceback), 130 interrupted.
'hilbench COMMAND --help' shows a command's options."""


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``hilbench`` parser.

    Args:
        commands: the subcommands whose modules are imported and whose options are parsed;
            the others are listed by name and help only.  None: every subcommand in full.
    """
    parser = argparse.ArgumentParser(prog="hilbench", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = set(SUBCOMMANDS if commands is None else commands)
    for name, help_line in COMMANDS.items():
        if name in wanted:
            importlib.import_module(f".{name.replace('-', '_')}", __package__).add_parser(sub)
        else:
            sub.add_parser(name, help=help_line)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first argument that is not an option), if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hilbench`` command line; returns the exit code instead of exiting.

    0 passed, 1 a verdict failed, 2 bad input, 3 an internal error (a bug), 130 interrupted; argparse
    itself exits 2 on a usage error.  Input errors are printed as ``error: ...`` without a traceback
    unless ``--debug`` is given.
    """
    with Interrupts() as start_up:   # a signal while the subcommands load is a flag, not a traceback
        arguments = sys.argv[1:] if argv is None else list(argv)
        command = command_of(arguments)
        parser = build_parser(() if command is None else (command,))
        args = parser.parse_args(arguments)
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    if start_up.requested:
        print(f"interrupted by {start_up.reason} during start-up: nothing ran", file=sys.stderr)
        return 130
    if args.command is None:
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, sigterm_to_interrupt)
    try:
        return int(args.func(args))
    except HilbenchError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc}\n"
              f"  this is a bug in hilbench, not in your input; rerun with --debug for the traceback and "
              f"report it", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        if argv is None:   # the process's own command is done: a signal on the way out is no traceback
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
