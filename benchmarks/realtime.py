"""realtime: the bench on a wall-clock bus: receive throughput and latency, periodic send jitter.

Three measurements on python-can's ``virtual`` interface in one process (no CAN hardware or
SocketCAN here), a sender thread on one handle and the bench's receive path on another:

1. **Sustained receive through decode.**  ``RX_FRAMES`` frames of ``BMS_PackStatus`` (each a
   fresh encode with its alive counter and CRC) sent as fast as the sender can; the bench's
   port drains them and its monitor decodes and E2E-checks every one.  Frames per second
   over the whole run, none lost (``rx_lost`` counts frames sent but not decoded),
   against the 1 Mbit/s classic CAN ceiling of about 9,000 eight-byte frames per second
   (``rx_vs_1mbit_limit``).
2. **Receive latency.**  The same path paced at ``LATENCY_RATE_HZ``: each frame carries its
   send time, the monitor's tap takes the difference (``rx_latency_p99_ms``).
3. **Periodic send jitter at 10 ms**, receiver-timed on a second handle: the bench's wall
   clock sending a frame it re-encodes every time (live value, counter, CRC) against
   python-can's own ``send_periodic`` of a fixed frame, in the same run, each for
   ``TX_S`` seconds, idle and then with both cores loaded by two busy processes
   (``tx_jitter_p99_ms``, ``python_can_tx_jitter_p99_ms``, and ``..._loaded``).  Jitter is
   |interval - 10 ms| between consecutive frames.
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable

import can
import numpy as np

from _report import Report

NAME = "realtime"
DESCRIPTION = "wall-clock bus: receive throughput and latency through decode, 10 ms send jitter vs python-can"

RX_FRAMES = 60_000
QUICK_RX_FRAMES = 10_000
LATENCY_FRAMES = 4_000
LATENCY_RATE_HZ = 2_000.0
TX_PERIOD_S = 0.010
TX_S = 10.0
QUICK_TX_S = 3.0
CLASSIC_1MBIT_FRAMES_PER_S = 9_000.0   # 1 Mbit/s over ~111 bits per 8-byte frame (stuffed, with gaps)
MESSAGE = "BMS_PackStatus"


def _channel(tag: str) -> str:
    return f"hilbench-realtime-{tag}-{time.monotonic_ns()}"


def _codec():
    from hilbench.bus import BenchCodec, load_bus_description

    description = load_bus_description()
    return BenchCodec(description.db, description.signal_map)


def _frames(codec, count: int) -> list[can.Message]:
    """``count`` fresh frames of MESSAGE: a changing value, so every one is a real encode with counter and CRC."""
    sender = codec.fresh_sender(MESSAGE)
    role = next(slot.role for slot in sender.slots if slot.role.startswith("pack_voltage"))
    return [sender.encode({role: 350.0 + (k % 500) * 0.1}) for k in range(count)]


def _receiver(channel: str):
    """The bench's receive path: a wall-clock port on ``channel`` with the bench monitor on its taps."""
    from hilbench.bus import BusConfig, BusMonitor, open_port
    from hilbench.clock import WallClock

    codec = _codec()
    clock = WallClock()
    port = open_port(BusConfig("virtual", channel), clock)
    monitor = BusMonitor(codec, epoch_s=clock.epoch_s, keep_traces=False)
    port.add_tap(monitor)
    return port, monitor


def _rx_throughput(count: int) -> tuple[float, int, int]:
    """(frames/s decoded, frames lost, decode or E2E errors)."""
    channel = _channel("rx")
    port, monitor = _receiver(channel)
    frames = _frames(_codec(), count)
    sender = can.Bus(interface="virtual", channel=channel)
    try:
        thread = threading.Thread(target=lambda: [sender.send(f) for f in frames])
        t0 = time.perf_counter()
        thread.start()
        deadline = t0 + 120.0
        while monitor.frames < count and time.perf_counter() < deadline:
            port.poll(0.05)
        elapsed = time.perf_counter() - t0
        thread.join()
    finally:
        sender.shutdown()
        port.bus.shutdown()
    return monitor.frames / elapsed, count - monitor.frames, monitor.decode_errors + monitor.e2e_errors


def _rx_latency_ms(count: int) -> list[float]:
    channel = _channel("lat")
    port, monitor = _receiver(channel)
    latencies: list[float] = []
    port.add_tap(lambda msg: latencies.append((time.perf_counter() - msg.timestamp) * 1e3))
    frames = _frames(_codec(), count)
    sender = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)

    def paced() -> None:
        start = time.perf_counter()
        for k, frame in enumerate(frames):
            due = start + k / LATENCY_RATE_HZ
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.0005, due - now))
            frame.timestamp = time.perf_counter()
            sender.send(frame)

    try:
        thread = threading.Thread(target=paced)
        thread.start()
        deadline = time.perf_counter() + 60.0
        while len(latencies) < count and time.perf_counter() < deadline:
            port.poll(0.05)
        thread.join()
    finally:
        sender.shutdown()
        port.bus.shutdown()
    return latencies


