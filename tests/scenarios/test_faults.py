"""Each fault injection does what it says, seen from the bus (and the DUT's verdict where it matters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import can
import numpy as np
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.e2e import E2EReceiver, profile2_crc
from hilbench.errors import ScenarioError
from hilbench.scenarios import faults
from hilbench.scenarios.actions import ACTIONS, apply
from hilbench.scenarios.loader import load_scenario_data

PACK = "BMS_PackStatus"


@pytest.fixture
def make_bench() -> Iterator[Callable[..., Bench]]:
    """``make_bench(**BenchConfig fields)``: a full bench (nodes and compute emulator), closed after the test."""
    benches: list[Bench] = []

    def make(**changes) -> Bench:
        changes.setdefault("soc_pct", 60.0)
        changes.setdefault("ambient_c", 25.0)
        bench = Bench(BenchConfig(**changes))
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()


def at(bench: Bench, t_s: float, name: str, **params) -> None:
    """Schedule action ``name`` at bench time ``t_s`` (as a scenario step would)."""
    bench.clock.call_at(t_s, lambda: apply(bench, name, params))


class Capture:
    """A tap recording (time, data) of one message's frames as they cross the rest-bus port."""

    def __init__(self, bench: Bench, message: str) -> None:
        codec = bench.codec.message(message)
        self.frame_id, self.extended = codec.frame_id, codec.is_extended_id
        self.epoch_s = bench.epoch_s
        self.frames: list[tuple[float, bytes]] = []
        bench.restbus.add_tap(self)

    def __call__(self, msg: can.Message) -> None:
        if msg.arbitration_id == self.frame_id and msg.is_extended_id == self.extended:
            self.frames.append((msg.timestamp - self.epoch_s, bytes(msg.data)))

    def between(self, lo_s: float, hi_s: float) -> list[tuple[float, bytes]]:
        return [f for f in self.frames if lo_s <= f[0] < hi_s]


def e2e_errors(bench: Bench, message: str, frames: list[tuple[float, bytes]]) -> dict[str, int]:
    receiver = E2EReceiver(bench.codec.message(message).e2e_base)
    for _, data in frames:
        receiver.check(data)
    return receiver.errors


def value_at(bench: Bench, role: str, t_s: float) -> float:
    t, v = bench.monitor.trace(role)
    return float(v[np.searchsorted(t, t_s, side="right") - 1])


# -- registration -------------------------------------------------------------------
@pytest.mark.parametrize("name", faults.__all__[3:])
def test_every_fault_is_a_registered_action(name: str) -> None:
    assert name in ACTIONS and ACTIONS[name].func is getattr(faults, name)


def test_loader_checks_fault_parameters() -> None:
    data = {"scenario": {"duration": "1min"},
            "steps": [{"at": "1s", "action": "drop", "message": PACK, "every_n": 2, "duration_s": "5 s"}]}
    scenario = load_scenario_data(data, "x.toml")
    assert scenario.steps[0].params == {"message": PACK, "every_n": 2, "duration_s": 5.0}
    data["steps"][0]["every"] = 2
    with pytest.raises(ValueError, match="unknown parameter"):
        load_scenario_data(data, "x.toml")


# -- frames ---------------------------------------------------------------------------
def test_drop_every_nth_then_recovers(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 2.0, "drop", message=PACK, every_n=2, duration_s=2.0)
    bench.run_for(6.0)
    before, during, after = len(cap.between(0.5, 2.0)), len(cap.between(2.0, 4.0)), len(cap.between(4.0, 6.0))
    assert before == pytest.approx(75, abs=1)       # 20 ms cycle
    assert during == pytest.approx(50, abs=1)       # every second frame lost
    assert after == pytest.approx(100, abs=1)
    assert bench.bms.frames_dropped == pytest.approx(50, abs=1)


def test_drop_a_whole_node_and_count_limit(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, "VCU_VehicleStatus")
    at(bench, 1.0, "drop", node="vcu", count=3)
    bench.run_for(3.0)
    assert len(cap.between(1.0, 3.0)) == 20 - 3


