"""simspeed: how fast the default bench runs in simulated time, against a bare python-can loop.

Three measurements in one process:

1. **The default session**: what ``hilbench run`` calls the default session,
   ``fixtures/scenarios/overnight.toml`` (8 h parked, NMC, every node and the
   compute DUT emulated, plugged in for 4 h, a cold spell at 7 h), built from
   its initial conditions and steps exactly as the scenario runner builds it,
   without the checks.  Every message at its DBC cycle time, encoded, sent,
   received and decoded.  Wall time gives ``sim_speed_factor``; the monitor's
   frame count gives frames per simulated and per wall second; the frame mix
   gives the bus load the session would put on a real 500 kbit/s (CAN FD:
   2 Mbit/s data phase) bus.
2. **A charging hour**: ``Bench(BenchConfig())`` (NMC at 80 %, 25 C) plugged in
   for the middle half of one hour: the hardest hour for the caches, since the
   per-cell frames change while charging.  Reported beside the first as
   ``charge_hour_speed_factor``.
3. **The bare loop** (the baseline): the first ``CAPTURE_FRAMES`` frames the
   default session put on its bus (captured by a tap in a separate, identical and
   therefore bit-identical run, so the timed run carries no capture cost),
   each replayed as cantools encode -> ``can.Message`` -> send on python-can's
   ``virtual`` interface -> ``recv`` on a second handle -> cantools decode,
   with no plant, scheduler or DUT.  ``vs_bare_loop`` says what fraction of
   that ceiling the whole closed loop keeps.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import can

from _report import Report

NAME = "simspeed"
DESCRIPTION = "simulated-time speed of the default bench vs a bare cantools + python-can virtual loop"

DEFAULT_SESSION = "overnight.toml"   # in fixtures/scenarios: what `hilbench run` calls the default session
QUICK_SESSION_S = 1800.0     # --quick: the default session's first half hour only
CHARGE_HOUR_S = 3600.0
QUICK_CHARGE_HOUR_S = 600.0
PLUG_IN_AT = 0.25            # fraction of the charging hour
UNPLUG_AT = 0.75
CAPTURE_FRAMES = 50_000
QUICK_CAPTURE_FRAMES = 10_000
BARE_REPEATS = 2             # before and again after the timed bench run

TARGET_SIM_SPEED = 500.0
TARGET_VS_BARE = 0.5

# Bus timing (../shared/DOMAIN.md "CAN timing").
NOMINAL_BITRATE = 500_000
FD_DATA_BITRATE = 2_000_000
FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)


# -- bus load -------------------------------------------------------------------

def classic_frame_bits(n_bytes: int, extended: bool) -> int:
    """Worst-case bits on the wire of a classic CAN data frame (incl. 3-bit intermission).

    47 + 8n bits unstuffed for an 11-bit ID, plus worst-case stuff bits
    (34 + 8n - 1) // 4 (24 for n = 8, so 135 bits); an extended ID adds 20 bits.
    """
    bits = 47 + 8 * n_bytes + (34 + 8 * n_bytes - 1) // 4
    return bits + (20 if extended else 0)


def fd_frame_time_s(n_bytes: int, extended: bool, brs: bool = True) -> float:
    """Worst-case time on the wire of a CAN FD data frame.

    Arbitration phase at 500 kbit/s: SOF, ID (11 or 29 + SRR/IDE), RRS, IDE,
    FDF, res, BRS (17 bits, 36 extended) with worst-case stuff bits, and
    after the data phase CRC delimiter, ACK slot and delimiter, EOF (7) and
    intermission (3).  Data phase at 2 Mbit/s (when BRS): ESI, DLC (4), the
    data with worst-case dynamic stuff bits, the stuff count (4), the CRC
    (17 up to 16 bytes, else 21) and its fixed stuff bits (one per 4 bits of
    stuff count + CRC).  Payload lengths round up to the next valid FD length.
    """
    n = next(length for length in FD_LENGTHS if length >= n_bytes)
    arb = 36 if extended else 17
    nominal_bits = arb + (arb - 1) // 4 + 1 + 2 + 7 + 3
    crc = 17 if n <= 16 else 21
    dynamic = 5 + 8 * n
    data_bits = dynamic + (dynamic - 1) // 4 + 4 + crc + -(-(4 + crc) // 4)
    data_rate = FD_DATA_BITRATE if brs else NOMINAL_BITRATE
    return nominal_bits / NOMINAL_BITRATE + data_bits / data_rate


def frame_time_s(n_bytes: int, extended: bool, fd: bool, brs: bool = True) -> float:
    if fd:
        return fd_frame_time_s(n_bytes, extended, brs)
    return classic_frame_bits(n_bytes, extended) / NOMINAL_BITRATE


# -- the bench --------------------------------------------------------------------

@dataclass
class BenchRun:
    sim_s: float
    wall_s: float
    frames: int
    bus_time_s: float
    frame_mix: Counter
    counts: dict[str, int]
    unknown_frames: int
    decode_errors: int
    e2e_errors: int
    dut: bool
    captured: list[tuple[Any, dict[str, float], can.Message]]


def _default_session(limit_s: float | None):
    """The default session's bench, with its steps scheduled as the scenario runner does."""
    from hilbench.bench import Bench
    from hilbench.resources import scenarios_dir
    from hilbench.scenarios import RunOptions, load_scenario
    from hilbench.scenarios.runner import bench_config, schedule_steps

    scenario = load_scenario(scenarios_dir() / DEFAULT_SESSION)
    bench = Bench(bench_config(scenario, RunOptions()))
    schedule_steps(bench, scenario)
    duration = scenario.duration_s if limit_s is None else min(limit_s, scenario.duration_s)
    return bench, duration, f"{scenario.name} ({DEFAULT_SESSION})"


