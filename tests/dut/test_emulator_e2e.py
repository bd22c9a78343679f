"""The compute unit's E2E receivers in the loop: old data never keeps permission alive.

Each test runs the bench in simulated time with a fault injected at the BMS and reads the
compute unit's answer off the bus (``cu_state``), as a scenario would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.e2e import E2EStatus
from hilbench.scenarios import RunOptions, load_scenario, run_scenario

COMPUTING = ("RUNNING", "DERATED")


def _scenario(tmp_path: Path, steps: str, duration: str = "90s") -> Path:
    path = tmp_path / "e2e.toml"
    path.write_text(f'''[scenario]
name = "e2e"
duration = "{duration}"
[initial]
chemistry = "nmc"
soc_pct = 70.0
ambient_c = 25.0
{steps}
[[checks]]
kind = "eventually"
name = "compute starts within 2 s"
expr = "cu_state == 'RUNNING' or cu_state == 'DERATED'"
within = "2 s"
''', encoding="utf-8")
    return path


def _computing(tmp_path: Path, steps: str, seed: int = 0, duration: str = "90s") -> tuple[np.ndarray, np.ndarray]:
    result = run_scenario(load_scenario(_scenario(tmp_path, steps, duration)), RunOptions(seed=seed))
    assert result.error is None
    t = result.traces.t_s
    states = result.traces.values["cu_state"]
    names = result.traces.states["cu_state"]
    return t, np.array([i == i and names[int(i)] in COMPUTING for i in states])


@pytest.mark.parametrize("delay_s", [0.6, 5.0])
def test_a_delayed_bms_stream_never_lets_the_unit_compute_on_old_data(tmp_path: Path, delay_s: float) -> None:
    steps = f'''[[steps]]
at = "10s"
action = "delay"
node = "bms"
delay_s = {delay_s}
duration_s = "40s"
'''
    t, computing = _computing(tmp_path, steps)
    during = (t > 10.0 + 0.6) & (t < 50.0)
    assert computing[(t > 3) & (t < 10)].all()
    assert not computing[during].any(), f"computing at {t[during][computing[during]][:5]}"
    assert computing[t > 60].all()     # the delay over, the stream catches up and the unit resumes


def test_a_steady_quarter_of_corrupted_bms_frames_stops_the_unit(tmp_path: Path) -> None:
    steps = '''[[steps]]
at = "10s"
action = "corrupt"
role = "soc_pct"
every_n = 4
duration_s = "40s"
'''
    t, computing = _computing(tmp_path, steps)
    assert not computing[(t > 11.0) & (t < 50.0)].any()
    assert computing[t > 55].all()


def test_an_in_sequence_rogue_sender_is_detected() -> None:
    """Between two real frames, someone sends the next counter with a right CRC."""
    with Bench(BenchConfig(soc_pct=70.0, ambient_c=25.0)) as bench:
        real = bench.bms._senders["BMS_PackStatus"]
        rogue = bench.codec.fresh_sender("BMS_PackStatus")
        sm = bench.dut.receivers["BMS_PackStatus"]

        def insert() -> None:
            frame = rogue.encode(bench.bms.values)
            data = bytearray(frame.data)
            rogue.protection.protect(data, real.counter)
            frame.data = data
            bench.restbus.send(frame)

        bench.run_for(10.0)
        assert bench.monitor.latest["cu_state"] in COMPUTING
        assert sm.state is E2EStatus.VALID
        bench.clock.call_every(0.02, insert, offset_s=0.011)
        bench.run_for(5.0)
        assert sm.state is E2EStatus.INVALID
        assert bench.monitor.latest["cu_state"] == "SAFE_STOP"
        assert sm.errors.get("WRONG_SEQUENCE", 0) + sm.errors.get("REPEATED", 0) > 100


def test_the_first_good_frames_after_a_silent_bms_are_not_trusted_at_once() -> None:
    """After a silence the stream starts again from INIT: the data of its first two frames is not used."""
    with Bench(BenchConfig(soc_pct=70.0, ambient_c=25.0)) as bench:
        sm = bench.dut.receivers["BMS_PackStatus"]
        used: list[float] = []
        bench.run_for(5.0)
        bench.bms.silent = True
        bench.run_for(3.0)
        assert not sm.usable(bench.now)
        resumed_s = bench.now
        bench.bms.silent = False
        while bench.now < resumed_s + 0.3:
            bench.run_for(0.1)
            used.append(bench.dut._last_valid_s["BMS_PackStatus"])
        first_used = min(t for t in used if t > resumed_s)
        # frames come every 20 ms from resumed_s (+ the node's 0-3 ms offset): the third is the first used
        assert first_used >= resumed_s + 0.04
        assert sm.state is E2EStatus.VALID


def test_the_reason_on_the_bus_names_the_input_and_its_receiver_state(tmp_path: Path) -> None:
    steps = '''[[steps]]
at = "10s"
action = "corrupt"
role = "discharge_current_limit_a"
duration_s = "5s"
[[steps]]
at = "30s"
action = "node_silent"
node = "vcu"
duration_s = "5s"
'''
    result = run_scenario(load_scenario(_scenario(tmp_path, steps, "50s")), RunOptions())
    traces = result.traces
    t = traces.t_s
    frame_ids = traces.values["cu_reason_frame_id"]
    states = [traces.states["cu_reason_input_state"][int(i)] if i == i else None
              for i in traces.values["cu_reason_input_state"]]
    during_corruption = (t > 11) & (t < 15)
    assert set(frame_ids[during_corruption]) == {0x102}                      # BMS_Limits
    assert {states[i] for i in np.flatnonzero(during_corruption)} == {"INVALID"}
    during_silence = (t > 31) & (t < 35)
    assert set(frame_ids[during_silence]) == {0x200}                         # VCU_VehicleStatus
    assert {states[i] for i in np.flatnonzero(during_silence)} == {"STALE"}
    assert set(frame_ids[(t > 5) & (t < 10)]) == {0}
