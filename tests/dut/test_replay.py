"""Clean replay (issue 11): a recorded fault-free session, replayed into a fresh compute unit.

The BMS, VCU and OBC frames of a recording are read back with python-can's
``can.LogReader`` and sent, each at its recorded time, in simulated time, to a
new :class:`~hilbench.dut.emulator.ComputeEmulator` on a bus of its own.  A
fault-free session must give no E2E stop (no stale input, no failing E2E
receiver, not one E2E error), the same decisions on two replays, bit for bit
(the time, state, reason and power level of every tick), and the decisions the
unit of the recorded session reported in its own status frames.

CI records a 20-minute session with the overnight's conditions and events.  The
full overnight, recorded once with
``hilbench run --record overnight.log fixtures/scenarios/overnight.toml``::

    HILBENCH_REPLAY_LOG=overnight.log pytest tests/dut/test_replay.py -k overnight -s -p no:cacheprovider
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import can
import pytest

from hilbench.bench import DEFAULTS_FILE
from hilbench.bus import BenchCodec, BusConfig, load_bus_description, open_port
from hilbench.clock import SimClock, seconds_to_us, wall_time_s
from hilbench.dut.emulator import ComputeEmulator
from hilbench.scenarios import RunOptions, load_scenario, run_scenario

_CHANNELS = itertools.count()
#: The reasons of a stop for an input the unit could not trust.
E2E_STOP_REASONS = frozenset({"BMS_STALE", "VCU_STALE", "OBC_STALE", "E2E_ERROR"})
PRODUCERS = ("bms", "vcu", "obc")

#: The overnight session's conditions and events, in 20 minutes: on the pack, plugged in
#: (charge-only compute), unplugged, a cold spell.
SHORT_SESSION = '''[scenario]
name = "overnight_20min"
duration = "20min"
[initial]
chemistry = "nmc"
soc_pct = 32.6
ambient_c = 12.0
reserve_soc_pct = 30.0
plugged_in = false
gear = "P"
compute_requested = true
[[steps]]
at = "5min"
action = "plug_in"
[[steps]]
at = "15min"
action = "unplug"
[[steps]]
at = "17min"
action = "set_ambient"
value_c = 6.0
[[checks]]
kind = "bus_integrity"
name = "no unknown, undecodable or E2E-failing frames"
'''

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
        return (f"{self.frames} frames replayed over {self.simulated_s:.0f} simulated s in {self.wall_s:.1f} s wall; "
                f"{self.ticks} ticks ({self.computing_ticks} computing), {self.e2e_stops} E2E stops, "
                f"{self.e2e_errors} E2E errors; {self.status_frames} recorded status frames, "
                f"{self.disagreements} disagree; decisions sha256 {self.digest[:16]}; states {sorted(self.kinds)}")


def default_codec() -> BenchCodec:
    description = load_bus_description()
    return BenchCodec(description.db, description.signal_map)


def default_epoch_s() -> float:
    with DEFAULTS_FILE.open("rb") as fh:
        return float(tomllib.load(fh)["session"]["epoch_s"])


def replay(recording: Path, *, codec: BenchCodec | None = None, epoch_s: float | None = None,
           seed: int = 0, keep: bool = True,
           late_s: Callable[[float, can.Message], float] | None = None) -> Replay:
    """Play the BMS, VCU and OBC frames of ``recording`` into a fresh unit at their recorded times.

    ``late_s(t, frame)`` (optional) delays a frame by that many seconds: a fault, to show the
    checks can fail.  The replay ends with the recording's last frame (the unit is not left to
    find its inputs stale after the end).
    """
    codec = codec or default_codec()
    epoch_s = default_epoch_s() if epoch_s is None else epoch_s
    signal_map = codec.signal_map
    replayed = {(codec.message(name).frame_id, codec.message(name).is_extended_id)
                for producer in PRODUCERS for name in signal_map.messages_of(producer)}
    status = codec.message(signal_map.binding("cu_state").message)
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

        def compare(msg: can.Message) -> None:
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

        with can.LogReader(str(recording)) as reader:
            frames = iter(reader)
            pending: list[can.Message | None] = [next(frames, None)]

            def pump() -> None:
                """Send every frame due now, then wake at the next one's time."""
                msg = pending[0]
                while msg is not None:
                    due_us = seconds_to_us(msg.timestamp - epoch_s)
                    if due_us > clock.now_us:
                        clock.call_at(due_us / 1e6, pump)
                        return
                    key = (msg.arbitration_id, bool(msg.is_extended_id))
                    if key in replayed:
                        state["frames"] += 1
                        extra = late_s(clock.now, msg) if late_s is not None else 0.0
                        if extra > 0:
                            clock.call_later(extra, lambda m=msg: player.send(m))
                        else:
                            player.send(msg)
                    elif msg.arbitration_id == status.frame_id and not msg.is_extended_id:
                        compare(msg)
                    msg = pending[0] = next(frames, None)
                clock.stop()    # the recording is over: so is the replay

            began = wall_time_s()
            clock.call_at(0.0, pump)
            while pending[0] is not None:
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


