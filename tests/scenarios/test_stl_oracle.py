"""Our hand-written temporal operators against rtamt, a maintained STL library, as an oracle.

Random piecewise-constant signals on the 0.1 s grid go through
:func:`hilbench.scenarios.checks.evaluate_check` and through rtamt's
discrete-time offline monitor for the same formula; verdicts and robustness
values must agree.  rtamt is fed one sample per time unit (``time = 0, 1, 2,
...``) and every time bound in samples (``within = 2 s`` is ``[0:20]``), so
nothing depends on how either side rounds 0.1 s steps.

Signal values are integers and thresholds sit halfway between them, so no
atomic robustness is ever exactly 0: there ``x > c`` and ``x >= c`` have the
same robustness but different verdicts, and STL leaves such ties undecided.

rtamt 0.4.10 pins antlr4-python3-runtime 4.7, which imports ``typing.io``:
deprecated on 3.11/3.12, gone on 3.13, where these tests are skipped.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hilbench.scenarios.checks import GRID_S, CheckResult, TraceGrid, evaluate_check
from hilbench.scenarios.model import Check

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)   # antlr4 4.7: "typing.io is deprecated"
    rtamt = pytest.importorskip("rtamt", reason="rtamt not installed or not importable on this Python "
                                                "(its pinned antlr4 runtime 4.7 needs typing.io, removed in 3.13)")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the two sides ------------------------------------------------------------------
class _Monitor:
    """The part of a BusMonitor a TraceGrid reads: roles, their states, their traces."""

    def __init__(self, signals: dict[str, np.ndarray]) -> None:
        self.codec = SimpleNamespace(signal_map=SimpleNamespace(roles=dict.fromkeys(signals)))
        self.signals = signals
        self.t: np.ndarray | None = None

    def states_of(self, name: str) -> tuple[str, ...]:
        return ()

    def trace(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.t, self.signals[name]  # type: ignore[return-value]


def ours(check: Check, signals: dict[str, np.ndarray]) -> CheckResult:
    n = len(next(iter(signals.values())))
    monitor = _Monitor(signals)
    grid = TraceGrid(monitor, (n - 1) * GRID_S)
    assert len(grid.t) == n
    monitor.t = grid.t.copy()          # one sample exactly on every grid point
    return evaluate_check(check, grid)


def rtamt_series(formula: str, signals: dict[str, np.ndarray]) -> np.ndarray:
    """Robustness of ``formula`` at every sample, from rtamt's discrete-time offline monitor."""
    spec = rtamt.StlDiscreteTimeSpecification()
    for name in signals:
        spec.declare_var(name, "float")
    spec.spec = formula
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        spec.parse()
    n = len(next(iter(signals.values())))
    data = {"time": list(range(n)), **{k: [float(v) for v in vs] for k, vs in signals.items()}}
    return np.array([r for _, r in spec.evaluate(data)], dtype=float)


def rtamt_at0(formula: str, signals: dict[str, np.ndarray]) -> float:
    return float(rtamt_series(formula, signals)[0])


def samples(seconds: float) -> int:
    return int(round(seconds / GRID_S))


# -- signals ---------------------------------------------------------------------------
@st.composite
def piecewise(draw, n: int) -> np.ndarray:
    """A piecewise-constant integer signal of ``n`` samples (segments of 1..30 samples)."""
    out: list[float] = []
    while len(out) < n:
        out += [float(draw(st.integers(-5, 5)))] * draw(st.integers(1, 30))
    return np.array(out[:n])


@st.composite
def signals(draw, names: tuple[str, ...] = ("x",), min_n: int = 5, max_n: int = 150) -> dict[str, np.ndarray]:
    n = draw(st.integers(min_n, max_n))
    return {name: draw(piecewise(n)) for name in names}


thresholds = st.integers(-5, 4).map(lambda k: k + 0.5)


def agree(result: CheckResult, reference: float) -> None:
    assert reference != 0.0, "thresholds sit between integer values, so robustness is never 0"
    assert result.passed == (reference > 0), (result, reference)
    assert result.robustness == pytest.approx(reference, abs=1e-9), (result, reference)


# -- always / never ----------------------------------------------------------------------
@SETTINGS
@given(signals(), thresholds)
def test_always(sig, c):
    agree(ours(Check("always", "a", expr=f"x >= {c}"), sig), rtamt_at0(f"always(x >= {c})", sig))


@SETTINGS
@given(signals(min_n=40), thresholds, st.integers(0, 15), st.integers(0, 20))
def test_always_in_a_window(sig, c, start, length):
    lo, hi = start / 10, (start + length) / 10
    result = ours(Check("always", "a", expr=f"x >= {c}", from_s=lo, until_s=hi), sig)
    agree(result, rtamt_at0(f"always[{start}:{start + length}](x >= {c})", sig))


@SETTINGS
@given(signals(("x", "y")), thresholds, thresholds)
def test_always_of_a_conjunction_and_a_disjunction(sig, a, b):
    agree(ours(Check("always", "a", expr=f"x >= {a} and y < {b}"), sig),
          rtamt_at0(f"always((x >= {a}) and (y < {b}))", sig))
    agree(ours(Check("always", "a", expr=f"x >= {a} or not y > {b}"), sig),
          rtamt_at0(f"always((x >= {a}) or not(y > {b}))", sig))


