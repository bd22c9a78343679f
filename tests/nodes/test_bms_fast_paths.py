"""The BMS's fast sample publishes, bit for bit, what its plain reference form publishes.

``BmsNode.sample`` takes shortcuts (noise in blocks, rounding and extremes without
numpy's wrappers, a debounce and checks that return at once while settled);
``ReferenceBmsNode`` (hilbench/nodes/bms_reference.py) and the plain ``_Debounced``,
``_Check`` and ``_OverCurrentCheck`` in hilbench/nodes/bms.py do without.  The tests drive both forms
alike and compare; the model itself lives only in the package.
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hilbench.clock import SimClock
from hilbench.nodes.bms import (
    BmsNode,
    _Check,
    _Debounced,
    _FastCheck,
    _FastDebounced,
    _FastOverCurrentCheck,
    _OverCurrentCheck,
    _round_to_mv,
)
from hilbench.nodes.bms_reference import ReferenceBmsNode
from hilbench.plant import Pack


def _timers(debounced: _Debounced) -> tuple[object, ...]:
    return debounced.level, debounced._above_since, debounced._below_since


def test_the_fast_debounce_keeps_the_levels_and_timers_of_the_plain_one() -> None:
    rng = random.Random(5)
    for _ in range(300):
        fast, plain = _FastDebounced(), _Debounced()
        now = 0.0
        run = rng.choice([1, 3, 8])       # long runs of one target reach the settled state
        targets = [t for _ in range(30) for t in [rng.randint(0, 3)] * rng.randint(1, run)]
        debounce = rng.choice([0.0, 0.3, 0.5])
        for target in targets:
            now += rng.choice([0.1, 0.1, 0.05, 0.4])
            assert fast.update(target, now, debounce) == plain.update(target, now, debounce)
            assert _timers(fast) == _timers(plain)


def test_the_fast_check_keeps_the_levels_and_timers_of_the_plain_one() -> None:
    rng = random.Random(9)
    for _ in range(300):
        thresholds = [rng.uniform(-5.0, 5.0) for _ in range(rng.randint(0, 4))]
        rising = rng.random() < 0.5
        fast = _FastCheck("x", thresholds, rising, _FastDebounced())
        plain = _Check("x", thresholds, rising, _Debounced())
        now = 0.0
        readings: list[float | None] = [None, *thresholds]
        for _ in range(40):
            # Runs of one reading (or of none: a resting check) settle the debounce.
            reading = rng.choice([None, rng.uniform(-6.0, 6.0), rng.choice(readings)])
            for _ in range(rng.randint(1, 8)):
                now += 0.1
                assert fast.update(reading, now, 0.3) == plain.update(reading, now, 0.3)
                assert _timers(fast.debounced) == _timers(plain.debounced)


def test_the_fast_over_current_check_keeps_the_levels_and_timers_of_the_plain_one() -> None:
    rng = random.Random(13)
    for _ in range(200):
        factors = tuple(sorted(rng.uniform(0.5, 3.0) for _ in range(rng.randint(0, 3))))
        fast = _FastOverCurrentCheck(factors, _FastDebounced())
        plain = _OverCurrentCheck(factors, _Debounced())
        now = 0.0
        for _ in range(30):
            limit = rng.choice([1.0, rng.uniform(1.0, 300.0)])
            amps = rng.choice([0.0, rng.uniform(0.0, 4.0) * limit, *(f * limit for f in factors)])
            for _ in range(rng.randint(1, 8)):     # runs of one current settle the debounce
                now += 0.1
                assert fast.update(amps, limit, now, 0.5) == plain.update(amps, limit, now, 0.5)
                assert _timers(fast.debounced) == _timers(plain.debounced)


def _assert_same(fast: BmsNode, ref: BmsNode) -> None:
    assert type(fast) is BmsNode and type(ref) is ReferenceBmsNode
    assert fast.values == ref.values
    assert fast.version == ref.version
    assert fast.soc_estimate_pct == ref.soc_estimate_pct      # full precision, not the published one
    assert fast.contactor_closed is ref.contactor_closed
    assert fast.cell_voltages_v.tobytes() == ref.cell_voltages_v.tobytes()
    assert fast.sensor_temps_c.tobytes() == ref.sensor_temps_c.tobytes()
    assert fast._voltage_list == ref._voltage_list and fast._temp_list == ref._temp_list
    for name, debounced in fast._faults.items():
        assert _timers(debounced) == _timers(ref._faults[name]), name


def test_the_fast_sample_publishes_what_the_reference_sample_publishes(make_bench) -> None:
    bench = make_bench()              # for its codec and bus port; its own nodes are left alone
    pack = Pack.from_config("nmc", soc=0.93, temp_c=20.0, seed=3)
    clock = SimClock()
    fast, ref = (cls(bench.codec, bench.restbus, clock, pack, seed=11) for cls in (BmsNode, ReferenceBmsNode))
    _assert_same(fast, ref)
    rng = np.random.default_rng(4)
    capacity = pack.capacity_ah
    removers = []
    seen = {name: 0 for name in fast._faults}
    opened = 0
    t = 0.0
    # (samples, mean current in C, what happens first): rest, discharge, charge into the top,
    # heat and cold, a current surge, then sensor faults that lie about the cells and the current.
    phases = [
        (200, 0.0, None), (600, 1.0, None), (500, -1.5, None),
        (100, 0.5, lambda: pack.set_cell_temps_c(58.0)), (100, -0.5, None),
        (100, -0.5, lambda: pack.set_cell_temps_c(-25.0)), (100, 0.5, None),
        (100, 0.2, lambda: pack.set_cell_temps_c(25.0)), (60, 6.0, None), (200, 0.3, None),
        (150, -0.3, "faults"), (300, 0.3, "clear"),
    ]
    for samples, c_rate, event in phases:
        if event == "faults":
            for node in (fast, ref):
                removers.append(node.add_sensor_fault("max_cell_voltage_v", lambda v, now: v + 0.6))
                removers.append(node.add_sensor_fault("min_cell_temp_c", lambda v, now: v - 50.0))
                removers.append(node.add_sensor_fault("pack_current_a", lambda v, now: 8.0 * v))
                removers.append(node.add_sensor_fault("soc_pct", lambda v, now: min(100.0, v + 30.0)))
        elif event == "clear":
            for remove in removers:
                remove()
        elif event is not None:
            event()
        for _ in range(samples):
            pack.step(0.1, float(rng.normal(c_rate, 0.3)) * capacity)
            t += 0.1
            clock.run_until(t)
            fast.sample()
            ref.sample()
            _assert_same(fast, ref)
            for name, debounced in fast._faults.items():
                seen[name] = max(seen[name], debounced.level)
            if not fast.contactor_closed:
                opened += 1
                for node in (fast, ref):
                    node.reset_contactors()
    # The run went through the fault paths, not only the settled one: most checks rose,
    # contactors opened, and the noise came from more than one block.
    assert sum(level > 0 for level in seen.values()) >= 5, seen
    assert opened > 0
    assert sum(samples for samples, _c, _e in phases) > 2 * BmsNode.NOISE_BLOCK


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
        assert a.item(a.argmin()) == float(a.min())
        assert a.item(a.argmax()) == float(a.max())