def _intervals_jitter_ms(stamps: list[float]) -> list[float]:
    return [abs((b - a) - TX_PERIOD_S) * 1e3 for a, b in zip(stamps, stamps[1:], strict=False)]


def _listen(channel: str, seconds: float, start: Callable[[], Callable[[], None]]) -> list[float]:
    """Receive-side arrival times on ``channel`` for ``seconds`` while ``start()``'s sender runs."""
    listener = can.Bus(interface="virtual", channel=channel)
    stamps: list[float] = []
    stop_sender = start()
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            msg = listener.recv(0.05)
            if msg is not None:
                stamps.append(time.perf_counter())
    finally:
        stop_sender()
        listener.shutdown()
    return stamps[5:]   # start-up settles


def _bench_sender(channel: str, seconds: float) -> Callable[[], Callable[[], None]]:
    def start() -> Callable[[], None]:
        from hilbench.bus import BusConfig, open_port
        from hilbench.clock import WallClock

        codec = _codec()
        clock = WallClock()
        port = open_port(BusConfig("virtual", channel), clock)
        sender = codec.fresh_sender(MESSAGE)
        role = next(slot.role for slot in sender.slots if slot.role.startswith("pack_voltage"))
        count = [0]

        def transmit() -> None:
            count[0] += 1
            port.send(sender.encode({role: 350.0 + (count[0] % 500) * 0.1}))

        clock.call_every(TX_PERIOD_S, transmit)
        thread = threading.Thread(target=lambda: clock.run_until(seconds + 1.0), daemon=True)
        thread.start()

        def stop() -> None:
            clock.stop()
            thread.join(timeout=5.0)
            port.bus.shutdown()
        return stop
    return start


def _python_can_sender(channel: str) -> Callable[[], Callable[[], None]]:
    def start() -> Callable[[], None]:
        bus = can.Bus(interface="virtual", channel=channel)
        frame = _frames(_codec(), 1)[0]
        task = bus.send_periodic(frame, TX_PERIOD_S)

        def stop() -> None:
            task.stop()
            bus.shutdown()
        return stop
    return start


def _burn(until: float) -> None:
    while time.time() < until:
        pass


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def run(quick: bool = False) -> Report:
    report = Report(NAME)
    rate, lost, errors = _rx_throughput(QUICK_RX_FRAMES if quick else RX_FRAMES)
    report.add("rx_frames_per_s", rate, "receive through decode and E2E check, sustained", "{:,.0f}", "frames/s")
    report.target("rx_vs_1mbit_limit", rate / CLASSIC_1MBIT_FRAMES_PER_S,
                  "... against 1 Mbit/s classic CAN (~9,000 frames/s)", 5.0, unit="x")
    report.add("rx_lost", lost, "frames sent but not decoded", "{:.0f}",
               comment=f"{'PASS' if lost == 0 and errors == 0 else 'MISS'} (target 0; {errors} decode/E2E errors)")
    latencies = _rx_latency_ms(LATENCY_FRAMES // (4 if quick else 1))
    report.target("rx_latency_p99_ms", _p99(latencies), f"receive latency p99 at {LATENCY_RATE_HZ:,.0f} frames/s",
                  1.0, fmt="{:.3f}", unit="ms", higher_is_better=False)
    report.add("rx_latency_p50_ms", statistics.median(latencies) if latencies else float("nan"),
               "receive latency p50", "{:.3f}", "ms")
    seconds = QUICK_TX_S if quick else TX_S
    for load in ("", "_loaded"):
        burners = []
        if load:
            until = time.time() + 2 * seconds + 5.0
            burners = [multiprocessing.Process(target=_burn, args=(until,), daemon=True) for _ in range(2)]
            for burner in burners:
                burner.start()
        try:
            bench = _intervals_jitter_ms(_listen_pair(seconds, bench=True))
            python_can = _intervals_jitter_ms(_listen_pair(seconds, bench=False))
        finally:
            for burner in burners:
                burner.terminate()
                burner.join()
        what = " (both cores loaded)" if load else " (idle)"
        bench_p99, python_p99 = _p99(bench), _p99(python_can)
        report.add(f"python_can_tx_jitter_p99{load}_ms", python_p99, f"python-can send_periodic jitter p99{what}",
                   "{:.2f}", "ms")
        report.add(f"tx_jitter_p99{load}_ms", bench_p99, f"bench 10 ms sender, re-encoding, jitter p99{what}",
                   "{:.2f}", "ms", comment=f"{'PASS' if bench_p99 <= python_p99 else 'MISS'} (target no worse "
                                           f"than python-can's {python_p99:.2f} ms)")
    report.note("one process, python-can's virtual bus: the bench's own costs, not a kernel's or an adapter's")
    return report


def _listen_pair(seconds: float, *, bench: bool) -> list[float]:
    channel = _channel("tx")
    start = _bench_sender(channel, seconds) if bench else _python_can_sender(channel)
    return _listen(channel, seconds, start)
