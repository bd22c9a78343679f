"""What a scenario is: initial conditions, a timeline of steps, and checks.

Plain data, loaded from TOML by :mod:`.loader` or built in Python.  Times are
seconds of bench time (simulated or wall).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Step:
    """One scheduled action of a scenario: at ``at_s`` seconds, ``action`` with its parameters."""

    at_s: float
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def label(self) -> str:
        """How reports name the step: its ``name``, else its action."""
        return self.name or self.action


@dataclass(frozen=True)
class Check:
    """A temporal property over decoded bus signals.

    kinds: ``always``, ``never``, ``eventually`` (within ``within_s`` of
    ``from_s``), ``holds_for`` (holds continuously for ``duration_s`` at some
    point), ``response`` (whenever ``trigger`` holds, ``expr`` holds within
    ``within_s``), and bench health checks ``cycle_times`` and ``bus_integrity``.

    A ``response`` whose trigger never fires, or an ``eventually`` whose
    window never starts inside the run, proves nothing: it is judged VACUOUS
    and fails the scenario, unless ``vacuous_ok`` (``vacuous = "ok"`` in the
    file) says the check is only a guard that need not fire in this scenario.
    """

    kind: str
    name: str
    expr: str = ""
    trigger: str = ""
    within_s: float | None = None
    duration_s: float | None = None
    from_s: float = 0.0
    until_s: float | None = None
    tolerance_pct: float = 1.0
    unit: str = ""
    #: ``vacuous = "ok"``: a trigger that never fires passes (a guard); by default it is VACUOUS and fails.
    vacuous_ok: bool = False


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: initial conditions, DUT settings, timed steps and the checks that judge the run.

    Immutable; :func:`~hilbench.scenarios.load_scenario` builds it from a file and refuses bad input.
    """

    name: str
    duration_s: float
    description: str = ""
    initial: dict[str, Any] = field(default_factory=dict)
    dut: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    checks: tuple[Check, ...] = ()
    markers: tuple[str, ...] = ()
    source: Path | None = None
    #: The raw ``[fuzz]`` table (ranges for ``hilbench fuzz``), validated by the fuzzer.
    fuzz: dict[str, Any] = field(default_factory=dict)
    #: The seeded DUT defects (``hilbench defects``) this scenario is built to catch: its checks watch
    #: the rule each one switches off, so it must fail with each (``[scenario] catches = [...]``).
    catches: tuple[str, ...] = ()