def test_corrupt_fails_the_crc(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 1.0, "corrupt", message=PACK, bits=2, count=5)
    bench.run_for(2.0)
    # Five CRC failures, then the first good frame's counter has jumped by six.
    assert e2e_errors(bench, PACK, cap.between(0.5, 2.0)) == {"crc": 5, "wrong_sequence": 1}
    assert bench.monitor.stats[PACK].e2e_errors == 6
    # The unit's receiver takes the jump over five lost frames as frames lost in transit (its
    # counter moved as far as the time did): five errors, and the sixth frame is good.
    assert bench.dut.e2e_errors == 5


def test_corrupt_burst_stops_compute(make_bench) -> None:
    bench = make_bench()
    at(bench, 1.0, "corrupt", message=PACK, duration_s=1.0)
    bench.run_for(1.8)
    assert bench.monitor.latest["cu_state"] == "SAFE_STOP"
    assert bench.monitor.latest["cu_reason"] in ("E2E_ERROR", "BMS_STALE")


@pytest.mark.parametrize(("mode", "error"), [("repeat", "repeated"), ("skip", "wrong_sequence")])
def test_wrong_counter_keeps_the_crc_valid(make_bench, mode: str, error: str) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 1.0, "wrong_counter", message=PACK, mode=mode, duration_s=0.5)
    bench.run_for(2.0)
    errors = e2e_errors(bench, PACK, cap.between(0.5, 2.0))
    assert "crc" not in errors
    assert errors.get(error, 0) >= 20
    assert ("SAFE_STOP", "E2E_ERROR") in {t[1:] for t in bench.dut.supervisor.transitions}


def test_bad_checksum_leaves_the_payload(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 1.0, "bad_checksum", message=PACK, count=1)
    bench.run_for(1.2)
    frames = cap.between(0.9, 1.2)
    assert e2e_errors(bench, PACK, frames) == {"crc": 1, "wrong_sequence": 1}   # the next frame's counter skips one
    codec = bench.codec.message(PACK)
    bad = next(data for _, data in frames if profile2_crc(data, codec.e2e_base) != data[0])
    assert codec.decode_roles(bad)["soc_pct"] == pytest.approx(60.0, abs=0.2)


def test_delay_holds_frames_back_and_discards_the_held_ones_at_the_end(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 1.0, "delay", node="bms", delay_s=0.3, duration_s=2.0)
    bench.run_for(4.0)
    assert cap.between(1.0, 1.29) == []                      # the first held frame arrives 0.3 s late
    assert len(cap.between(1.3, 3.0)) == pytest.approx(85, abs=1)   # then the stream flows, shifted
    assert len(cap.between(3.0, 4.0)) == pytest.approx(50, abs=1)   # held frames dropped: no doubles
    assert bench.dut.supervisor.state.name in ("RUNNING", "DERATED")  # 0.3 s < the 0.5 s stale timeout


def test_frame_fault_errors(make_bench) -> None:
    bench = make_bench()
    with pytest.raises(ScenarioError, match="unknown node"):
        faults.drop(bench, node="esp")
    with pytest.raises(ScenarioError, match="no emulated sender"):
        faults.drop(bench, message="ABS_Speed")
    with pytest.raises(ScenarioError, match="has no alive counter"):
        faults.wrong_counter(bench, message="BMS_CellVoltages")
    with pytest.raises(ScenarioError, match="needs node"):
        faults.corrupt(bench)
    with pytest.raises(ScenarioError, match="mode"):
        faults.wrong_counter(bench, message=PACK, mode="backwards")
    with pytest.raises(ScenarioError, match="duration_s"):
        faults.drop(bench, message=PACK, duration_s=-1.0)
    assert bench.bms.tx_filters == []                        # a refused fault leaves nothing behind


def test_frame_faults_refuse_a_node_that_is_not_emulated(make_bench) -> None:
    bench = make_bench(emulate=frozenset({"vcu", "obc", "cu"}))
    with pytest.raises(ScenarioError, match="not emulated"):
        faults.drop(bench, node="bms")
    with pytest.raises(ScenarioError, match="not emulated"):
        faults.sensor_offset(bench, role="soc_pct", offset=1.0)


