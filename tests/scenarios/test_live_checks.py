"""``run_scenario(live=...)``: verdicts as they form, without changing the run.

A front end (the TUI's scenario runner) shows each check's verdict while the
scenario runs.  The live judging only reads the monitor, so the run must be the
same bit for bit; the verdicts it shows must lead to the final ones; and a
violation seen live (of a check that cannot recover: ``never``, ``always``,
``response``) must still be there at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.scenarios import RunOptions, ScenarioResult, load_scenario, run_scenario
from hilbench.scenarios.checks import CheckResult
from hilbench.scenarios.loader import bundled_scenarios_dir

#: 20 s of owner consent off and on again: every check passes.
SHORT = Path(__file__).parents[1] / "cli" / "data" / "owner_stops_compute_short.toml"
#: 2 min of drive request and shift to D; with the ``ignore_gear`` defect the unit computes in D.
DRIVE = bundled_scenarios_dir() / "vehicle" / "drive_request_and_shift_nmc_25c.toml"

#: Check kinds whose violation cannot be undone by what comes later.
MONOTONE_KINDS = ("never", "always", "response")


def _run_with_live(path: Path, options: RunOptions, live_every_s: float | None = None
                   ) -> tuple[list[tuple[float, list[CheckResult]]], ScenarioResult]:
    """Run ``path`` with a ``live`` callback; every call it got (time, checks) and the result."""
    calls: list[tuple[float, list[CheckResult]]] = []
    result = run_scenario(load_scenario(path), options, live=lambda t, r: calls.append((t, r)),
                          live_every_s=live_every_s)
    return calls, result


def _outcome(checks: list[CheckResult]) -> list[tuple[str, str, float | None, float | None]]:
    return [(c.check.name, c.verdict, c.robustness, c.violation_s) for c in checks]


@pytest.mark.parametrize(("path", "defect"), [(SHORT, None), (DRIVE, "ignore_gear")], ids=["pass", "fail"])
def test_live_changes_nothing_and_ends_on_the_final_verdicts(path: Path, defect: str | None) -> None:
    options = RunOptions(seed=3, dut_defect=defect)
    plain = run_scenario(load_scenario(path), options)
    calls, live = _run_with_live(path, options)

    assert _outcome(live.checks) == _outcome(plain.checks)
    assert live.frames == plain.frames
    assert live.economics == plain.economics
    assert live.verdict == plain.verdict == ("PASS" if defect is None else "FAIL")

    times = [t for t, _ in calls]
    assert len(times) >= 5                       # a tenth of the scenario each (at least 1 s), and the end
    assert times == sorted(set(times))
    assert times[-1] == pytest.approx(plain.duration_s)
    assert _outcome(calls[-1][1]) == _outcome(plain.checks)


def test_a_violation_seen_live_stays_to_the_end() -> None:
    calls, result = _run_with_live(DRIVE, RunOptions(seed=0, dut_defect="ignore_gear"), live_every_s=5.0)
    final = {c.check.name: c for c in result.checks}
    seen_failing = set()
    for t_s, checks in calls:
        for check in checks:
            if check.check.kind in MONOTONE_KINDS and check.failed:
                seen_failing.add(check.check.name)
                assert final[check.check.name].failed, f"{check.check.name} FAIL at {t_s} s, not at the end"
                assert check.violation_s == final[check.check.name].violation_s
    assert "no compute power outside P" in seen_failing           # the defect shows before the end
    assert [t for t, _ in calls][:3] == pytest.approx([5.0, 10.0, 15.0])


def test_live_every_s_must_be_positive() -> None:
    with pytest.raises(ValueError, match="live_every_s"):
        run_scenario(load_scenario(SHORT), RunOptions(), live=lambda t, r: None, live_every_s=0.0)
