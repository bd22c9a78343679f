"""A run stopped early (a signal before its first task, or at a seeded instant mid-run) is judged
over the time that ran, for every kind of check the bundled scenarios use: partial verdicts, never
a crash.  The default run takes a seeded sample of the bundled scenarios; HILBENCH_SLOW=1 all."""

from __future__ import annotations

import os
import random

import pytest

from hilbench.clock import Clock, StopRequest
from hilbench.resources import scenarios_dir
from hilbench.scenarios import RunOptions, discover, load_scenario, run_scenario
from hilbench.scenarios.report import checks_table

SHORT = [s for s in (load_scenario(f) for f in discover([scenarios_dir()])) if "long" not in s.markers]
SAMPLE = SHORT if os.environ.get("HILBENCH_SLOW") else random.Random(12).sample(SHORT, 4)


class _StopAt(StopRequest):
    """Asks for the stop from inside the run at ``at_s`` of simulated time, as a signal handler would."""

    def __init__(self, at_s: float) -> None:
        super().__init__()
        self.at_s = at_s

    def bind(self, clock: Clock | None) -> None:
        super().bind(clock)
        if clock is not None:
            clock.call_at(self.at_s, lambda: self.request("SIGTERM"))


@pytest.mark.parametrize("scenario", SAMPLE, ids=lambda s: s.name)
def test_a_run_stopped_early_gets_partial_verdicts_for_every_check(scenario) -> None:
    before = StopRequest()
    before.request("SIGINT")                      # during start-up: not one task runs
    result = run_scenario(scenario, RunOptions(keep_traces=False), stop=before)
    assert result.verdict == "INTERRUPTED" and result.interrupted == "SIGINT" and not result.passed
    assert result.duration_s == 0.0 and result.frames == 0
    assert len(result.checks) == len(scenario.checks)
    checks_table(result)

    at_s = round(random.Random(scenario.name).uniform(1.0, scenario.duration_s - 1.0), 3)
    result = run_scenario(scenario, RunOptions(keep_traces=False), stop=_StopAt(at_s))
    assert result.interrupted == "SIGTERM" and result.duration_s == pytest.approx(at_s, abs=1e-6)
    assert len(result.checks) == len(scenario.checks) and result.frames > 0
    # Judged over 0..at_s only: no violation after the stop.
    assert all(c.violation_s is None or c.violation_s <= at_s + 1e-6 for c in result.checks)
    checks_table(result)


def test_checks_the_time_that_ran_cannot_decide_say_so() -> None:
    """VCU silent from 30 s, stopped at 30.4 s: the SAFE_STOP it must reach by 31 s is not due yet,
    and the checks from 31 s and 40 s have not begun; the one already met stays PASS."""
    scenario = load_scenario(scenarios_dir() / "comms" / "vcu_silent_lfp_45c.toml")
    result = run_scenario(scenario, RunOptions(keep_traces=False), stop=_StopAt(30.4))
    details = {c.check.name: (c.verdict, c.detail, c.violation_s) for c in result.checks}
    assert details["compute starts within 2 s"][0] == "PASS"
    assert details["SAFE_STOP within 1 s of the silence"][1].startswith(
        "undecided: its window was still open when the run stopped at 30.4 s (never true between 30.0 and 31.0 s")
    assert details["no compute while silent and during the resume hold"][1].startswith(
        "undecided: its window starts at 31 s, after the stop at 30.4 s")
    assert details["resumes after the hold"][1].startswith("undecided: its window starts at 40 s, after the stop")
    assert all(violation is None for _, _, violation in details.values())
