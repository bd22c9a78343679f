"""A recording replayed into a fresh compute unit: what it decides on the same inputs.

The BMS, VCU and OBC frames of a recording (any format :func:`~hilbench.bus.recorder.read_recording`
reads) are sent, each at its recorded time, in simulated time, to a new
:class:`~hilbench.dut.emulator.ComputeEmulator` on a bus of its own.  The unit's status frames in
the recording are not sent: they are compared, frame for frame, with what the fresh unit decides.
A fault-free session must give no E2E stop, the same decisions on two replays bit for bit (the
SHA-256 over every tick's time, state, reason and level), and the decisions the recorded unit
reported.  ``hilbench replay FILE`` runs it; ``tests/dut/test_replay.py`` proves it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..bus import BenchCodec, BusConfig, load_bus_description, open_port
from ..bus.frames import Frame
from ..bus.player import schedule_frames
from ..bus.recorder import read_recording
from ..clock import SimClock, wall_time_s
from ..errors import ConfigError
from .emulator import ComputeEmulator

_CHANNELS = itertools.count()
#: The reasons of a stop for an input the unit could not trust.
E2E_STOP_REASONS = frozenset({"BMS_STALE", "VCU_STALE", "OBC_STALE", "E2E_ERROR"})
PRODUCERS = ("bms", "vcu", "obc")

Decision = tuple[int, str, str, str]     # (time in us, state, reason, power level) after a tick


@dataclass
class Replay:
    """What a fresh unit decided when a recording was played into it."""

    frames: int                      # frames sent to the unit (BMS, VCU, OBC)
    status_frames: int               # status frames the recorded unit sent (compared, not sent)
    decisions: list[Decision]        # every tick's, unless the replay was told not to keep them
    digest: str                      # SHA-256 over every decision, in order
    ticks: int
    computing_ticks: int
    kinds: set[tuple[str, str]]      # the (state, reason) pairs the unit went through
    e2e_stops: int                   # stops for a stale or failing input (entries into one)
    e2e_errors: int
    receiver_errors: dict[str, dict[str, int]]
    disagreements: int               # status frames whose state, reason or level differs from the replay
    first_disagreements: list[str] = field(default_factory=list)
    simulated_s: float = 0.0
    wall_s: float = 0.0

    def summary(self) -> str:
        """One line: what was replayed, what the unit decided, how many recorded status frames disagree."""
        return (f"{self.frames} frames replayed over {self.simulated_s:.0f} simulated s in {self.wall_s:.1f} s wall; "
                f"{self.ticks} ticks ({self.computing_ticks} computing), {self.e2e_stops} E2E stops, "
                f"{self.e2e_errors} E2E errors; {self.status_frames} recorded status frames, "
                f"{self.disagreements} disagree; decisions sha256 {self.digest[:16]}; states {sorted(self.kinds)}")


def default_codec() -> BenchCodec:
    """The bench's own DBC and signal map (what the bundled sessions are recorded with)."""
    description = load_bus_description()
    return BenchCodec(description.db, description.signal_map)


