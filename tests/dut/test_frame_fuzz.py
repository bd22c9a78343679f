"""Frame fuzzing at the compute unit (issue 11, item 7): no exception, and never compute on unusable inputs.

Seeded random and mutated frames go onto the bus of a running bench in simulated time,
beside its normal traffic, through a handle of their own (:mod:`hilbench.dut.fuzzing`):
every 11-bit ID, DLC 0-8 and CAN FD lengths, remote, error and extended frames, a
brute-force walk over the counter and checksum bits of real safety frames, real frames
re-protected with chosen counters and changed data, one message's payload under another's
ID, bit flips, cut and padded payloads, jittered next frames, replays of earlier frames;
and now and then a node or a single message goes quiet.  After every tick of the unit the
watch reads its E2E receivers from outside the decision: permission to compute must imply
every input message it watches is usable.

The main run injects ``HILBENCH_FUZZ_FRAMES`` frames (50,000 by default) with seed
``HILBENCH_FUZZ_SEED`` (0).  The million, once::

    HILBENCH_FUZZ_FRAMES=1000000 pytest tests/dut/test_frame_fuzz.py -k default_bench -s -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import can
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BusConfig, load_bus_description, open_port
from hilbench.bus.codec import BenchCodec
from hilbench.dut.emulator import ComputeEmulator
from hilbench.dut.fuzzing import (
    FD_LENGTHS,
    STRATEGIES,
    FrameFuzzer,
    FuzzReport,
    FuzzSession,
    InvariantWatch,
    Mute,
)

ROOT = Path(__file__).resolve().parents[2]
FRAMES = int(os.environ.get("HILBENCH_FUZZ_FRAMES", "50000"))
SEED = int(os.environ.get("HILBENCH_FUZZ_SEED", "0"))
_CHANNELS = itertools.count()

def _mutes(bench: Bench) -> dict[str, Mute | tuple[Mute, tuple[float, float]]]:
    """Outages a session may call: each node's transmitter; each message of each node alone; and each
    protected input delayed by a gateway (0.45 s: data near its timeout; 0.6 s, 5 s: over it) for 2-8 s,
    its held frames still coming after."""
    muted: set[str] = set()
    delayed: dict[str, float] = {}

    def gateway(node) -> Callable[[str, can.Message], can.Message | None]:
        def tx_filter(name: str, msg: can.Message) -> can.Message | None:
            if name in muted:
                return None
            delay_s = delayed.get(name)
            if delay_s is not None:
                bench.clock.call_later(delay_s, lambda: node.port.send(msg))
                return None
            return msg
        return tx_filter

    def switch(table: set[str] | dict[str, float], name: str, value: float | None = None) -> Callable[[bool], None]:
        def mute(on: bool) -> None:
            if isinstance(table, dict):
                if on:
                    table[name] = value   # type: ignore[assignment]
                else:
                    table.pop(name, None)
            elif on:
                table.add(name)
            else:
                table.discard(name)
        return mute

    out: dict[str, Mute | tuple[Mute, tuple[float, float]]] = {}
    assert bench.dut is not None
    for node_name, node in bench.nodes.items():
        node.tx_filters.append(gateway(node))
        out[node_name] = lambda on, node=node: setattr(node, "silent", on)
        for name in bench.signal_map.messages_of(node_name):
            out[name] = switch(muted, name)
            if name in bench.dut.receivers:
                for delay_s in (0.45, 0.6, 5.0):
                    out[f"{name} delayed {delay_s} s"] = (switch(delayed, name, delay_s), (2.0, 8.0))
    return out


def run_fuzz(*, frames: int, seed: int, signal_map: Path | None = None, dut: dict | None = None,
             **session: object) -> FuzzReport:
    """A bench in simulated time, fuzzed through a handle of its own, every tick watched."""
    config = BenchConfig(soc_pct=70.0, ambient_c=25.0, seed=seed, keep_traces=False, signal_map=signal_map,
                         bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"), dut=dut or {})
    with Bench(config) as bench:
        assert bench.dut is not None
        port = open_port(config.bus, bench.clock, epoch_s=bench.epoch_s, polled_by_owner=True)
        bus = port.bus
        try:
            watch = InvariantWatch(bench.dut).install()
            fuzz = FuzzSession(bench.clock, port, FrameFuzzer(bench.codec, seed), frames=frames, seed=seed,
                               watch=watch, mutes=_mutes(bench), **session)  # type: ignore[arg-type]
            bench.start()
            report = fuzz.run(settle_s=10.0)     # every outage over, the last held frames out
            # Liveness, reported (not asserted; see the jittery-gateway tests): with clean traffic
            # only, does the unit compute again?
            bench.run_for(30.0)
            unusable = {n: f"{r.state.name} lag {r.lag_s:.3f} s" for n, r in bench.dut.receivers.items()
                        if not r.usable(bench.now)}
            report.extra["after 30 s of clean traffic"] = (
                "computing" if bench.dut.last_decision.computes and not unusable
                else f"{bench.dut.last_decision.state.name}/{bench.dut.last_decision.reason}, {unusable}")
            report.extra["counter x checksum walk"] = {k: round(v, 3) for k, v in fuzz.fuzzer.walk_coverage().items()}
            report.extra["bus monitor"] = (f"{bench.monitor.frames} frames, {bench.monitor.unknown_frames} unknown, "
                                           f"{bench.monitor.decode_errors} undecodable, "
                                           f"{bench.monitor.e2e_errors} E2E errors")
            return report
        finally:
            bus.shutdown()


@pytest.fixture(autouse=True)
def _quiet_monitor(caplog: pytest.LogCaptureFixture) -> None:
    # The bus monitor logs every frame it cannot decode: tens of thousands here.
    caplog.set_level(logging.ERROR, logger="hilbench")


def _assert_clean(report: FuzzReport) -> None:
    assert report.violations == 0, report.summary()
    assert report.computing_ticks > 0, "the unit never computed: the invariant was never put to the test"


# -- the main run ---------------------------------------------------------------------------------
def test_the_default_bench_survives_fuzzed_frames_and_never_computes_on_unusable_inputs() -> None:
    report = run_fuzz(frames=FRAMES, seed=SEED)
    print(report.summary())
    assert report.frames == FRAMES
    _assert_clean(report)
    assert report.ticks >= report.simulated_s / 0.1 - 1
    # Not vacuous: the unit computed under fire for a good share of the time, every receiver
    # saw every kind of bad frame, went INVALID and came back, and every ID and length was sent.
    assert report.computing_ticks >= 0.15 * report.ticks, report.summary()
    assert set(report.by_strategy) == set(STRATEGIES)
    for name, errors in report.receiver_errors.items():
        assert set(errors) == {"ERROR", "REPEATED", "WRONG_SEQUENCE"}, (name, errors)
        assert report.transitions.get(f"{name}->INVALID", 0) >= 3, (name, report.transitions)
        assert report.transitions.get(f"{name}->VALID", 0) >= 3, (name, report.transitions)
    assert report.stopped.get("E2E_ERROR", 0) > 0 and report.stopped.get("BMS_STALE", 0) > 0
    if FRAMES >= 20_000:
        assert report.ids_covered == 0x800
        assert set(report.lengths_covered) == set(range(9)) | set(FD_LENGTHS)


def test_a_lab_car_with_unprotected_multiplexed_inputs_survives_fuzzed_frames(tmp_path: Path) -> None:
    """Unprotected inputs (a BMS message in three pages, the charger) are watched by their own probe;
    the vehicle message has the car's sum checksum and a counter, once every 500 ms."""
    spec = importlib.util.spec_from_file_location("lab_car", ROOT / "tests" / "foreign" / "lab_car.py")
    assert spec is not None and spec.loader is not None
    lab_car = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab_car)
    report = run_fuzz(frames=8000, seed=SEED, signal_map=lab_car.write_car(tmp_path), calm_s=(8.0, 20.0))
    print(report.summary())
    _assert_clean(report)
    assert report.receiver_errors.keys() == {"VCU_Slow"}


