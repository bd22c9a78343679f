"""Evaluating checks on the traces a run left, with a robustness figure for each.

Temporal operators are written here over numpy arrays rather than handed to
an STL library: traces of an overnight session hold hundreds of thousands of
samples per signal, the grid is uniform, and sample-and-hold semantics are
what a CAN receiver sees; sliding-window minima and maxima over that grid
are a few vectorised lines.  The tests compare these operators against
rtamt's discrete-time monitor on random signals to keep them honest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..bus.roles import ROLES
from .expr import ExprError, compile_expr, evaluate
from .model import Check

GRID_S = 0.1
#: A check over a role the signal map does not bind: the bus cannot say, so it neither passes nor fails.
NOT_MAPPED = "NOT MAPPED"
#: A response whose trigger never fired, or an eventually whose window never started: nothing was
#: tested, so the scenario fails (unless the check says ``vacuous = "ok"``).
VACUOUS = "VACUOUS"
#: Every verdict a check can have, in the order reports count them.
VERDICTS = ("PASS", "FAIL", VACUOUS, NOT_MAPPED)
#: The verdicts that fail a scenario.
FAILING_VERDICTS = ("FAIL", VACUOUS)
#: Every role the bench knows, mapped or not: what a check may name.
_ALL_ROLES = {name: role.states for name, role in ROLES.items()}


@dataclass
class CheckResult:
    """The judgement of one check after a run.

    ``robustness`` is the margin by which the check held (positive) or was violated (negative), in
    the check's unit, None where none applies; ``violation_s`` is when the violation shows (the
    first violating sample, or the deadline an ``eventually`` missed).  Read
    the outcome from :attr:`verdict`, not from ``passed`` alone.
    """

    check: Check
    passed: bool
    robustness: float | None
    detail: str
    violation_s: float | None = None
    values: dict[str, float | str] = field(default_factory=dict)
    #: The roles the check names that the signal map does not bind (then the verdict is NOT MAPPED).
    not_mapped: tuple[str, ...] = ()
    #: Nothing was tested: the trigger never fired (``response``) or the window never started
    #: (``eventually``). VACUOUS unless the check allows it (``vacuous = "ok"``), then PASS.
    vacuous: bool = False

    @property
    def verdict(self) -> str:
        """PASS, FAIL, VACUOUS (nothing was tested) or NOT MAPPED (a role it names is not on the bus)."""
        if self.not_mapped:
            return NOT_MAPPED
        if self.vacuous and not self.check.vacuous_ok:
            return VACUOUS
        return "PASS" if self.passed else "FAIL"

    @property
    def failed(self) -> bool:
        """FAIL: judged and violated (NOT MAPPED and VACUOUS checks were not judged: neither is a FAIL)."""
        return self.verdict == "FAIL"

    @property
    def fails_scenario(self) -> bool:
        """FAIL or VACUOUS: the scenario does not pass (a NOT MAPPED check neither passes nor fails it)."""
        return self.verdict in FAILING_VERDICTS


def unmapped_roles(check: Check, mapped: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The roles ``check`` names (expression and trigger) that ``mapped`` (role -> states) lacks, sorted.

    An expression that does not compile names nothing here; judging it reports why.
    """
    known = {**_ALL_ROLES, **mapped}
    names: set[str] = set()
    for source in (check.expr, check.trigger):
        if source:
            try:
                names |= compile_expr(source, known).names
            except ExprError:
                pass
    return tuple(sorted(name for name in names if name not in mapped))


def not_mapped_result(check: Check, roles: tuple[str, ...]) -> CheckResult:
    """The NOT MAPPED verdict of ``check``, naming the ``roles`` the signal map does not bind."""
    noun = "role" if len(roles) == 1 else "roles"
    return CheckResult(check, False, None, f"{noun} {', '.join(roles)} not mapped by the signal map: "
                                           "the bus cannot tell", not_mapped=roles)


