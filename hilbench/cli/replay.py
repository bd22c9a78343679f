"""``hilbench replay FILE``: a recording into a fresh compute unit, or onto a bus as a node.

Into the unit (the default): the BMS, VCU and charger frames of FILE are sent at their
recorded times, in simulated time as fast as the machine goes, to a new emulated compute
unit; the unit's status frames in FILE are compared with what it decides.  Exit 0 when the
replay is clean (no stop for a stale or failing input, no E2E error, every recorded status
frame matched), 1 otherwise; ``--digest`` prints the SHA-256 over every decision, the same on
every run of the same file.

Onto a bus (``--interface``/``--channel``): FILE's frames go out in wall time at their
recorded spacing divided by ``--speed``, only those of ``--ids`` or ``--node`` if given, for
a real ECU to hear.  Exit 0 when every frame was sent.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import ConfigError
from .commands import COMMANDS
from .interrupts import Interrupts

NAME = "replay"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, metavar="FILE", help="a recording (.log, .blf, .asc, ... by suffix)")
    unit = parser.add_argument_group("into a fresh compute unit (the default)")
    unit.add_argument("--epoch", type=float, metavar="S",
                      help="the recorded session's time zero, Unix s (default: the bench's own)")
    unit.add_argument("--seed", type=int, default=0, help="the unit's noise seed (default 0)")
    unit.add_argument("--digest", action="store_true", help="print the SHA-256 over every decision")
    bus = parser.add_argument_group("onto a bus, as a node")
    bus.add_argument("--interface", metavar="NAME", help="python-can interface to play onto (wall time)")
    bus.add_argument("--channel", metavar="CHANNEL", help="its channel")
    bus.add_argument("--bitrate", type=int, metavar="BPS", help="its bitrate")
    bus.add_argument("--speed", type=float, default=1.0, help="x N the recorded pace (default 1)")
    bus.add_argument("--ids", metavar="ID,...", help="only these arbitration IDs (hex 0x100 or decimal)")
    bus.add_argument("--node", metavar="NODE", help="only the messages this node sends in the bench's signal map "
                                                      "(bms, vcu, obc, cu)")
    parser.set_defaults(func=run)


def _ids(text: str) -> frozenset[int]:
    try:
        return frozenset(int(part, 0) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(None, "--ids", f"expected IDs such as 0x100,0x110, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Replay into the unit or onto the bus; 0 clean / all sent, 1 otherwise."""
    if not args.file.is_file():
        raise ConfigError(args.file, None, "no such recording")
    if args.interface is None:
        for option in ("channel", "bitrate", "ids", "node"):
            if getattr(args, option) is not None:
                raise ConfigError(None, f"--{option}", "plays onto a bus: give --interface and --channel too")
        if args.speed != 1.0:
            raise ConfigError(None, "--speed", "plays onto a bus: the replay into a unit runs in simulated time")
        return _into_unit(args)
    for option, given in (("epoch", args.epoch is not None), ("seed", args.seed != 0), ("digest", args.digest)):
        if given:
            raise ConfigError(None, f"--{option}", "is for the replay into a fresh unit, not for one onto a bus")
    return _onto_bus(args)


def _into_unit(args: argparse.Namespace) -> int:
    from ..bench import session_epoch_s
    from ..bus.recorder import primary_log_path, read_recording
    from ..dut.replay import replay

    epoch_s = session_epoch_s() if args.epoch is None else args.epoch
    path = args.file
    primary = primary_log_path(path)
    if path.suffix.lower() != ".log" and primary.is_file():
        path = primary   # the candump primary beside it keeps absolute times (python-can's ASC reader does not)
    first = next(read_recording(path), None)
    if first is None:
        raise ConfigError(path, None, "holds no frame to replay")
    offset_s = first.timestamp - epoch_s
    if not 0.0 <= offset_s <= 86_400.0:
        raise ConfigError(path, "--epoch", f"its first frame is {offset_s:+.1f} s from the epoch {epoch_s:.1f}: "
                                           "give the recorded session's time zero with --epoch (a bench's "
                                           "recordings start at its own; times relative to the file start do not)")
    result = replay(path, epoch_s=epoch_s, seed=args.seed, keep=False)
    print(result.summary())
    if args.digest:
        print(f"decisions sha256 {result.digest}")
    for line in result.first_disagreements:
        print(f"  disagrees: {line}")
    clean = (result.e2e_stops == 0 and result.e2e_errors == 0 and result.disagreements == 0 and result.frames > 0
             and result.status_frames > 0)
    print("clean replay" if clean else "NOT clean: " + ", ".join(
        what for what, bad in (("no frame replayed", result.frames == 0),
                               ("no status frame of the recorded unit to compare with", result.status_frames == 0),
                               (f"{result.e2e_stops} E2E stops",
                               result.e2e_stops), (f"{result.e2e_errors} E2E errors", result.e2e_errors),
                               (f"{result.disagreements} status frames disagree", result.disagreements)) if bad))
    return 0 if clean else 1


def _onto_bus(args: argparse.Namespace) -> int:
    from ..bus import load_bus_description
    from ..bus.frames import Frame
    from ..bus.open import BusConfig
    from ..bus.player import play

    if args.channel is None:
        raise ConfigError(None, "--interface", f"{args.interface} needs --channel")
    if not (args.speed > 0 and math.isfinite(args.speed)):
        raise ConfigError(None, "--speed", f"expected a finite factor > 0, got {args.speed}")
    if args.interface in ("simtime", "virtual"):
        raise ConfigError(None, "--interface", f"{args.interface!r} is a bus inside this process, which nothing "
                                               "outside hears: name a real interface")
    wanted: set[tuple[int, bool]] | None = None
    ids = _ids(args.ids) if args.ids else None
    if args.node is not None:
        description = load_bus_description()
        names = description.signal_map.messages_of(args.node)
        if not names:
            raise ConfigError(None, "--node", f"the signal map gives {args.node!r} no message; try bms, vcu, obc, cu")
        messages = [description.db.get_message_by_name(name) for name in names]
        wanted = {(m.frame_id, m.is_extended_frame) for m in messages}

    def keep(msg: Frame) -> bool:
        if ids is not None and msg.arbitration_id not in ids:
            return False
        return wanted is None or (msg.arbitration_id, bool(msg.is_extended_id)) in wanted

    with Interrupts() as interrupts:
        played = play(args.file, BusConfig(args.interface, args.channel, args.bitrate), speed=args.speed,
                      keep=keep if (ids is not None or wanted is not None) else None, stop=interrupts.stop)
    print(f"{played.sent} frame(s) sent over {played.recorded_s:.1f} recorded s at x{args.speed:g}, "
          f"{played.skipped} left out by the filter, {played.failed} refused by the bus"
          + (f"; stopped by {interrupts.reason}" if interrupts.requested else ""))
    return 0 if played.failed == 0 and not interrupts.requested else 1