def _assert_clean(result: Replay) -> None:
    assert result.frames > 0
    assert result.e2e_stops == 0, result.summary()
    assert result.e2e_errors == 0 and result.receiver_errors == {}, result.summary()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A fault-free 20-minute session with the overnight's events, recorded as candump .log."""
    folder = tmp_path_factory.mktemp("replay")
    scenario = folder / "overnight_20min.toml"
    scenario.write_text(SHORT_SESSION, encoding="utf-8")
    path = folder / "session.log"
    result = run_scenario(load_scenario(scenario), RunOptions(seed=0, record=path, keep_traces=False))
    assert result.passed, result.error or [c.detail for c in result.checks]
    return path, result.epoch_s


def test_a_recorded_fault_free_session_replays_clean_and_bit_identical(recording: tuple[Path, float]) -> None:
    path, epoch_s = recording
    first = replay(path, epoch_s=epoch_s)
    second = replay(path, epoch_s=epoch_s)
    print(first.summary())
    _assert_clean(first)
    assert first.decisions == second.decisions
    assert first.digest == second.digest
    # The session is not trivial: the unit computed on the pack, on the charger, and stopped for a reason.
    assert first.simulated_s >= 20 * 60 - 0.1
    assert first.ticks == len(first.decisions) >= 20 * 60 * 10 - 1
    assert ("RUNNING", "NONE") in first.kinds and len(first.kinds) >= 3, first.kinds
    # ... and the fresh unit decided as the recorded one reported, status frame for status frame.
    assert first.status_frames >= 20 * 60 * 10 - 10
    assert first.disagreements == 0, first.first_disagreements


def test_the_replay_check_fails_when_old_data_is_replayed(recording: tuple[Path, float]) -> None:
    """The same recording with BMS_PackStatus held 0.6 s by a gateway for a minute: the unit stops."""
    path, epoch_s = recording
    frame_id = default_codec().message("BMS_PackStatus").frame_id

    def gateway(t: float, msg: can.Message) -> float:
        return 0.6 if msg.arbitration_id == frame_id and 120.0 <= t < 180.0 else 0.0

    result = replay(path, epoch_s=epoch_s, late_s=gateway)
    assert result.e2e_stops >= 1, result.summary()
    assert any(d[2] == "BMS_STALE" for d in result.decisions if 120e6 <= d[0] < 181e6)
    assert result.disagreements > 0


@pytest.mark.skipif(not os.environ.get("HILBENCH_REPLAY_LOG"),
                    reason="set HILBENCH_REPLAY_LOG to a recording of the overnight session "
                           "(hilbench run --record overnight.log fixtures/scenarios/overnight.toml)")
def test_the_recorded_overnight_session_replays_clean_and_bit_identical() -> None:
    path = Path(os.environ["HILBENCH_REPLAY_LOG"])
    first = replay(path, keep=False)
    second = replay(path, keep=False)
    print(f"\nfirst:  {first.summary()}\nsecond: {second.summary()}")
    _assert_clean(first)
    assert first.digest == second.digest
    assert first.simulated_s >= 8 * 3600 - 1
    assert first.disagreements == 0, first.first_disagreements