class TraceGrid:
    """Role traces resampled (sample and hold) onto a uniform grid of ``GRID_S``."""

    def __init__(self, monitor, duration_s: float, grid_s: float = GRID_S) -> None:
        self.monitor = monitor
        self.t = np.arange(0.0, duration_s + grid_s / 2, grid_s)
        self._cache: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
        self.known = {name: monitor.states_of(name) for name in monitor.codec.signal_map.roles}

    def __call__(self, role: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The role's sample-and-hold values on the grid (NaN before its first frame) and its state names.

        Enumerated roles come as indices into the states.  Cached per role.
        """
        cached = self._cache.get(role)
        if cached is not None:
            return cached
        t, v = self.monitor.trace(role)
        states = self.monitor.states_of(role)
        if len(t) == 0:
            values = np.full(self.t.shape, np.nan)
        else:
            idx = np.searchsorted(t, self.t, side="right") - 1
            values = np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)
        self._cache[role] = (values, states)
        return values, states

    def value_at(self, role: str, index: int) -> float | str:
        """The role's value at grid ``index``: a state name for enumerated roles, else a float (NaN: no data)."""
        values, states = self(role)
        value = values[index]
        if states and not np.isnan(value) and 0 <= int(value) < len(states):
            return states[int(value)]
        return float(value)


def _window_max(x: np.ndarray, n: int) -> np.ndarray:
    """out[i] = max(x[i : i + n]) (shorter windows at the end)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = max(1, min(n, len(x)))
    padded = np.concatenate([x, np.full(n - 1, -np.inf)])
    return sliding_window_view(padded, n).max(axis=1)


def _window_min(x: np.ndarray, n: int) -> np.ndarray:
    return -_window_max(-x, n)


def vacuous_result(check: Check, why: str, values: dict[str, float | str] | None = None) -> CheckResult:
    """``check`` tested nothing (``why``): VACUOUS, or PASS when the check says ``vacuous = "ok"``."""
    detail = f"{why}: vacuous" + (' (allowed: vacuous = "ok")' if check.vacuous_ok else "")
    return CheckResult(check, check.vacuous_ok, None, detail, values=dict(values or {}), vacuous=True)


def evaluate_check(check: Check, grid: TraceGrid) -> CheckResult:
    """Judge ``check`` on ``grid``: PASS, FAIL, VACUOUS, or NOT MAPPED when it names a role the map does not bind.

    What "the trigger fired" means, for the two kinds that can pass without testing anything:

    - ``response``: some sample of the window (``from``..``until``, once every signal of the
      expression and the trigger has been seen) satisfies the trigger *and* leaves a whole
      ``within`` before the end of the run, so the answer can be judged.  A trigger that never
      holds, or holds only in the last ``within`` seconds, is VACUOUS; the detail says how close
      it came (its best robustness and the trigger's signals then).
    - ``eventually``: its window starts inside the run (``from`` <= the end of the run and <=
      ``until``).  The window is the trigger: ``eventually`` is a promise about a moment the
      scenario chose, and a moment the run never reaches tests nothing.  A window that starts
      but is cut short by the end is judged on what it saw (true somewhere: PASS; else FAIL).

    Either is PASS instead when the check says ``vacuous = "ok"`` (a guard that need not fire in
    this scenario); ``CheckResult.vacuous`` is set either way.
    """
    missing = unmapped_roles(check, grid.known)
    if missing:
        return not_mapped_result(check, missing)
    try:
        compiled = compile_expr(check.expr, grid.known)
    except ExprError as exc:
        return CheckResult(check, False, None, f"bad expression: {exc}")
    sat, rob = evaluate(compiled, grid)
    t = grid.t
    # Samples before every involved signal has been seen say nothing.
    seen = np.ones_like(sat, dtype=bool)
    for name in compiled.names:
        seen &= ~np.isnan(grid(name)[0])
    lo = check.from_s
    hi = check.until_s if check.until_s is not None else t[-1]
    window = seen & (t >= lo - 1e-9) & (t <= hi + 1e-9)
    rob = np.where(np.isnan(rob), -np.inf, rob)
    names = sorted(compiled.names)

    def values_at(i: int) -> dict[str, float | str]:
        return {n: grid.value_at(n, i) for n in names}

    kind = check.kind
    if kind == "eventually" and lo > min(hi, t[-1]) + 1e-9:
        return vacuous_result(check, f"the window starts at {lo:g} s, after the end of "
                                     f"{'its until' if hi < t[-1] else 'the run'} ({min(hi, t[-1]):g} s)")
    if not window.any():
        return CheckResult(check, False, None, "no data: the signals were never seen in the window")
    idx = np.flatnonzero(window)
    if kind in ("always", "never"):
        s = sat[idx] if kind == "always" else ~sat[idx]
        r = rob[idx] if kind == "always" else -rob[idx]
        worst = int(idx[np.argmin(r)])
        robustness = float(r.min())
        if s.all():
            return CheckResult(check, True, robustness, f"held over {t[idx[0]]:.1f}-{t[idx[-1]]:.1f} s",
                               values=values_at(worst))
        first = int(idx[np.argmin(s)])
        return CheckResult(check, False, robustness, f"violated first at t={t[first]:.1f} s",
                           violation_s=float(t[first]), values=values_at(first))
    if kind == "eventually":
        end = lo + (check.within_s if check.within_s is not None else hi - lo)
        sel = idx[t[idx] <= end + 1e-9]
        if len(sel) == 0:
            return CheckResult(check, False, None, "no data inside the window")
        best = int(sel[np.argmax(rob[sel])])
        robustness = float(rob[sel].max())
        if sat[sel].any():
            first = int(sel[np.argmax(sat[sel])])
            return CheckResult(check, True, robustness, f"first true at t={t[first]:.1f} s", values=values_at(first))
        return CheckResult(check, False, robustness, f"never true between {lo:.1f} and {end:.1f} s",
                           violation_s=float(end), values=values_at(best))
    if kind == "holds_for":
        n = max(1, int(round((check.duration_s or 0.0) / GRID_S)) + 1)
        ok = np.where(window, sat, False).astype(float)
        run_min = _window_min(np.where(window, rob, -np.inf), n)
        held = _window_min(ok, n) > 0
        # A hold cut short by the end of the window does not count.
        complete = np.arange(len(t)) + n - 1 <= idx[-1]
        run_min = np.where(complete, run_min, -np.inf)
        held &= complete
        robustness = float(run_min.max())
        if held.any():
            start = int(np.argmax(held))
            return CheckResult(check, True, robustness, f"held for {check.duration_s:g} s from t={t[start]:.1f} s",
                               values=values_at(start))
        return CheckResult(check, False, robustness, f"never held for {check.duration_s:g} s",
                           violation_s=float(t[idx[-1]]))
    if kind == "response":
        try:
            trig = compile_expr(check.trigger, grid.known)
        except ExprError as exc:
            return CheckResult(check, False, None, f"bad trigger: {exc}")
        tsat, trob = evaluate(trig, grid)
        for name in trig.names:
            window &= ~np.isnan(grid(name)[0])
        n = max(1, int(round((check.within_s or 0.0) / GRID_S)) + 1)
        answered = _window_max(np.where(seen, rob, -np.inf), n)      # best response within T
        answered_sat = _window_max(np.where(seen & sat, 1.0, 0.0), n) > 0
        trig_idx = np.flatnonzero(window & tsat)
        if len(trig_idx) == 0:
            return _never_triggered(check, grid, trig, trob, window)
        # Only triggers with a full window before the end can be judged.
        judged = trig_idx[t[trig_idx] + (check.within_s or 0.0) <= t[-1] + 1e-9]
        if len(judged) == 0:
            return vacuous_result(check, f"trigger held only from t={t[trig_idx[0]]:.1f} s, less than "
                                         f"{check.within_s:g} s before the end: too late to judge")
        r = answered[judged]
        robustness = float(r.min())
        bad = judged[~answered_sat[judged]]
        if len(bad) == 0:
            return CheckResult(check, True, robustness, f"{len(judged)} trigger samples, all answered within "
                                                        f"{check.within_s:g} s", values=values_at(int(judged[0])))
        first = int(bad[0])
        return CheckResult(check, False, robustness,
                           f"trigger at t={t[first]:.1f} s not answered within {check.within_s:g} s",
                           violation_s=float(t[first]), values=values_at(first))
    return CheckResult(check, False, None, f"unknown check kind {kind!r}")


def _never_triggered(check: Check, grid: TraceGrid, trig, trob: np.ndarray, window: np.ndarray) -> CheckResult:
    """VACUOUS (or an allowed guard's PASS): the trigger never held; say how close it came, and when."""
    t = grid.t
    margin = np.where(window & ~np.isnan(trob), trob, -np.inf)
    if not window.any() or not np.isfinite(margin).any():
        return vacuous_result(check, "trigger never occurred (its signals were never seen in the window)")
    closest = int(np.argmax(margin))
    values = {n: grid.value_at(n, closest) for n in sorted(trig.names)}
    shown = "  ".join(f"{n}={v:.4g}" if isinstance(v, float) else f"{n}={v}" for n, v in values.items())
    return vacuous_result(check, f"trigger never occurred (closest at t={t[closest]:.1f} s: {shown}, "
                                 f"robustness {float(margin[closest]):+.4g})", values)
