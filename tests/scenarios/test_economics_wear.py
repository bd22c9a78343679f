"""The capacity a run's compute costs the pack: its equivalent full cycles at the chemistry's
life-average fade (``END_OF_LIFE_CAPACITY_FRACTION`` over ``cycle_life``), per million tokens too."""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.scenarios.runner import END_OF_LIFE_CAPACITY_FRACTION, economics_of


def _economics(chemistry: str):
    with Bench(BenchConfig(chemistry=chemistry, soc_pct=70.0, keep_traces=False)) as bench:
        bench.run_for(120.0)
        return economics_of(bench), bench.pack.chemistry.cycle_life


@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_the_capacity_wear_costs_follows_the_chemistrys_cycle_life(chemistry: str) -> None:
    economics, cycle_life = _economics(chemistry)
    assert economics.tokens > 0 and economics.pack_equivalent_full_cycles > 0
    expected_pct = economics.pack_equivalent_full_cycles * (1 - END_OF_LIFE_CAPACITY_FRACTION) / cycle_life * 100
    assert economics.pack_capacity_lost_pct == pytest.approx(expected_pct)
    assert economics.pack_capacity_lost_pct_per_m_tokens == pytest.approx(expected_pct / economics.tokens * 1e6)


def test_lfps_longer_cycle_life_costs_less_capacity_per_cycle_than_nmcs() -> None:
    (lfp, _), (nmc, _) = _economics("lfp"), _economics("nmc")
    per_cycle = {name: e.pack_capacity_lost_pct / e.pack_equivalent_full_cycles for name, e in (("lfp", lfp),
                                                                                               ("nmc", nmc))}
    assert per_cycle["lfp"] == pytest.approx(20.0 / 4000) and per_cycle["nmc"] == pytest.approx(20.0 / 1500)