FOREIGN_MAPS = sorted((ROOT / "fixtures" / "foreign").glob("*.signals.toml"))


@pytest.mark.parametrize("signal_map", FOREIGN_MAPS, ids=lambda p: p.name.removesuffix(".signals.toml"))
def test_real_car_maps_survive_fuzzed_frames(signal_map: Path) -> None:
    """opendbc cars: the car's own counter and checksum schemes (CRC-8, sums, 0..14 counters) beside profile 2."""
    pytest.importorskip("opendbc", reason="the foreign maps bind opendbc's car DBCs (pip install -e '.[test]')")
    report = run_fuzz(frames=2000, seed=SEED, signal_map=signal_map)
    _assert_clean(report)


# -- the watch can fail ---------------------------------------------------------------------------
def _ignores_freshness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ComputeEmulator, "_fresh_since", lambda self, keys, oldest: True)
    monkeypatch.setattr(ComputeEmulator, "_fresh", lambda self, groups, now: True)


def _ignores_invalid_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    start = ComputeEmulator.start

    def start_blind(self: ComputeEmulator) -> None:
        self._receivers_list = ()    # observe() no longer sees an INVALID receiver
        start(self)

    monkeypatch.setattr(ComputeEmulator, "start", start_blind)


@pytest.mark.parametrize(("broken", "dut"), [
    (None, {"defect": "ignore_stale"}),                  # the supervisor's seeded defect
    (_ignores_freshness, {}),                             # the unit never finds an input stale
    (_ignores_invalid_receivers, {}),                     # the unit never sees a receiver go INVALID
], ids=["supervisor_ignores_stale", "unit_ignores_freshness", "unit_ignores_invalid"])
def test_the_watch_catches_a_unit_that_computes_on_unusable_inputs(
        monkeypatch: pytest.MonkeyPatch, broken: Callable[[pytest.MonkeyPatch], None] | None, dut: dict) -> None:
    if broken is not None:
        broken(monkeypatch)
    report = run_fuzz(frames=5000, seed=SEED, dut=dut)
    assert report.violations > 0, report.summary()


