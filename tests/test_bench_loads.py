"""The plant's compute load: the emulated unit's real draw, or a real unit's report, conservatively."""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.scenarios.actions import apply


def test_a_lost_status_frame_does_not_change_the_physics() -> None:
    """The emulated unit draws 60 W whether or not its CU_Status frames survive."""
    socs = []
    for corrupt in (False, True):
        with Bench(BenchConfig(series=4, soc_pct=60.0)) as bench:
            if corrupt:
                apply(bench, "bad_checksum", {"message": "CU_Status"})
            bench.run_for(120.0)
            socs.append(bench.pack.soc)
    assert socs[0] == pytest.approx(socs[1], abs=1e-9)


def test_a_real_unit_that_goes_quiet_is_assumed_at_its_most() -> None:
    with Bench(BenchConfig(series=4, soc_pct=60.0)) as bench:
        bench.run_for(5.0)
        bench.dut.silent = True
        reported = bench.monitor.latest["compute_power_w"]
        bench.dut = None                      # from here on the bench treats the unit as a real one
        bench.run_for(2.0)
        assert bench.compute_power_w == pytest.approx(max(60.0, reported))
