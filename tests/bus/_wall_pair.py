"""Two benches in wall time across an emulated adapter: the bench under test and a far-side "real ECU"."""

from __future__ import annotations

import threading

import pytest

from hilbench.bench import Bench, BenchConfig


def _run_pair(ecu_config: BenchConfig, bench_config: BenchConfig, *, seconds: float) -> None:
    """Run the ECU bench in a thread and the bench under test here; check frames both ways."""
    failures: list[BaseException] = []
    with Bench(ecu_config) as ecu:
        def run_ecu() -> None:
            try:
                ecu.run_for(seconds + 0.5)
            except BaseException as exc:   # surfaced in the main thread below
                failures.append(exc)

        ecu_thread = threading.Thread(target=run_ecu, name="ecu-bench")
        ecu_thread.start()
        try:
            with Bench(bench_config) as bench:
                assert not bench.clock.is_simulated
                assert len(bench._buses) == 1      # one handle on the serial port / TCP session
                bench.run_for(seconds)
                monitor = bench.monitor
        finally:
            ecu_thread.join()
        assert not failures, failures
        # the bench's own frames, decoded without errors, at their cycle times
        assert monitor.decode_errors == 0 and monitor.e2e_errors == 0 and monitor.unknown_frames == 0
        pack = monitor.stats["BMS_PackStatus"]
        assert pack.count >= 0.8 * seconds / 0.02
        assert pack.mean_period_s == pytest.approx(0.02, rel=0.25)
        # the ECU's frames came back across the adapter
        assert monitor.stats["CU_Status"].count >= 0.6 * seconds / 0.1
        assert monitor.latest["cu_reason"] != "NO_DATA"            # the ECU heard the BMS
        # and the ECU side decoded the bench's frames without errors
        far = ecu.monitor
        assert far.stats["BMS_PackStatus"].count >= 0.8 * seconds / 0.02
        assert far.decode_errors == 0 and far.e2e_errors == 0
        assert ecu.dut is not None and ecu.dut.e2e_errors == 0 and ecu.dut.decode_errors == 0, {
            n: (r.errors, r.state) for n, r in ecu.dut.receivers.items()}