# -- sensors ----------------------------------------------------------------------------
def test_sensor_offset_shifts_the_bus_value(make_bench) -> None:
    plain, faulty = make_bench(), make_bench()
    at(faulty, 1.0, "sensor_offset", role="pack_voltage_v", offset=12.5, duration_s=2.0)
    for bench in (plain, faulty):
        bench.run_for(4.0)
    assert value_at(faulty, "pack_voltage_v", 0.9) == pytest.approx(value_at(plain, "pack_voltage_v", 0.9), abs=0.11)
    step = value_at(faulty, "pack_voltage_v", 2.0) - value_at(plain, "pack_voltage_v", 2.0)
    assert step == pytest.approx(12.5, abs=0.11)
    assert value_at(faulty, "pack_voltage_v", 3.9) == pytest.approx(value_at(plain, "pack_voltage_v", 3.9), abs=0.11)


def test_sensor_stuck_drift_and_stacking(make_bench) -> None:
    bench = make_bench()
    at(bench, 1.0, "sensor_stuck", role="min_cell_voltage_v", value=3.0, duration_s=2.0)
    at(bench, 2.0, "sensor_offset", role="min_cell_voltage_v", offset=-0.25, duration_s=0.5)
    at(bench, 1.0, "sensor_drift", role="max_cell_temp_c", rate_per_s=2.0)
    bench.run_for(5.0)
    assert value_at(bench, "min_cell_voltage_v", 1.5) == pytest.approx(3.0)
    assert value_at(bench, "min_cell_voltage_v", 2.3) == pytest.approx(2.75)      # offset acts on the stuck value
    assert value_at(bench, "min_cell_voltage_v", 2.8) == pytest.approx(3.0)       # offset over, still stuck
    assert value_at(bench, "min_cell_voltage_v", 4.5) > 3.4                       # stuck over: the real cell
    assert "min_cell_voltage_v" not in bench.bms.sensor_faults
    rise = value_at(bench, "max_cell_temp_c", 4.9) - value_at(bench, "max_cell_temp_c", 0.9)
    assert rise == pytest.approx(8.0, abs=1.0)                                   # 2 C/s for 4 s, 1 C resolution


def test_sensor_stuck_without_value_freezes_the_reading(make_bench) -> None:
    bench = make_bench()
    at(bench, 0.5, "sensor_stuck", role="soc_pct")
    at(bench, 0.5, "set_ambient", value_c=25.0)
    bench.run_for(3.0)
    t, v = bench.monitor.trace("soc_pct")
    assert len(set(v[t > 0.7].tolist())) == 1


def test_sensor_noise_is_seeded(make_bench) -> None:
    traces = []
    for seed in (3, 3, 4):
        bench = make_bench(seed=seed)
        at(bench, 0.5, "sensor_noise", role="pack_voltage_v", sigma=2.0)
        bench.run_for(4.0)
        t, v = bench.monitor.trace("pack_voltage_v")
        traces.append(v[t > 1.0])
    assert np.array_equal(traces[0], traces[1])
    assert not np.array_equal(traces[0], traces[2])
    assert 1.0 < float(np.std(traces[0])) < 3.0


def test_sensor_fault_refuses_an_unknown_role(make_bench) -> None:
    with pytest.raises(ScenarioError, match="no BMS sensor"):
        faults.sensor_offset(make_bench(), role="gear", offset=1.0)


# -- nodes and the bus -----------------------------------------------------------------------
def test_node_silent_stops_the_message_and_the_dut_stops(make_bench) -> None:
    bench = make_bench()
    cap = Capture(bench, PACK)
    at(bench, 2.0, "node_silent", node="bms", duration_s=3.0)
    bench.run_for(2.9)
    assert bench.monitor.latest["cu_state"] == "SAFE_STOP" and bench.monitor.latest["cu_reason"] == "BMS_STALE"
    bench.run_for(5.1)
    assert cap.between(2.0, 5.0) == []
    assert len(cap.between(5.0, 6.0)) == pytest.approx(50, abs=1)
    assert bench.monitor.latest["cu_state"] == "RUNNING"      # after the 2 s resume hold


def test_bus_off_silences_everyone_then_recovers(make_bench) -> None:
    bench = make_bench()
    at(bench, 2.0, "bus_off", duration_s=1.0)
    counts = []
    for t in (2.01, 2.99, 4.0):
        bench.run_for(t - bench.now)
        counts.append(bench.monitor.frames)
    assert counts[1] == counts[0]                  # nothing on the bus for 1 s
    assert counts[2] - counts[1] > 150             # everybody back (~200 frames/s)
    assert bench.monitor.latest["cu_state"] == "SAFE_STOP"   # the DUT's inputs went stale meanwhile
    bench.run_for(3.0)
    assert bench.monitor.latest["cu_state"] == "RUNNING"


