"""The TUI's scenario runner: runs in worker processes, live verdicts, summaries, and the view over them.

Worker processes take a second or two to start, so the runner tests share one
runner and one batch of runs (a passing scenario, a failing one, two that do not
load), submitted together and collected once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from _scenarios import SHORT_SCENARIO
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer

import tui.runner
from hilbench.clock import wall_sleep_s, wall_time_s
from hilbench.errors import ConfigError
from hilbench.scenarios.loader import bundled_scenarios_dir
from tui.runner import (
    CANCELLED,
    CLOSE_GRACE_S,
    ERROR,
    LiveUpdate,
    RunSummary,
    ScenarioRunner,
    bundled_scenarios,
    describe_scenarios,
    run_in_worker,
    scenario_files,
)
from tui.widgets.scenario_runner import ScenarioRunnerView

#: Wall seconds a batch of runs may take before a test gives up (worker start-up included).
WAIT_S = 60.0

FAILING_SCENARIO = SHORT_SCENARIO.replace('name = "short"', 'name = "short_failing"') + """
[[checks]]
kind = "always"
name = "soc stays above 90 %"
expr = "soc_pct > 90"
"""
BAD_ACTION = """\
[scenario]
name = "bad_action"
duration = "20s"

[[steps]]
at = "1s"
action = "launch_rockets"
"""
BAD_TOML = "[scenario\nname = 'broken'\n"


def collect(runner: ScenarioRunner, n_summaries: int) -> list[LiveUpdate | RunSummary]:
    """Poll ``runner`` until ``n_summaries`` runs ended; everything it gave, in order."""
    items: list[LiveUpdate | RunSummary] = []
    deadline = wall_time_s() + WAIT_S
    while sum(isinstance(i, RunSummary) for i in items) < n_summaries:
        assert wall_time_s() < deadline, f"runs not done after {WAIT_S} s: {items}"
        items += runner.poll()
        wall_sleep_s(0.05)
    return items


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    out = {}
    for name, text in (("short", SHORT_SCENARIO), ("failing", FAILING_SCENARIO), ("bad_action", BAD_ACTION),
                       ("bad_toml", BAD_TOML)):
        out[name] = folder / f"{name}.toml"
        out[name].write_text(text, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def batch(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[ScenarioRunner, list[LiveUpdate | RunSummary]]]:
    runner = ScenarioRunner(tmp_path_factory.mktemp("reports"), seed=1, max_workers=2)
    try:
        assert runner.submit(list(files.values())) == list(files.values())
        assert runner.submit([files["short"]]) == []          # queued already: not twice
        yield runner, collect(runner, len(files))
    finally:
        start = wall_time_s()
        runner.close()
        assert wall_time_s() - start < CLOSE_GRACE_S


def summary_of(items: list[LiveUpdate | RunSummary], path: Path) -> RunSummary:
    (summary,) = [i for i in items if isinstance(i, RunSummary) and i.path == path]
    return summary


def test_a_short_scenario_passes_with_live_verdicts_first(batch, files) -> None:
    runner, items = batch
    summary = summary_of(items, files["short"])
    assert summary.verdict == "PASS", summary
    assert [(c.name, c.verdict) for c in summary.checks] == [("no compute power outside P", "PASS")]
    assert summary.duration_s == pytest.approx(40.0)
    assert summary.seed == 1
    assert summary.report_path is not None and summary.report_path.is_file()
    assert summary.report_path.parent.name == "short"
    mine = [i for i in items if i.path == files["short"]]
    assert isinstance(mine[-1], RunSummary)
    live = [i for i in mine if isinstance(i, LiveUpdate) and i.checks is not None]
    assert live, "no live verdicts before the summary"
    assert [u.now_s for u in live] == sorted(u.now_s for u in live)
    assert all(u.checks is not None and u.checks[0].name == "no compute power outside P" for u in live)
    assert runner.running == runner.pending == 0


def test_a_failing_check_gives_fail_with_its_details(batch, files) -> None:
    _, items = batch
    summary = summary_of(items, files["failing"])
    assert summary.verdict == "FAIL"
    verdicts = {c.name: c.verdict for c in summary.checks}
    assert verdicts == {"no compute power outside P": "PASS", "soc stays above 90 %": "FAIL"}
    assert 'FAILED check "soc stays above 90 %"' in summary.failure_details
    assert "first violation at t = " in summary.failure_details
    assert summary.report_path is not None and summary.report_path.is_file()
    # The violation shows live, before the end, and stays.
    live = [i for i in items if isinstance(i, LiveUpdate) and i.path == files["failing"] and i.checks]
    assert any(u.now_s < 40.0 and u.checks[1].verdict == "FAIL" for u in live if u.checks)


@pytest.mark.parametrize(("name", "reason"), [("bad_action", "unknown action 'launch_rockets'"),
                                              ("bad_toml", "line")])
def test_a_malformed_file_gives_error_naming_file_and_reason(batch, files, name: str, reason: str) -> None:
    _, items = batch
    summary = summary_of(items, files[name])
    assert summary.verdict == ERROR
    assert summary.error is not None
    assert str(files[name]) in summary.error and reason in summary.error
    assert "Traceback" not in summary.error
    assert summary.report_path is None


def test_any_other_failure_of_a_run_is_an_error_verdict(files, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def adapter_on_fire(*args: object, **kwargs: object) -> None:
        raise RuntimeError("adapter on fire")

    monkeypatch.setattr(tui.runner, "run_scenario", adapter_on_fire)
    summary = run_in_worker(files["short"], 0, tmp_path)             # in this process: no updates posted
    assert (summary.verdict, summary.name, summary.error) == (ERROR, "short", "RuntimeError: adapter on fire")


def test_no_matplotlib_means_no_report_not_no_verdict(files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_plots(*args: object, **kwargs: object) -> None:
        raise ConfigError(tmp_path, None, "the report's plots need matplotlib: pip install 'hilbench[report]'")

    monkeypatch.setattr(tui.runner, "write_html_report", no_plots)
    summary = run_in_worker(files["short"], 0, tmp_path)
    assert summary.verdict == "PASS" and summary.report_path is None
    assert summary.note.startswith("no report (no plots): the report's plots need matplotlib")


def test_cancel_all_cancels_what_has_not_started(files, tmp_path: Path) -> None:
    with ScenarioRunner(tmp_path, max_workers=1) as runner:
        paths = [files["short"], files["failing"], files["bad_action"]]
        runner.submit(paths)
        cancelled = runner.cancel_all()          # the worker is still starting: nothing ran yet
        items = collect(runner, len(paths) - len(cancelled))
        summaries = [i for i in items if isinstance(i, RunSummary)]
        assert sorted([*cancelled, *(s.path for s in summaries)]) == sorted(paths)
        assert all(s.verdict == CANCELLED for s in summaries)
        assert not [i for i in items if isinstance(i, LiveUpdate)]
        assert runner.running == runner.pending == 0


def test_the_tree_lists_the_bundled_suite_and_marks_long_ones(files) -> None:
    paths = bundled_scenarios()
    assert len(paths) == 28 and paths[0].name == "overnight.toml"
    entries = describe_scenarios(bundled_scenarios_dir())
    assert [e.name for e in entries if e.long] == ["overnight"]
    assert {e.group for e in entries} == {"", "battery", "charging", "comms", "thermal", "vehicle"}
    mine = describe_scenarios(files["short"].parent)
    assert [(e.name, e.problem is None) for e in mine] == [
        ("bad_action", False), ("bad_toml", False), ("short_failing", True), ("short", True)]
    assert "unknown action 'launch_rockets'" in (mine[0].problem or "")
    assert mine[3].checks == ("no compute power outside P",) and mine[3].group == ""
    assert scenario_files(files["short"].parent) == sorted(files.values())


# -- the view -------------------------------------------------------------------------------
class RunnerApp(App[None]):
    """Only the view (and a footer, whose bindings the test reads)."""

    def __init__(self, runner: ScenarioRunner, folder: Path) -> None:
        super().__init__()
        self.runner = runner
        self.folder = folder

    def compose(self) -> ComposeResult:
        yield ScenarioRunnerView(runner=self.runner, extra_folder=self.folder)
        yield Footer()


def test_enter_runs_the_selected_scenario_and_shows_its_verdicts(short_scenario: Path, tmp_path: Path) -> None:
    with ScenarioRunner(tmp_path / "reports", max_workers=1) as runner:
        asyncio.run(_enter_runs_and_shows(RunnerApp(runner, tmp_path), short_scenario))


async def _enter_runs_and_shows(app: RunnerApp, path: Path) -> None:
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.query_one(ScenarioRunnerView)
        view.select(path)
        await pilot.pause()
        assert view.state_of(path) == "not run"
        assert {b.binding.description for b in app.active_bindings.values() if b.binding.show} >= {
            "Run", "Run all (not long)", "Run all", "Cancel queued"}
        await pilot.press("enter")
        assert view.state_of(path) == "queued"
        start = wall_time_s()
        seen = set()
        while path not in view.summaries and wall_time_s() - start < WAIT_S:
            seen.add(view.state_of(path).split(" ")[0])
            await asyncio.sleep(0.1)
            await pilot.pause()
        assert view.state_of(path) == "PASS", view.details_text
        assert "running" in seen
        assert "PASS" in view.verdict_text()
        table = app.query_one(DataTable)
        assert table.row_count == 1
        name, verdict, robustness, _ = table.get_row_at(0)
        assert name == "no compute power outside P" and str(verdict) == "PASS" and robustness
        report = view.summaries[path].report_path
        assert report is not None and f"report: {report}" in view.details_text
        assert "PASS" in app.export_screenshot()
