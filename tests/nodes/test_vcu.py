"""Emulated VCU: the vehicle state a compute unit must obey, on the bus within a cycle or two."""

from __future__ import annotations

import pytest


def test_vehicle_state_reaches_the_bus(make_bench) -> None:
    bench = make_bench(reserve_soc_pct=35.0, ambient_c=12.5)
    bench.run_for(1.0)
    latest = bench.monitor.latest
    assert latest["gear"] == "P"
    assert latest["ignition_on"] == 0
    assert latest["range_reserve_soc_pct"] == pytest.approx(35.0, abs=0.25)
    assert latest["ambient_temp_c"] == pytest.approx(12.5, abs=0.25)
    assert latest["compute_allowed"] == 1

    bench.vehicle.set_ignition(True)
    bench.vehicle.set_gear("D")
    bench.vcu.drive_requested = True
    bench.vcu.compute_allowed = False
    bench.run_for(0.25)
    latest = bench.monitor.latest
    assert latest["gear"] == "D"
    assert latest["ignition_on"] == 1
    assert latest["drive_requested"] == 1
    assert latest["compute_allowed"] == 0
