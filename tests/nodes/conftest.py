"""One harness for node tests: benches of emulated BMS, VCU and OBC (no DUT), always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hilbench.bench import Bench, BenchConfig

NO_DUT = frozenset({"bms", "vcu", "obc"})


@pytest.fixture
def make_bench() -> Iterator[Callable[..., Bench]]:
    """``make_bench(**BenchConfig fields)``: a bench without the compute unit, closed after the test."""
    benches: list[Bench] = []

    def make(**changes) -> Bench:
        changes.setdefault("emulate", NO_DUT)
        bench = Bench(BenchConfig(**changes))
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()