def _charge_hour(session_s: float):
    from hilbench.bench import Bench, BenchConfig

    bench = Bench(BenchConfig())
    bench.clock.call_at(session_s * PLUG_IN_AT, bench.evse.plug_in)
    bench.clock.call_at(session_s * UNPLUG_AT, bench.evse.unplug)
    return bench, session_s, f"charging hour, plugged in {PLUG_IN_AT * session_s:.0f}-{UNPLUG_AT * session_s:.0f} s"


def run_bench(made, *, capture: int = 0) -> BenchRun:
    """Run a session built by ``made`` = (bench, duration, label); with ``capture`` > 0
    also keep that many frames (message, signals, frame)."""
    bench, session_s, _ = made
    captured: list[tuple[Any, dict[str, float], can.Message]] = []
    with bench:
        if capture:
            db = bench.db
            by_id = {(m.frame_id, m.is_extended_frame): m for m in db.messages}

            def tap(msg: can.Message) -> None:
                if len(captured) < capture:
                    message = by_id.get((msg.arbitration_id, msg.is_extended_id))
                    if message is None:
                        return
                    signals = message.decode(bytes(msg.data), decode_choices=False)
                    captured.append((message, signals, msg))
                else:
                    bench.clock.stop()

            bench.restbus.add_tap(tap)
        bench.start()
        t0 = time.perf_counter()
        if capture:
            # stop() ends run_until after the current event; keep going until we have enough
            while len(captured) < capture and bench.now < session_s - 1e-9:
                bench.clock.run_until(session_s)
        else:
            bench.run_for(session_s)
        wall_s = time.perf_counter() - t0
        monitor = bench.monitor
        mix: Counter = Counter()
        counts = {}
        for name, stats in monitor.stats.items():
            if stats.count:
                message = bench.db.get_message_by_name(name)
                mix[(message.length, message.is_extended_frame, message.is_fd)] += stats.count
                counts[name] = stats.count
        if monitor.unknown_frames:
            mix[(8, False, False)] += monitor.unknown_frames  # counted as classic 8-byte frames
        bus_time = sum(frame_time_s(n, ext, fd) * c for (n, ext, fd), c in mix.items())
        return BenchRun(sim_s=bench.now, wall_s=wall_s, frames=monitor.frames, bus_time_s=bus_time,
                        frame_mix=mix, counts=counts, unknown_frames=monitor.unknown_frames,
                        decode_errors=monitor.decode_errors, e2e_errors=monitor.e2e_errors, dut=bench.dut is not None,
                        captured=captured)


# -- the bare loop ----------------------------------------------------------------

