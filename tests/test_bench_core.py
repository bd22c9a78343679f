"""The assembled bench in simulated time: recordings, determinism, cycle times, clean exits.

Each check runs on a bench of emulated BMS, VCU and OBC, and again with the
bundled compute-unit DUT (its CU_* messages included) when
``hilbench.dut.emulator`` exists; the checks iterate over what the emulated
nodes own rather than over a fixed list of messages.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import can
import cantools
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import compute_unit_dbc_path, count_frames, default_dbc_path
from hilbench.bus.recorder import read_recording
from hilbench.bus.simtime import open_channels
from hilbench.clock import StopRequest
from hilbench.errors import ConfigError

NO_DUT = frozenset({"bms", "vcu", "obc"})
WITH_DUT = NO_DUT | {"cu"}
HAVE_DUT = importlib.util.find_spec("hilbench.dut.emulator") is not None
EMULATE = [
    pytest.param(NO_DUT, id="no-dut"),
    pytest.param(WITH_DUT, id="with-dut",
                 marks=pytest.mark.skipif(not HAVE_DUT, reason="hilbench.dut.emulator not written yet")),
]
DBC = cantools.database.load_file(default_dbc_path(), strict=True)
DBC.add_dbc_file(compute_unit_dbc_path())   # the recording must decode with the DBCs the map lists
CYCLE_S = {m.frame_id: m.cycle_time / 1000.0 for m in DBC.messages}
NAME_BY_ID = {m.frame_id: m.name for m in DBC.messages}


def _config(**changes) -> BenchConfig:
    changes.setdefault("emulate", NO_DUT)
    return BenchConfig(**changes)


def _read(path: Path) -> list[can.Message]:
    with can.LogReader(str(path)) as reader:
        return list(reader)


def _expected_messages(bench: Bench) -> set[str]:
    names: set[str] = set()
    for producer in bench.config.emulate:
        names.update(bench.signal_map.messages_of(producer))
    return names


# ---------------------------------------------------------------- recording

@pytest.mark.parametrize("emulate", EMULATE)
@pytest.mark.parametrize("suffix", [".blf", ".log", ".asc"])
def test_recording_holds_every_frame_the_monitor_saw_and_all_decode(tmp_path: Path, suffix: str,
                                                                    emulate) -> None:
    path = tmp_path / f"x{suffix}"
    with Bench(_config(record=path, emulate=emulate)) as bench:
        bench.run_for(20.0)
        seen = bench.monitor.frames
        assert bench.monitor.unknown_frames == 0
        assert bench.monitor.decode_errors == 0
        assert bench.monitor.e2e_errors == 0
        assert seen == bench.restbus.sent + bench.restbus.received
    assert seen > 2_000
    assert count_frames(path) == seen
    frames = _read(path)
    unknown = {f.arbitration_id for f in frames if f.arbitration_id not in NAME_BY_ID}
    assert unknown == set()
    for frame in frames:
        DBC.decode_message(frame.arbitration_id, frame.data)      # raises on any malformed frame
    fd = [f for f in frames if NAME_BY_ID[f.arbitration_id] == "BMS_ModuleCellsFD"]
    assert fd and all(f.is_fd and len(f.data) == 64 for f in fd)
    assert {NAME_BY_ID[f.arbitration_id] for f in frames} >= _expected_messages(bench)


@pytest.mark.parametrize("emulate", EMULATE)
@pytest.mark.parametrize("suffix", [".blf", ".log"])
def test_same_seed_gives_byte_identical_recordings(tmp_path: Path, suffix: str, emulate) -> None:
    paths = []
    for run, seed in enumerate((3, 3, 4)):
        path = tmp_path / f"run{run}{suffix}"
        with Bench(_config(record=path, seed=seed, emulate=emulate)) as bench:
            bench.run_for(10.0)
        paths.append(path)
    first, again, other = (p.read_bytes() for p in paths)
    assert len(first) > 10_000
    assert first == again
    assert first != other


@pytest.mark.parametrize("suffix", [".blf", ".log"])
def test_exception_mid_run_still_leaves_a_complete_readable_recording(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"crash{suffix}"

    def boom() -> None:
        raise RuntimeError("scenario blew up")

    with pytest.raises(RuntimeError, match="blew up"):
        with Bench(_config(record=path)) as bench:
            bench.clock.call_at(7.5, boom)
            bench.run_for(30.0)
    assert open_channels() == {}
    seen = bench.monitor.frames
    assert seen > 1_000
    frames = _read(path)
    assert len(frames) == seen
    assert frames[-1].timestamp - bench.epoch_s == pytest.approx(7.5, abs=0.021)
    for frame in frames:
        DBC.decode_message(frame.arbitration_id, frame.data)


def test_the_primary_is_on_disk_up_to_the_last_flush_while_the_bench_runs(tmp_path: Path) -> None:
    """What a SIGKILL would leave: the candump primary holds every frame up to the last flush
    instant (every FLUSH_INTERVAL_S of bench time) and nothing after it."""
    path = tmp_path / "live.blf"
    with Bench(_config(record=path)) as bench:
        sent: list[can.Message] = []
        bench.restbus.add_tap(sent.append)
        bench.run_for(10.05)
        on_disk = [(m.timestamp, m.arbitration_id, bytes(m.data)) for m in read_recording(path.with_suffix(".log"))]
        assert on_disk == [(round(m.timestamp, 6), m.arbitration_id, bytes(m.data)) for m in sent[:len(on_disk)]]
        last, following = (sent[len(on_disk) - 1].timestamp - bench.epoch_s,
                           sent[len(on_disk)].timestamp - bench.epoch_s)
        assert last <= 10.0 + 1e-6 <= following + 2e-6      # the flush at 10.0 s, not the one at 10.1 s
        assert len(sent) - len(on_disk) < 0.1 * len(sent) / 10.0   # less than 100 ms of traffic not on disk
    assert count_frames(path) == count_frames(path.with_suffix(".log")) == len(sent)


def test_a_stop_request_ends_the_run_after_the_current_task_and_the_recording_holds_every_frame(
        tmp_path: Path) -> None:
    path = tmp_path / "stopped.blf"
    stop = StopRequest()
    with Bench(_config(record=path)) as bench:
        bench.clock.call_at(4.25, lambda: stop.request("SIGINT"))   # as a signal handler would, mid-run
        assert bench.run_for(30.0, stop=stop) is False
        assert bench.now == pytest.approx(4.25)
        seen = bench.monitor.frames
    assert count_frames(path) == count_frames(path.with_suffix(".log")) == seen > 500
    with Bench(_config()) as bench:
        assert bench.run_for(1.0, stop=StopRequest()) is True


def test_close_is_idempotent_and_shuts_every_bus(tmp_path: Path) -> None:
    bench = Bench(_config(record=tmp_path / "c.log"))
    bench.run_for(1.0)
    assert sum(open_channels().values()) >= 1
    bench.close()
    bench.close()
    assert open_channels() == {}
    assert count_frames(tmp_path / "c.log") == bench.monitor.frames


def test_bad_config_is_refused_before_any_bus_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="emulate"):
        Bench(BenchConfig(emulate=frozenset({"bms", "toaster"})))
    broken = tmp_path / "broken.dbc"
    broken.write_text("this is not a DBC", encoding="ascii")
    with pytest.raises(ConfigError, match="broken.dbc"):
        Bench(_config(dbc=broken, record=tmp_path / "never.log"))
    assert open_channels() == {}
    assert not (tmp_path / "never.log").exists()


# ---------------------------------------------------------------- cycle times

@pytest.fixture(scope="module", params=EMULATE)
def minute_run(request, tmp_path_factory) -> tuple[dict, Path, set[str], float]:
    path = tmp_path_factory.mktemp("cycle") / "minute.log"
    with Bench(_config(record=path, emulate=request.param)) as bench:
        bench.run_for(60.0)
        stats = {name: (s.count, s.mean_period_s, s.min_gap_s, s.max_gap_s, s.cycle_time_s)
                 for name, s in bench.monitor.stats.items()}
        expected = _expected_messages(bench)
        epoch = bench.epoch_s
    return stats, path, expected, epoch


def test_every_expected_message_is_on_the_bus(minute_run) -> None:
    stats, _path, expected, _epoch = minute_run
    silent = sorted(name for name in expected if stats[name][0] == 0)
    assert silent == []


def test_monitor_cycle_times_match_the_dbc(minute_run) -> None:
    stats, _path, expected, _epoch = minute_run
    checked = 0
    for name, (count, mean, min_gap, max_gap, _cycle) in stats.items():
        if count < 2:
            continue
        dbc_cycle = DBC.get_message_by_name(name).cycle_time / 1000.0
        assert mean == pytest.approx(dbc_cycle, rel=0.01), name
        # in simulated time there is no jitter at all
        assert min_gap == pytest.approx(dbc_cycle, rel=0.01), name
        assert max_gap == pytest.approx(dbc_cycle, rel=0.01), name
        assert count == pytest.approx(60.0 / dbc_cycle, abs=1.5), name
        checked += 1
    assert checked >= len(expected)


def test_recorded_timestamps_give_the_dbc_cycle_times(minute_run) -> None:
    """Measured independently of the monitor: from the file, per frame ID."""
    _stats, path, expected, epoch = minute_run
    times: dict[int, list[float]] = defaultdict(list)
    for frame in _read(path):
        times[frame.arbitration_id].append(frame.timestamp)
    assert {NAME_BY_ID[i] for i in times} >= expected
    for frame_id, ts in times.items():
        assert len(ts) >= 2
        mean = (ts[-1] - ts[0]) / (len(ts) - 1)
        assert mean == pytest.approx(CYCLE_S[frame_id], rel=0.01), NAME_BY_ID[frame_id]
        assert 0.0 <= ts[0] - epoch < CYCLE_S[frame_id] + 0.02, NAME_BY_ID[frame_id]
        assert ts[-1] - epoch <= 60.0 + 1e-3


def test_messages_do_not_all_collide_on_the_same_instant(minute_run) -> None:
    """Nodes stagger their messages; a burst of every message at t = 0 is not a real bus."""
    _stats, path, _expected, epoch = minute_run
    first = defaultdict(list)
    for frame in _read(path):
        first[round(frame.timestamp - epoch, 6)].append(frame.arbitration_id)
    assert max(len(ids) for ids in first.values()) < len(CYCLE_S) // 2


# ---------------------------------------------------------------- wall time, same code path

@pytest.mark.wall_clock
def test_wall_time_on_virtual_can_measures_real_cycle_times(tmp_path: Path) -> None:
    """Regression: in wall time the frames the bench sent kept timestamp 0.0 (periods of 0 s)."""
    from hilbench.bus import BusConfig

    path = tmp_path / "wall.log"
    config = _config(wall_time=True, bus=BusConfig(interface="virtual", channel="hilbench-wall-test"),
                     record=path)
    with Bench(config) as bench:
        assert not bench.clock.is_simulated
        bench.run_for(0.6)
        stats = bench.monitor.stats["BMS_PackStatus"]
        assert stats.count >= 10
        assert stats.mean_period_s == pytest.approx(0.02, rel=0.25)
    stamps = [frame.timestamp for frame in _read(path)]
    assert stamps[-1] - stamps[0] == pytest.approx(0.6, abs=0.2)


# ---------------------------------------------------------------- bad frames are counted, not fatal

def test_unknown_and_malformed_frames_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    with Bench(_config(record=path)) as bench:
        intruder = can.Bus(interface="simtime", channel=bench.config.bus.channel, clock=bench.clock)
        try:
            limits_id = DBC.get_message_by_name("BMS_Limits").frame_id
            bench.clock.call_at(1.0, lambda: intruder.send(can.Message(arbitration_id=0x7AB, data=b"\x01",
                                                                      is_extended_id=False)))
            bench.clock.call_at(2.0, lambda: intruder.send(can.Message(arbitration_id=limits_id, data=b"\x00",
                                                                      is_extended_id=False)))
            bench.run_for(4.0)
        finally:
            intruder.shutdown()
        monitor = bench.monitor
        assert monitor.unknown_frames == 1 and monitor.unknown_ids == {0x7AB: 1}
        assert monitor.decode_errors == 1
        assert monitor.stats["BMS_PackStatus"].last_s > 3.9         # and the bench kept running
        seen = monitor.frames
    assert count_frames(path) == seen                                 # bad frames are recorded too


def test_corrupted_protected_frames_are_counted_as_e2e_errors() -> None:
    def corrupt(name: str, msg: can.Message) -> can.Message:
        if name == "BMS_Limits":
            msg.data[4] ^= 0x10
        return msg

    with Bench(_config()) as bench:
        bench.bms.tx_filters.append(corrupt)
        bench.run_for(2.0)
        stats = bench.monitor.stats["BMS_Limits"]
        assert stats.count > 10
        assert stats.e2e_errors == stats.count
        assert bench.monitor.e2e_errors == stats.count


def test_the_dut_port_filters_what_the_dut_does_not_read_but_the_monitor_sees_everything() -> None:
    with Bench(BenchConfig()) as bench:
        bench.run_for(2.0)
        dut_port = bench.dut_port
        assert dut_port is not bench.restbus
        assert dut_port.received > 0
        assert dut_port.unhandled == 0          # per-cell frames never reached the DUT's queue
        assert bench.monitor.stats["BMS_CellVoltages"].count == 100   # 50 Hz for 2 s, on the rest-bus side


def test_a_frame_is_seen_by_the_monitor_before_the_next_task_due_at_the_same_instant() -> None:
    with Bench(BenchConfig()) as bench:
        seen = []
        # scheduled at 1.0 s for 1.006 s, the instant the DUT sends its 11th CU_Status
        bench.clock.call_at(1.0, lambda: bench.clock.call_at(
            1.006, lambda: seen.append(bench.monitor.stats["CU_Status"].count)))
        bench.run_for(1.1)
        assert seen == [11]
