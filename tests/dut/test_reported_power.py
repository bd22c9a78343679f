"""The plant's rule for a real compute unit's draw: its reports, or its most when it goes quiet."""

from __future__ import annotations

import itertools

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BusConfig, open_port
from hilbench.dut.reported_power import REAL_DUT_STALE_S, ReportedPower

_CHANNELS = itertools.count()


def test_no_report_yet_draws_nothing() -> None:
    rule = ReportedPower()
    assert rule.power_w(None, None, 0.0) == 0.0
    assert rule.power_w("P100", 0.0, 0.1) == 0.0          # an enumerated value is not a power


def test_a_fresh_report_is_used_as_it_is_even_when_it_falls() -> None:
    rule = ReportedPower(stale_s=0.5)
    assert rule.power_w(300.0, 1.0, 1.1) == 300.0
    assert rule.power_w(120.0, 1.2, 1.3) == 120.0
    assert rule.power_w(120.0, 1.2, 1.7) == 120.0           # 0.5 s old: still fresh


def test_a_quiet_unit_is_charged_the_most_it_ever_reported() -> None:
    rule = ReportedPower(stale_s=0.5)
    rule.power_w(300.0, 1.0, 1.0)
    rule.power_w(50.0, 2.0, 2.0)
    assert rule.power_w(50.0, 2.0, 2.51) == 300.0            # the last report is 50 W, but it went quiet
    assert rule.power_w(80.0, 3.0, 3.0) == 80.0             # it reports again


def test_a_bench_with_a_real_unit_drains_the_pack_by_its_most_after_it_goes_quiet() -> None:
    """A 'real' unit on its own handle reports 400 W, then 100 W, then goes silent: the plant
    draws 400 W for it from then on, not 100 W and not nothing."""
    config = BenchConfig(emulate=frozenset({"bms", "vcu", "obc"}), keep_traces=False,
                         bus=BusConfig("simtime", f"reported-{next(_CHANNELS)}"))
    with Bench(config) as bench:
        unit = open_port(config.bus, bench.clock)
        try:
            status = bench.codec.signal_map.binding("compute_power_w").message
            sender = bench.codec.fresh_sender(status)
            reported = {"w": 400.0}

            def report() -> None:
                if reported["w"] is not None:
                    unit.send(sender.encode({"compute_power_w": reported["w"]}))

            bench.clock.call_every(sender.cycle_time_s, report, offset_s=0.003)
            bench.run_for(5.0)
            assert bench.compute_power_w == pytest.approx(400.0, abs=1.0)
            reported["w"] = 100.0
            bench.run_for(5.0)
            assert bench.compute_power_w == pytest.approx(100.0, abs=1.0)
            reported["w"] = None
            bench.run_for(REAL_DUT_STALE_S + 1.0)
            assert bench.compute_power_w == pytest.approx(400.0, abs=1.0)
            before = bench.compute_energy_j
            bench.run_for(10.0)
            assert bench.compute_energy_j - before == pytest.approx(4000.0, rel=0.01)
        finally:
            unit.bus.shutdown()