def test_bus_off_needs_a_duration(make_bench) -> None:
    with pytest.raises(ScenarioError, match="duration_s > 0"):
        faults.bus_off(make_bench(), duration_s=0.0)


# -- charging and climate ---------------------------------------------------------------------
def test_plug_yank_and_replug(make_bench) -> None:
    bench = make_bench(plugged_in=True)
    at(bench, 5.0, "plug_yank", duration_s=3.0)
    bench.run_for(10.0)
    assert value_at(bench, "plug_present", 4.9) == 1 and value_at(bench, "charge_current_a", 4.9) > 1
    assert value_at(bench, "plug_present", 6.0) == 0 and value_at(bench, "charge_current_a", 7.0) == 0
    assert value_at(bench, "plug_present", 9.0) == 1


def test_heat_wave_ramps_ambient_and_coolant_in_steps(make_bench) -> None:
    bench = make_bench(ambient_c=20.0, coolant_c=30.0)
    at(bench, 1.0, "heat_wave", to_c=40.0, coolant_c=60.0, ramp_s=20.0, step_s=5.0, duration_s=40.0)
    bench.run_for(70.0)
    assert value_at(bench, "ambient_temp_c", 5.0) == 20.0
    assert value_at(bench, "ambient_temp_c", 12.0) == 30.0          # two of four steps
    assert value_at(bench, "ambient_temp_c", 25.0) == 40.0
    assert value_at(bench, "coolant_temp_c", 25.0) == 60.0
    assert value_at(bench, "ambient_temp_c", 69.0) == 20.0          # the weather turned back
    assert value_at(bench, "coolant_temp_c", 69.0) == 30.0


def test_cold_soak_sets_cells_and_ambient(make_bench) -> None:
    bench = make_bench(chemistry="sodium_ion", ambient_c=10.0)
    at(bench, 1.0, "cold_soak", temp_c=-25.0, duration_s=2.0)
    bench.run_for(4.0)
    assert value_at(bench, "min_cell_temp_c", 2.0) == pytest.approx(-25.0, abs=1.0)
    assert value_at(bench, "ambient_temp_c", 2.0) == -25.0
    assert value_at(bench, "ambient_temp_c", 3.9) == 10.0
    assert value_at(bench, "min_cell_temp_c", 3.9) < -20.0          # cells warm up only slowly


# -- what a frame fault targets: a node, a role's message, or (escape hatch) a message ----------
@pytest.mark.parametrize(("fault", "params"), [
    ("drop", {"every_n": 2, "duration_s": 1.0}),
    ("corrupt", {"bits": 2, "count": 5}),
    ("bad_checksum", {"count": 3}),
    ("wrong_counter", {"mode": "skip", "duration_s": 0.5}),
    ("delay", {"delay_s": 0.3, "duration_s": 1.0}),
])
def test_a_role_targets_the_message_the_map_binds_it_to(make_bench, fault: str, params: dict) -> None:
    """``role = "pack_voltage_v"`` acts on exactly the frames ``message = "BMS_PackStatus"`` does."""
    frames = []
    for target in ({"message": PACK}, {"role": "pack_voltage_v"}, {"role": "soc_pct", "node": "bms"}):
        bench = make_bench()
        cap = Capture(bench, PACK)
        other = Capture(bench, "BMS_Limits")
        at(bench, 1.0, fault, **target, **params)
        bench.run_for(3.0)
        frames.append((cap.frames, other.frames))
    assert frames[0] == frames[1] == frames[2]
    plain = make_bench()
    cap, other = Capture(plain, PACK), Capture(plain, "BMS_Limits")
    plain.run_for(3.0)
    assert cap.frames != frames[0][0]        # the fault did act on the role's message...
    assert other.frames == frames[0][1]      # ...and on no other message of the node


def test_a_role_fault_leaves_the_node_s_other_messages_alone(make_bench) -> None:
    bench = make_bench()
    pack, limits = Capture(bench, PACK), Capture(bench, "BMS_Limits")
    at(bench, 1.0, "drop", role="discharge_current_limit_a", duration_s=1.0)
    bench.run_for(3.0)
    assert limits.between(1.0, 2.0) == [] and len(limits.between(2.0, 3.0)) == 10
    assert len(pack.between(1.0, 2.0)) == 50


