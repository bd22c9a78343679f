"""The BMS's shortcuts for the settled case decide exactly as the full checks do."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hilbench.nodes.bms import BmsNode, _Check, _Debounced, _level, _round_to_mv


class _PlainDebounced:
    """:class:`_Debounced` without its settled-state shortcut."""

    def __init__(self, levels: int = 3) -> None:
        self.level = 0
        self.above: list[float | None] = [None] * (levels + 1)
        self.below: list[float | None] = [None] * (levels + 1)

    def update(self, target: int, now_s: float, debounce_s: float) -> int:
        held = debounce_s - 1e-9
        level = self.level
        for k in range(1, len(self.above)):
            if target >= k:
                self.below[k] = None
                if self.above[k] is None:
                    self.above[k] = now_s
                if k > level and now_s - self.above[k] >= held:
                    level = k
            else:
                self.above[k] = None
                if self.below[k] is None:
                    self.below[k] = now_s
        while level > 0 and target < level:
            since = self.below[level]
            if since is None or now_s - since < held:
                break
            level -= 1
        self.level = level
        return level


def test_debounce_shortcut_gives_the_same_levels_and_timers_as_the_full_update() -> None:
    rng = random.Random(5)
    for _ in range(300):
        fast, plain = _Debounced(), _PlainDebounced()
        now = 0.0
        run = rng.choice([1, 3, 8])       # long runs of one target reach the settled state
        targets = [t for _ in range(30) for t in [rng.randint(0, 3)] * rng.randint(1, run)]
        debounce = rng.choice([0.0, 0.3, 0.5])
        for target in targets:
            now += rng.choice([0.1, 0.1, 0.05, 0.4])
            assert fast.update(target, now, debounce) == plain.update(target, now, debounce)
            assert fast._above_since == plain.above and fast._below_since == plain.below


def test_check_shortcut_gives_the_level_of_the_full_threshold_scan() -> None:
    rng = random.Random(9)
    for _ in range(300):
        thresholds = [rng.uniform(-5.0, 5.0) for _ in range(rng.randint(0, 4))]
        for rising in (True, False):
            check = _Check("x", thresholds, rising, _Debounced())
            for value in [rng.uniform(-6.0, 6.0) for _ in range(20)] + thresholds:
                assert check.target(value) == _level(value, thresholds, rising)


def test_noise_drawn_in_blocks_is_the_stream_of_scalar_draws(make_bench) -> None:
    bms = make_bench().bms
    scalar = np.random.default_rng([0, 0xB35])   # the BMS's generator for seed 0
    scalar.standard_normal()                     # drawn by the sample at construction
    n = 2 * BmsNode.NOISE_BLOCK + 5              # across two refills
    assert [bms._standard_normal() for _ in range(n)] == [float(scalar.standard_normal()) for _ in range(n)]


_volts = arrays(np.float64, st.integers(1, 120), elements=st.floats(-10.0, 10.0, allow_subnormal=True))


@given(_volts)
def test_rounding_to_millivolts_is_numpys_round(volts: np.ndarray) -> None:
    got, want = _round_to_mv(volts), volts.round(3)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


def test_rounding_to_millivolts_at_the_half_millivolt_ties() -> None:
    ties = np.arange(-5000, 5000) / 1000 + 0.0005
    assert np.array_equal(_round_to_mv(ties), ties.round(3))


@given(_volts, st.integers(1, 5))
def test_extremes_by_argmin_are_the_reductions(volts: np.ndarray, stride: int) -> None:
    view = volts[::stride]   # the sensor temperatures are a strided view of the cells'
    for a in (volts, view):
        assert a.item(a.argmin()) == float(np.minimum.reduce(a))
        assert a.item(a.argmax()) == float(np.maximum.reduce(a))
