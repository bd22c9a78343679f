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

import os
from pathlib import Path
from typing import Any

import can
import pytest

from hilbench.bench import session_epoch_s
from hilbench.dut.replay import Replay, default_codec
from hilbench.dut.replay import replay as replay_into_unit
from hilbench.scenarios import RunOptions, load_scenario, run_scenario

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

def replay(recording: Path, **kwargs: Any) -> Replay:
    """The package's replay, at the bench's own epoch unless told otherwise."""
    kwargs.setdefault("epoch_s", session_epoch_s())
    return replay_into_unit(recording, **kwargs)


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