def test_role_and_node_faults_refuse_what_the_map_does_not_bind(make_bench, tmp_path) -> None:
    from .helpers import map_without

    bench = make_bench(signal_map=map_without(tmp_path, "drive_requested"))
    with pytest.raises(ScenarioError, match='role "drive_requested" is not mapped'):
        faults.drop(bench, role="drive_requested")
    with pytest.raises(ScenarioError, match='comes from bms, not from node "vcu"'):
        faults.drop(bench, node="vcu", role="soc_pct")
    with pytest.raises(ScenarioError, match="not both"):
        faults.corrupt(bench, role="soc_pct", message=PACK)
    assert bench.bms.tx_filters == [] and bench.vcu.tx_filters == []


def test_a_sensor_fault_on_an_unmapped_role_is_refused_when_it_fires(make_bench, tmp_path) -> None:
    """A real compute unit needs no BMS role mapped: a sensor fault on one the map lacks is refused."""
    from .helpers import map_without

    bench = make_bench(emulate=frozenset({"bms", "vcu", "obc"}),
                       signal_map=map_without(tmp_path, "max_cell_temp_c"))
    with pytest.raises(ScenarioError, match='role "max_cell_temp_c" is not mapped'):
        faults.sensor_drift(bench, role="max_cell_temp_c", rate_per_s=1.0)
    assert "max_cell_temp_c" not in bench.bms.sensor_faults
    faults.sensor_drift(bench, role="min_cell_temp_c", rate_per_s=1.0)
    assert "min_cell_temp_c" in bench.bms.sensor_faults


# -- the car's own counters and checksums ----------------------------------------------------------
@pytest.fixture
def car_bench(make_bench, tmp_path) -> Bench:
    """A bench whose gear comes in a car message with a byte-sum checksum and a 4-bit counter."""
    from .helpers import protected_car

    _, smap = protected_car(tmp_path)
    return make_bench(signal_map=smap)


def _car_frames(bench: Bench) -> tuple[Capture, object]:
    from .helpers import CAR_VCU

    return Capture(bench, CAR_VCU), bench.codec.message(CAR_VCU).protection


def test_bad_checksum_on_the_car_s_own_scheme(car_bench) -> None:
    cap, protection = _car_frames(car_bench)
    at(car_bench, 1.0, "bad_checksum", role="gear", count=2)
    car_bench.run_for(2.0)
    bad = [data for _, data in cap.frames if not protection.checksum_ok(data)]
    assert len(bad) == 2
    counters = [protection.counter(data) for _, data in cap.frames]
    assert all((b - a) % 16 == 1 for a, b in zip(counters, counters[1:]))     # the counter is left alone
    assert car_bench.monitor.stats["CAR_Vcu"].e2e_errors >= 2                # a receiver of the scheme notices


@pytest.mark.parametrize("mode", ["repeat", "skip"])
def test_wrong_counter_on_the_car_s_own_scheme_keeps_the_checksum_valid(car_bench, mode: str) -> None:
    cap, protection = _car_frames(car_bench)
    at(car_bench, 1.0, "wrong_counter", role="ignition_on", mode=mode, count=3)
    car_bench.run_for(2.0)
    assert all(protection.checksum_ok(data) for _, data in cap.frames)
    counters = [protection.counter(data) for _, data in cap.frames]
    steps = [(b - a) % 16 for a, b in zip(counters, counters[1:])]
    assert steps.count(1) < len(steps)
    assert (0 in steps) if mode == "repeat" else (2 in steps)
    assert car_bench.monitor.stats["CAR_Vcu"].e2e_errors >= 1


def test_corrupt_on_the_car_s_own_scheme_fails_the_checksum_and_spares_the_counter(car_bench) -> None:
    cap, protection = _car_frames(car_bench)
    at(car_bench, 1.0, "corrupt", role="gear", bits=3, count=4)
    car_bench.run_for(2.0)
    assert sum(not protection.checksum_ok(data) for _, data in cap.frames) == 4
    counters = [protection.counter(data) for _, data in cap.frames]
    assert all((b - a) % 16 == 1 for a, b in zip(counters, counters[1:]))