def replay(recording: Path, *, epoch_s: float, codec: BenchCodec | None = None,
           seed: int = 0, keep: bool = True,
           late_s: Callable[[float, Frame], float] | None = None) -> Replay:
    """Play the BMS, VCU and OBC frames of ``recording`` into a fresh unit at their recorded times.

    ``epoch_s`` is the recorded session's time zero (a bench's ``epoch_s``: frames are replayed
    at ``timestamp - epoch_s`` on the fresh unit's clock, so its ticks fall where the recorded
    unit's fell).  ``late_s(t, frame)`` (optional) delays a frame by that many seconds: a fault,
    to show the checks can fail.  The replay ends with the recording's last frame (the unit is
    not left to find its inputs stale after the end).

    Raises:
        BusError: the recording cannot be read (names the file and where).
        ConfigError: the map binds no status message of the unit.
    """
    codec = codec or default_codec()
    signal_map = codec.signal_map
    replayed = {(codec.message(name).frame_id, codec.message(name).is_extended_id)
                for producer in PRODUCERS for name in signal_map.messages_of(producer)}
    binding = signal_map.binding("cu_state")
    if binding is None:
        raise ConfigError(None, "cu_state", "the signal map binds no status message of the unit to compare with")
    status = codec.message(binding.message)
    clock = SimClock(epoch_s=epoch_s)
    config = BusConfig("simtime", f"replay-{next(_CHANNELS)}")
    player = open_port(config, clock, epoch_s=epoch_s, polled_by_owner=True)
    player_bus = player.bus
    unit_port = open_port(config, clock, epoch_s=epoch_s, polled_by_owner=True)
    unit_bus = unit_port.bus
    try:
        # The player hears nothing back: the replayed unit's own status frames stay off its queue.
        player_bus.set_filters([{"can_id": 0x1FFFFFFF, "can_mask": 0x1FFFFFFF, "extended": True}])
        unit = ComputeEmulator.from_config(codec, unit_port, clock, seed=seed)
        unit_port.accept_only_subscribed()

        decisions: list[Decision] = []
        digest = hashlib.sha256()
        values = unit.values
        unit_tick = unit.tick

        def logged_tick() -> None:
            unit_tick()
            decision = (clock.now_us, str(values["cu_state"]), str(values["cu_reason"]),
                        str(values["cu_power_level"]))
            digest.update(repr(decision).encode())
            if keep:
                decisions.append(decision)
            state["ticks"] += 1
            state["computing"] += decision[1] in ("RUNNING", "DERATED")
            kinds.add((decision[1], decision[2]))
            stop = decision[1] == "SAFE_STOP" and decision[2] in E2E_STOP_REASONS
            if stop and not state["stopped"]:
                state["stops"] += 1
            state["stopped"] = stop

        state = {"stops": 0, "stopped": False, "frames": 0, "status": 0, "disagree": 0, "ticks": 0, "computing": 0}
        kinds: set[tuple[str, str]] = set()
        disagreements: list[str] = []
        unit.tick = logged_tick   # type: ignore[method-assign]
        unit.start()

        def compare(msg: Frame) -> None:
            # The recorded unit's status, sent a millisecond after its tick, against the replayed unit's.
            recorded = status.decode_roles(msg.data)
            state["status"] += 1
            for role in ("cu_state", "cu_reason", "cu_power_level"):
                if str(recorded.get(role)) != str(values[role]):
                    state["disagree"] += 1
                    if len(disagreements) < 10:
                        disagreements.append(f"{clock.now:.3f} s: recorded {role} {recorded.get(role)}, "
                                             f"replayed {values[role]}")
                    break

        def handle(msg: Frame) -> None:
            key = (msg.arbitration_id, bool(msg.is_extended_id))
            if key in replayed:
                state["frames"] += 1
                extra = late_s(clock.now, msg) if late_s is not None else 0.0
                if extra > 0:
                    clock.call_later(extra, partial(player.send, msg))
                else:
                    player.send(msg)
            elif msg.arbitration_id == status.frame_id and bool(msg.is_extended_id) == status.is_extended_id:
                compare(msg)

        began = wall_time_s()
        remaining = schedule_frames(clock, read_recording(recording), epoch_s, handle)
        while remaining():
            clock.run_until(clock.now + 600.0)
        return Replay(
            frames=state["frames"], status_frames=state["status"], decisions=decisions, digest=digest.hexdigest(),
            ticks=state["ticks"], computing_ticks=state["computing"], kinds=kinds,
            e2e_stops=state["stops"], e2e_errors=unit.e2e_errors,
            receiver_errors={name: dict(r.errors) for name, r in unit.receivers.items() if r.errors},
            disagreements=state["disagree"], first_disagreements=disagreements,
            simulated_s=clock.now, wall_s=wall_time_s() - began)
    finally:
        player_bus.shutdown()
        unit_bus.shutdown()