def bare_loop(captured: list[tuple[Any, dict[str, float], can.Message]], db) -> float:
    """Frames/s of encode -> virtual send -> recv -> decode over the captured frames."""
    channel = f"hilbench-bare-{time.monotonic_ns()}"
    bus_a = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
    bus_b = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
    try:
        frames = [(message, signals, frame.arbitration_id, frame.is_extended_id, frame.is_fd,
                   frame.bitrate_switch, frame.timestamp) for message, signals, frame in captured]
        decode = db.decode_message
        send, recv, Message = bus_a.send, bus_b.recv, can.Message
        t0 = time.perf_counter()
        for message, signals, frame_id, ext, fd, brs, ts in frames:
            data = message.encode(signals, strict=False)
            send(Message(timestamp=ts, arbitration_id=frame_id, data=data, is_extended_id=ext,
                         is_fd=fd, bitrate_switch=brs))
            msg = recv(1.0)
            decode(msg.arbitration_id, msg.data, decode_choices=False)
        elapsed = time.perf_counter() - t0
    finally:
        bus_a.shutdown()
        bus_b.shutdown()
    return len(frames) / elapsed


# -- the benchmark ----------------------------------------------------------------

def run(quick: bool = False) -> Report:
    report = Report(NAME)
    limit_s = QUICK_SESSION_S if quick else None
    hour_s = QUICK_CHARGE_HOUR_S if quick else CHARGE_HOUR_S
    capture_n = QUICK_CAPTURE_FRAMES if quick else CAPTURE_FRAMES

    capture = run_bench(_default_session(limit_s), capture=capture_n)
    db = _db()
    # Baseline before and after the timed runs, so load from elsewhere on a shared machine hits both.
    bare_rates = [bare_loop(capture.captured, db) for _ in range(BARE_REPEATS)]
    made = _default_session(limit_s)
    label = made[2]
    timed = run_bench(made)
    hour = run_bench(_charge_hour(hour_s))
    bare_rates += [bare_loop(capture.captured, db) for _ in range(BARE_REPEATS)]
    bare_rate = statistics.median(bare_rates)

    speed = timed.sim_s / timed.wall_s
    bench_rate = timed.frames / timed.wall_s
    report.add("sim_s", timed.sim_s, "simulated time", "{:,.0f}", "s", label)
    report.add("bench_wall_s", timed.wall_s, "wall time", "{:,.2f}", "s")
    report.target("sim_speed_factor", speed, "simulation speed, default session", TARGET_SIM_SPEED,
                  fmt="{:,.0f}", unit="x")
    report.add("frames", timed.frames, "frames on the bus (monitor)", "{:,.0f}")
    report.add("frames_per_sim_s", timed.frames / timed.sim_s, "frames per simulated second", "{:,.1f}")
    report.add("bench_frames_per_s", bench_rate, "bench frames per wall second", "{:,.0f}")
    report.add("bus_load_pct", timed.bus_time_s / timed.sim_s * 100.0, "bus load, worst-case stuffing",
               "{:.2f}", "%", "500 kbit/s, FD data 2 Mbit/s")
    report.add("charge_hour_speed_factor", hour.sim_s / hour.wall_s, "simulation speed, charging hour",
               "{:,.0f}", "x", f"Bench(BenchConfig()), {hour.sim_s:,.0f} s, plugged in for the middle half")
    report.add("bare_frames_per_s", bare_rate, "bare loop frames per wall second", "{:,.0f}",
               comment=f"median of {len(bare_rates)} x {len(capture.captured):,} frames: "
                       + ", ".join(f"{r:,.0f}" for r in bare_rates))
    report.target("vs_bare_loop", bench_rate / bare_rate, "bench / bare loop", TARGET_VS_BARE)
    report.add("dut_emulated", 1.0 if timed.dut else 0.0, "compute DUT in the loop", "{:.0f}")
    report.add("unknown_frames", timed.unknown_frames + hour.unknown_frames, "unknown frames", "{:,.0f}")
    report.add("decode_errors", timed.decode_errors + hour.decode_errors, "decode errors", "{:,.0f}")
    report.add("e2e_errors", timed.e2e_errors + hour.e2e_errors, "E2E check failures", "{:,.0f}")

    mix = ", ".join(f"{name} {count / timed.sim_s:.1f}/s" for name, count in timed.counts.items())
    report.note(f"frame rates: {mix}")
    return report


def _db():
    from hilbench.bus import load_bus_description

    return load_bus_description().db