@SETTINGS
@given(signals(("x", "y")), thresholds)
def test_always_with_arithmetic(sig, c):
    agree(ours(Check("always", "a", expr=f"x >= y + {c}"), sig), rtamt_at0(f"always(x >= y + {c})", sig))


@SETTINGS
@given(signals(), thresholds)
def test_never(sig, c):
    agree(ours(Check("never", "n", expr=f"x > {c}"), sig), rtamt_at0(f"always(not(x > {c}))", sig))


# -- eventually ------------------------------------------------------------------------------
@SETTINGS
@given(signals(min_n=40), thresholds, st.integers(0, 30))
def test_eventually_within(sig, c, within):
    result = ours(Check("eventually", "e", expr=f"x > {c}", within_s=within / 10), sig)
    agree(result, rtamt_at0(f"eventually[0:{within}](x > {c})", sig))


@SETTINGS
@given(signals(min_n=60), thresholds, st.integers(0, 20), st.integers(0, 30))
def test_eventually_within_after_a_start(sig, c, start, within):
    result = ours(Check("eventually", "e", expr=f"x > {c}", from_s=start / 10, within_s=within / 10), sig)
    agree(result, rtamt_at0(f"eventually[{start}:{start + within}](x > {c})", sig))


# -- response: always(trigger -> eventually[0:T] response) -------------------------------------
@SETTINGS
@given(signals(("trig", "y"), min_n=20), thresholds, thresholds, st.integers(0, 15))
def test_response(sig, a, b, within):
    n = len(sig["y"])
    # vacuous = "ok": STL's implication is true when the trigger never fires; ours says so apart.
    result = ours(Check("response", "r", trigger=f"trig > {a}", expr=f"y <= {b}", within_s=within / 10,
                        vacuous_ok=True), sig)
    # Only triggers with a whole window before the end are judged.
    last = n - 1 - within
    verdict = rtamt_at0(f"always[0:{last}]((trig > {a}) -> (eventually[0:{within}](y <= {b})))", sig)
    assert result.passed == (verdict > 0), (result, verdict)
    # Our robustness is the response margin over the judged trigger samples: rtamt's
    # eventually[0:T] at exactly those samples.
    answered = rtamt_series(f"eventually[0:{within}](y <= {b})", sig)
    triggered = np.flatnonzero(sig["trig"][: last + 1] > a)
    assert result.vacuous == (len(triggered) == 0), result
    if len(triggered) == 0:
        assert result.passed and result.robustness is None
        strict = ours(Check("response", "r", trigger=f"trig > {a}", expr=f"y <= {b}", within_s=within / 10), sig)
        assert strict.verdict == "VACUOUS" and not strict.passed
    else:
        assert result.robustness == pytest.approx(float(answered[triggered].min()), abs=1e-9)


def test_response_example_from_the_brief():
    """always(trigger -> eventually[0:1](y <= 0)), by hand: a trigger at 0.2 s answered at 1.2 s, just in time."""
    n = 30
    trig = np.zeros(n)
    trig[2] = 1.0
    y = np.full(n, 3.0)
    y[12:] = -1.0
    sig = {"trig": trig, "y": y}
    formula = "always[0:19]((trig > 0.5) -> (eventually[0:10](y <= 0)))"
    result = ours(Check("response", "r", trigger="trig > 0.5", expr="y <= 0", within_s=1.0), sig)
    assert result.passed and result.robustness == 1.0
    # STL's robustness of the implication also counts the untriggered samples' margin
    # (0 - 0.5): same verdict, a different figure; ours is the response margin alone.
    assert rtamt_at0(formula, sig) == 0.5
    assert rtamt_series("eventually[0:10](y <= 0)", sig)[2] == 1.0
    y[12] = 3.0    # answered at 1.3 s: 0.1 s too late
    result = ours(Check("response", "r", trigger="trig > 0.5", expr="y <= 0", within_s=1.0), sig)
    assert not result.passed and result.robustness == -3.0
    assert rtamt_at0(formula, sig) == -0.5    # max(-(1 - 0.5), -3): the trigger's own margin bounds it


# -- holds_for: eventually(always[0:D] phi), with the whole D inside the trace ------------------
@SETTINGS
@given(signals(min_n=30), thresholds, st.integers(1, 20))
def test_holds_for_needs_the_whole_duration(sig, c, duration):
    """The documented meaning: holds continuously for duration_s at some point of the run."""
    n = len(sig["x"])
    result = ours(Check("holds_for", "h", expr=f"x > {c}", duration_s=duration / 10), sig)
    agree(result, rtamt_at0(f"eventually[0:{n - 1 - duration}](always[0:{duration}](x > {c}))", sig))


def test_holds_for_at_the_very_end():
    """Minimal reproducer: x > 1 only at the last of 11 samples, 'holds for 0.5 s' must fail."""
    x = np.zeros(11)
    x[-1] = 5.0
    result = ours(Check("holds_for", "h", expr="x > 1", duration_s=0.5), {"x": x})
    assert not result.passed, result.detail