def test_a_frame_late_within_tolerance_and_then_silence_never_lets_the_unit_compute_on_stale_data() -> None:
    config = BenchConfig(soc_pct=70.0, ambient_c=25.0, bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"))
    with Bench(config) as bench:
        assert bench.dut is not None
        watch = InvariantWatch(bench.dut).install()
        name = "BMS_Faults"
        codec = bench.codec.message(name)
        assert codec.protection is not None and codec.cycle_time_s == 0.1
        frames: list[tuple[float, bytes]] = []
        bench.restbus.add_tap(lambda msg: frames.append((bench.now, bytes(msg.data)))
                              if msg.arbitration_id == codec.frame_id else None)
        silenced = [False]
        bench.bms.tx_filters.append(lambda n, msg: None if silenced[0] and n == name else msg)
        bench.run_for(10.0)
        assert bench.dut.last_decision.computes
        last_s, data = frames[-1]
        silenced[0] = True      # the message stops: one more frame comes, 10 ms late, then nothing
        late = bytearray(data)
        codec.protection.protect(late, codec.protection.counter(late) + 1)
        bench.clock.call_at(last_s + codec.cycle_time_s + 0.010, lambda: bench.restbus.send(
            can.Message(arbitration_id=codec.frame_id, is_extended_id=False, data=bytes(late))))
        bench.run_for(1.5)
        assert not bench.dut.last_decision.computes      # it stopped (BMS_STALE) ...
        assert watch.violations == 0, [str(v) for v in watch.first_violations]    # ... but one tick late


# -- found by fuzzing -------------------------------------------------------------------------------
def test_run_for_a_duration_off_the_microsecond_grid_returns() -> None:
    with Bench(BenchConfig(bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"), keep_traces=False)) as bench:
        bench.run_for(1.0)
        run_until = bench.clock.run_until
        calls = [0]

        def bounded(until_s: float) -> None:    # the test must fail, not hang
            calls[0] += 1
            if calls[0] > 1000:
                raise RuntimeError(f"run_for(0.1234564) has not returned after {calls[0] - 1} calls of "
                                   f"run_until; now = {bench.clock.now!r}")
            run_until(until_s)

        bench.clock.run_until = bounded   # type: ignore[method-assign]
        bench.run_for(0.1234564)           # 0.4 us past a whole microsecond
        assert bench.clock.now_us == 1_123_456


def _jittery_gateway(bench: Bench, name: str, delay_s: float, jitter_s: float, seed: int = 1) -> list[bool]:
    """Hold ``name``'s frames ``delay_s`` +- ``jitter_s`` (in order) while the returned switch is on."""
    rng = np.random.default_rng(seed)
    node = next(n for p, n in bench.nodes.items() if name in bench.signal_map.messages_of(p))
    on = [False]

    def tx_filter(message: str, msg: can.Message) -> can.Message | None:
        if on[0] and message == name:
            bench.clock.call_later(delay_s + float(rng.uniform(-jitter_s, jitter_s)), lambda: node.port.send(msg))
            return None
        return msg

    node.tx_filters.append(tx_filter)
    return on


@pytest.mark.parametrize(("delay_s", "jitter_s", "minutes"), [(0.6, 0.01, 1), (5.0, 0.03, 3)])
def test_a_delayed_stream_with_jitter_never_passes_for_fresh(delay_s: float, jitter_s: float, minutes: int) -> None:
    """A gateway holds the VCU's frames 0.6 s (5 s), each a few ms more or less: the data stays that old."""
    config = BenchConfig(soc_pct=70.0, ambient_c=25.0, keep_traces=False,
                         bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"))
    with Bench(config) as bench:
        assert bench.dut is not None
        delaying = _jittery_gateway(bench, "VCU_VehicleStatus", delay_s, jitter_s)
        bench.run_for(10.0)
        assert bench.dut.last_decision.computes
        delaying[0] = True
        bench.run_for(2.0)
        computed_at = []
        for _ in range(minutes * 600):
            bench.run_for(0.1)
            if bench.dut.last_decision.computes:
                computed_at.append(round(bench.now, 1))
        receiver = bench.dut.receivers["VCU_VehicleStatus"]
        assert computed_at == [], (f"computed on VCU data {delay_s} s old from {computed_at[0]} s on "
                                   f"({len(computed_at)} ticks); the receiver's lag is {receiver.lag_s:.3f} s")


def test_the_unit_computes_again_once_a_jittery_gateway_delay_is_over() -> None:
    config = BenchConfig(soc_pct=70.0, ambient_c=25.0, keep_traces=False,
                         bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"))
    with Bench(config) as bench:
        assert bench.dut is not None
        delaying = _jittery_gateway(bench, "VCU_VehicleStatus", 0.3, 0.01)
        bench.run_for(10.0)
        delaying[0] = True          # 0.3 s: within the 0.5 s timeout, 10 ms of jitter
        bench.run_for(20.0)
        delaying[0] = False         # the gateway lets go (its held frames still come out)
        bench.run_for(30.0)
        receiver = bench.dut.receivers["VCU_VehicleStatus"]
        assert bench.dut.last_decision.computes, (
            f"{bench.dut.last_decision}; VCU receiver {receiver.state.name}, lag {receiver.lag_s:.3f} s, "
            f"errors {receiver.errors}")


# -- the generator itself -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codec() -> BenchCodec:
    description = load_bus_description()
    return BenchCodec(description.db, description.signal_map)


def _real_frame(codec: BenchCodec, name: str, counter: int = 3) -> can.Message:
    sender = codec.fresh_sender(name)
    sender.counter = counter % 16
    return sender.encode({"soc_pct": 70.0, "pack_voltage_v": 390.0, "gear": "P"})


def test_the_generator_is_seeded_and_makes_only_frames_a_can_controller_could_send(codec: BenchCodec) -> None:
    def frames(seed: int) -> list[tuple]:
        fuzzer = FrameFuzzer(codec, seed)
        out = []
        for i in range(3000):
            if i % 10 == 0:
                fuzzer.observe(_real_frame(codec, "BMS_PackStatus", i), i * 0.02)
            strategy, made = fuzzer.next_injection(i * 0.001)
            for delay, msg in made:
                if msg.is_fd:
                    assert len(msg.data) in (*range(9), *FD_LENGTHS)
                    assert not msg.is_remote_frame
                else:
                    assert len(msg.data) <= 8
                assert msg.is_extended_id or msg.arbitration_id <= 0x7FF
                out.append((strategy, delay, msg.arbitration_id, msg.is_extended_id, msg.is_fd,
                            msg.is_remote_frame, msg.is_error_frame, msg.dlc, bytes(msg.data)))
        return out

    first = frames(7)
    assert first == frames(7)
    assert first != frames(8)


def test_the_id_walk_sends_every_11_bit_id_once_per_2048_frames(codec: BenchCodec) -> None:
    fuzzer = FrameFuzzer(codec, 1, weights={name: 0.0 for name in STRATEGIES} | {"any_id": 1.0})
    standard: list[int] = []
    while len(standard) < 2 * 0x800:
        _strategy, [(_delay, msg)] = fuzzer.next_injection(0.0)
        if not (msg.is_extended_id or msg.is_error_frame):
            standard.append(msg.arbitration_id)
    assert sorted(standard[:0x800]) == list(range(0x800))
    assert sorted(standard[0x800:]) == list(range(0x800))


def test_the_counter_and_checksum_walk_covers_every_combination_once(codec: BenchCodec) -> None:
    """Profile 2: 16 counters x 256 checksums; exactly one checksum per counter is right."""
    weights = {name: 0.0 for name in STRATEGIES} | {"counter_crc": 1.0}
    fuzzer = FrameFuzzer(codec, 2, weights=weights)
    names = list(fuzzer.walk_coverage())
    for name in names:   # one real frame of every protected input, so the walk aims at all of them
        fuzzer.observe(_real_frame(codec, name), 0.0)
    seen: dict[str, set[tuple[int, int]]] = {name: set() for name in names}
    right: dict[str, int] = dict.fromkeys(names, 0)
    by_id = {codec.message(name).frame_id: name for name in names}
    while min(fuzzer.walk_coverage().values()) < 1.0:
        _strategy, [(_delay, msg)] = fuzzer.next_injection(0.0)
        name = by_id[msg.arbitration_id]
        combo = (msg.data[1] & 0x0F, msg.data[0])
        if combo not in seen[name]:
            seen[name].add(combo)
            right[name] += codec.message(name).protection.checksum_ok(msg.data)
    assert all(len(combos) == 16 * 256 for combos in seen.values())
    assert set(right.values()) == {16}


# -- hypothesis: short, shrinkable attack sequences -------------------------------------------------
class FuzzedBench(RuleBasedStateMachine):
    """A bench computing; hypothesis picks what to inject, when, and which sender goes quiet.

    Each example is a fresh bench; a violation or an exception shrinks to the shortest
    sequence of injections, waits and outages that shows it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bench: Bench | None = None
        self.bus: can.BusABC | None = None

    @initialize(seed=st.integers(0, 2**16))
    def start(self, seed: int) -> None:
        config = BenchConfig(soc_pct=70.0, ambient_c=25.0, keep_traces=False,
                             bus=BusConfig("simtime", f"fuzz-{next(_CHANNELS)}"))
        self.bench = bench = Bench(config)
        assert bench.dut is not None
        self.port = open_port(config.bus, bench.clock, epoch_s=bench.epoch_s, polled_by_owner=True)
        self.bus = self.port.bus
        self.fuzzer = FrameFuzzer(bench.codec, seed)
        self.port.add_tap(lambda msg: self.fuzzer.observe(msg, bench.now))
        self.watch = InvariantWatch(bench.dut).install()
        self.mutes = _mutes(bench)
        bench.run_for(1.0)

    def _send_later(self, delay_s: float, msg: can.Message) -> None:
        assert self.bench is not None
        if delay_s <= 0:
            self.port.send(msg)
        else:
            self.bench.clock.call_later(delay_s, lambda: self.port.send(msg))

    @rule(strategy=st.sampled_from(STRATEGIES), count=st.integers(1, 40),
          spacing_ms=st.integers(0, 120))
    def inject(self, strategy: str, count: int, spacing_ms: int) -> None:
        assert self.bench is not None
        for _ in range(count):
            self.port.poll()
            _made, frames = self.fuzzer.make(strategy, self.bench.now)
            for delay_s, msg in frames:
                self._send_later(delay_s, msg)
            self.bench.run_for(spacing_ms / 1000.0)

    @rule(ms=st.integers(0, 4000))
    def wait(self, ms: int) -> None:
        # Whole milliseconds: Bench.run_for hangs on a duration just past a whole microsecond
        # (see test_run_for_a_duration_off_the_microsecond_grid_returns).
        assert self.bench is not None
        self.bench.run_for(ms / 1000.0)

    @rule(data=st.data(), ms=st.integers(20, 2000))
    def outage(self, data: st.DataObject, ms: int) -> None:
        assert self.bench is not None
        name = data.draw(st.sampled_from(sorted(self.mutes)))
        mute = self.mutes[name]
        if isinstance(mute, tuple):
            mute = mute[0]
        mute(True)
        self.bench.clock.call_later(ms / 1000.0, lambda: mute(False))

    @invariant()
    def never_computes_on_unusable_inputs(self) -> None:
        if self.bench is not None:
            assert self.watch.violations == 0, [str(v) for v in self.watch.first_violations]

    def teardown(self) -> None:
        if self.bus is not None:
            self.bus.shutdown()
        if self.bench is not None:
            self.bench.close()


FuzzedBench.TestCase.settings = settings(
    max_examples=int(os.environ.get("HILBENCH_FUZZ_EXAMPLES", "20")), stateful_step_count=15, deadline=None,
    derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
test_hypothesis_attack_sequences_never_break_the_unit = FuzzedBench.TestCase
