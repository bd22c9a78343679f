"""pytest plugin: bench fixtures, scenario files as test items, options to run them on a real bus.

Registered through the ``pytest11`` entry point (name ``hilbench``; disable
with ``-p no:hilbench``), so ``pytest`` finds all of this with no conftest.

Fixtures
    ``bench_config``  the :class:`~hilbench.bench.BenchConfig` a test's bench is
                      built from (default config); override it in a conftest or
                      module to change chemistry, SOC, ... The ``--hil-*``
                      options are applied on top of it.
    ``bench``         a started :class:`~hilbench.bench.Bench`, closed (recording
                      flushed, buses shut) after the test.
    ``dut``           the bench's compute emulator (``bench.dut``); skipped when
                      ``--hil-no-dut`` says a real compute unit is on the bus.
    ``bus``           the bench's rest-bus :class:`~hilbench.bus.port.BusPort`:
                      the adapter the emulated BMS/VCU/OBC send through.
                      ``bus.send(msg)`` stamps the frame with bench time and
                      passes it through the monitor and recorder like any node's
                      frame; ``bus.subscribe(frame_id, handler)`` sees what the
                      DUT sends; ``bus.bus`` is the python-can handle beneath.
                      A port, not a bare python-can handle, because a second raw
                      handle would bypass the monitor and the recording.
    ``hil_run_options`` the :class:`~hilbench.scenarios.RunOptions` the command
                      line asks for, for tests that call ``run_scenario`` themselves.

Scenario files
    Every ``*.toml`` with a ``[scenario]`` table under the paths pytest
    collects (``fixtures/scenarios`` is in this repository's ``testpaths``) is
    a test item that runs :func:`~hilbench.scenarios.run_scenario` and fails
    with the readable report: check, verdict, robustness, time of first
    violation, signal values and the decoded frames around it.  A TOML that is
    not a scenario (``pyproject.toml``, signal maps) is left alone; a scenario
    that does not load is a collection error naming file, entry, line and reason.

Markers
    ``scenario`` on every scenario item; the scenario's ``markers`` list
    (chemistry ``lfp``, ``nmc``, ``sodium_ion``, ``solid_state``; duration
    ``short``, ``long``) become pytest markers, so ``-m "lfp and not long"``
    works under ``--strict-markers``.  A scenario naming neither ``short`` nor
    ``long`` gets one from its duration (``long`` from one hour on).

Options
    The bus options of every ``hilbench`` subcommand, spelled ``--hil-...``
    (one table, :mod:`hilbench.cli.bus_options`): ``--hil-dbc FILE``
    (repeatable: DBCs overlaid in order), ``--hil-signal-map FILE``,
    ``--hil-interface/--hil-channel/--hil-bitrate`` to run on a python-can bus
    (``virtual`` or ``simtime`` stay in simulated time; real interfaces run in
    wall time) and ``--hil-no-dut``; they apply to scenario items and to the
    ``bench`` fixture (over ``bench_config``, where given).  Besides them
    ``--hil-seed``, ``--hil-dut-defect``, and
    ``--hil-artifacts DIR``: per test, ``DIR/<test name>/`` holds ``bus.log``
    (candump, every frame), ``trace.csv`` (role traces on the check grid),
    ``traces.png``, and for scenarios ``report.txt`` and ``index.html``.

Under pytest-xdist, long scenarios are queued first so they do not finish last.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Generator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from .cli.bus_options import BusOptions, add_pytest_options
from .errors import ConfigError

if TYPE_CHECKING:
    from .bench import Bench, BenchConfig
    from .scenarios import RunOptions, Scenario, ScenarioResult

CHEMISTRY_MARKERS = {
    "lfp": "scenario on a lithium iron phosphate (LFP) pack",
    "nmc": "scenario on a nickel manganese cobalt (NMC) pack",
    "sodium_ion": "scenario on a sodium-ion pack",
    "solid_state": "scenario on a solid-state pack",
}
DURATION_MARKERS = {
    "short": "scenario of less than an hour of bench time",
    "long": "scenario of an hour or more of bench time (the overnight session)",
}
LONG_FROM_S = 3600.0
_SCENARIO_HEADER = re.compile(r"^\s*\[scenario\]", re.MULTILINE)
_ARTIFACTS_KEY = pytest.StashKey[Path]()
_REPORT_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
_BUS_KEY = pytest.StashKey[BusOptions]()


# -- options and markers -------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--hil-*`` options: the bus options every subcommand shares, seed, DUT defect, artifacts."""
    group = parser.getgroup("hilbench", "hilbench hardware-in-the-loop bench")
    # --hil-dbc, --hil-signal-map, --hil-interface, --hil-channel, --hil-bitrate, --hil-no-dut: the
    # same table as every hilbench subcommand's bus options.
    add_pytest_options(group)
    group.addoption("--hil-seed", type=int, default=None, metavar="N", help="seed for every random source (default 0)")
    group.addoption("--hil-dut-defect", default=None, metavar="DEFECT",
                    help="run against the compute emulator with a seeded defect (the suite should then fail)")
    group.addoption("--hil-artifacts", type=Path, default=None, metavar="DIR",
                    help="write per-test artifacts to DIR/<test name>/: bus.log (candump), trace.csv, traces.png")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and check the ``--hil-*`` options once, before collection.

    Raises:
        pytest.UsageError: a bad bus option or an unknown DUT defect, with the option named.
    """
    config.addinivalue_line("markers", "scenario: a hilbench scenario file run as a test")
    for name, doc in {**CHEMISTRY_MARKERS, **DURATION_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    try:
        bus = BusOptions.from_pytest(config)
        bus.dut_defect(config.getoption("hil_dut_defect"), prefix="--hil-")
    except ConfigError as exc:
        raise pytest.UsageError(f"{exc.entry} {exc.reason}") from None
    config.stash[_BUS_KEY] = bus
    if not hasattr(config, "workerinput"):   # the controller (or a plain run) lists them; xdist workers report
        config.pluginmanager.register(_WarningSummary(), "hilbench-warning-summary")
    artifacts = config.getoption("hil_artifacts")
    if artifacts is not None:
        config.stash[_ARTIFACTS_KEY] = Path(artifacts).resolve()


def bus_options(config: pytest.Config) -> BusOptions:
    """The bus, DBCs and signal map the ``--hil-*`` options ask for (checked when pytest starts)."""
    return config.stash[_BUS_KEY]


def run_options(config: pytest.Config, *, record: Path | None = None) -> RunOptions:
    """The :class:`RunOptions` the ``--hil-*`` options ask for."""
    return bus_options(config).run_options(seed=config.getoption("hil_seed") or 0, record=record,
                                           dut_defect=config.getoption("hil_dut_defect"))


def artifacts_dir(item: pytest.Item) -> Path | None:
    """``DIR/<test name>/`` for ``--hil-artifacts DIR`` (created), else None."""
    base = item.config.stash.get(_ARTIFACTS_KEY, None)
    if base is None:
        return None
    from .scenarios.report import slug

    path = base / slug(item.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def hil_run_options(request: pytest.FixtureRequest) -> RunOptions:
    """RunOptions from the command line (seed, bus, DUT defect; recording into the artifacts dir)."""
    folder = artifacts_dir(request.node)
    return run_options(request.config, record=folder / "bus.log" if folder else None)


@pytest.fixture
def bench_config() -> BenchConfig:
    """The config the ``bench`` fixture builds from; override to change the bench."""
    from .bench import BenchConfig

    return BenchConfig()


@pytest.fixture
def bench(request: pytest.FixtureRequest, bench_config: BenchConfig) -> Iterator[Bench]:
    """A started bench honouring the ``--hil-*`` options, closed after the test."""
    from .bench import Bench

    config = request.config
    folder = artifacts_dir(request.node)
    changes: dict[str, Any] = {}
    if config.getoption("hil_seed") is not None:
        changes["seed"] = config.getoption("hil_seed")
    if config.getoption("hil_dut_defect"):
        changes["dut"] = {**bench_config.dut, "defect": config.getoption("hil_dut_defect")}
    if folder is not None:
        changes["record"] = folder / "bus.log"
    # A conftest's own bus, DBCs and map stand where the command line does not say otherwise.
    with Bench(bus_options(config).apply_to(bench_config.with_(**changes))) as the_bench:
        the_bench.start()
        yield the_bench
        _note_warnings(request.node, the_bench.warnings)
    if folder is not None and the_bench.now > 0:
        _bench_artifacts(request.node, the_bench, folder)


@pytest.fixture
def dut(bench: Bench) -> Any:
    """The bench's compute emulator (skips when ``--hil-no-dut`` put a real one on the bus)."""
    if bench.dut is None:
        pytest.skip("no emulated compute unit (--hil-no-dut): a real one is on the bus")
    return bench.dut


@pytest.fixture
def bus(bench: Bench) -> Any:
    """The bench's rest-bus port (see the module docstring)."""
    return bench.restbus


def _bench_artifacts(item: pytest.Item, bench: Bench, folder: Path) -> None:
    from .scenarios.checks import TraceGrid
    from .scenarios.report import write_trace_csv
    from .scenarios.runner import REPORT_ROLES, Traces

    traces = Traces.from_grid(TraceGrid(bench.monitor, bench.now), REPORT_ROLES)
    write_trace_csv(traces, folder / "trace.csv")
    reports = item.stash.get(_REPORT_KEY, {})
    call = reports.get("call")
    verdict = "PASS" if call is not None and call.passed else "FAIL"
    _plot(traces, folder / "traces.png", title=item.name, verdict=verdict, duration_s=bench.now)


def _plot(traces: Any, path: Path, **kwargs: Any) -> bool:
    """Draw the PNG; without matplotlib, leave a note beside it instead (False)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        path.with_suffix(".txt").write_text("plots need matplotlib: pip install 'hilbench[report]'\n")
        return False
    from .scenarios.plots import plot_traces

    plot_traces(traces, path, **kwargs)
    return True


# -- warnings: what a bench said out loud (a lenient DBC's offenders, values clipped to a DBC range) -----
_WARNING_PROPERTY = "hilbench_warning"


def _note_warnings(item: pytest.Item, warnings: Any) -> None:
    """Carry a test's bench warnings on its reports (which pytest-xdist sends to the controller)."""
    for text in warnings:
        if (_WARNING_PROPERTY, text) not in item.user_properties:
            item.user_properties.append((_WARNING_PROPERTY, text))


class _WarningSummary:
    """Gathers the warnings every test's reports carry and lists them once at the end of the run."""

    def __init__(self) -> None:
        self.found: dict[str, None] = {}    # in order of first appearance

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, text in report.user_properties:
            if key == _WARNING_PROPERTY:
                self.found[str(text)] = None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.found:
            terminalreporter.write_sep("=", f"hilbench warnings ({len(self.found)})")
            for text in self.found:
                terminalreporter.write_line(f"warning: {text}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so the artifacts written at teardown know the verdict."""
    report = yield
    item.stash.setdefault(_REPORT_KEY, {})[report.when] = report
    return report


# -- scenario files as test items ----------------------------------------------------------
def is_scenario_file(path: Path) -> bool:
    """A ``.toml`` whose content has a ``[scenario]`` table (one that does not parse, if it has the header)."""
    if path.suffix != ".toml":
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return isinstance(tomllib.loads(text).get("scenario"), dict)
    except tomllib.TOMLDecodeError:
        return _SCENARIO_HEADER.search(text) is not None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect a scenario file (a ``.toml`` with a ``[scenario]`` table) as one test."""
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioLoadError(Exception):
    """A scenario file that cannot be loaded; collection reports its message alone."""


class ScenarioFile(pytest.File):
    """A scenario ``.toml`` file as collected by pytest: one :class:`ScenarioItem`."""

    def collect(self) -> Iterator[ScenarioItem]:
        """Load the scenario and yield its item.

        Raises:
            ScenarioLoadError: the file does not load; reported as its message alone.
        """
        from .errors import ConfigError
        from .scenarios import load_scenario

        try:
            scenario = load_scenario(self.path)
        except ConfigError as exc:
            raise ScenarioLoadError(f"error: {exc}") from None
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The load error's message alone, without a traceback through the loader."""
        if isinstance(excinfo.value, ScenarioLoadError):
            return FailureText(str(excinfo.value))
        return super().repr_failure(excinfo)


class FailureText:
    """A failure's text as pytest reports it, without a traceback.

    The short summary (``-ra``) takes its message from ``longrepr.reprcrash.message`` on pytest 8,
    which a plain string lacks: this carries the text's first line there, so ``FAILED x.toml::name -
    "check" failed at t=...`` reads the same on every supported pytest.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        headline = next((line.strip() for line in text.splitlines() if line.strip()), text)
        self.reprcrash = SimpleNamespace(message=headline)

    def toterminal(self, tw: Any) -> None:
        """Write the text, line by line (pytest's terminal writer)."""
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class ScenarioFailed(Exception):
    """A scenario ran and at least one check failed (or the run reported an error)."""

    def __init__(self, result: ScenarioResult, report: str) -> None:
        super().__init__(report)
        self.result = result
        self.report = report


class ScenarioItem(pytest.Item):
    """One scenario run as a test, marked ``scenario``, with its own markers and ``short`` or ``long``."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker("scenario")
        for marker in scenario.markers:
            self.add_marker(marker)
        if not set(scenario.markers) & set(DURATION_MARKERS):
            self.add_marker("long" if scenario.duration_s >= LONG_FROM_S else "short")

    def runtest(self) -> None:
        """Run the scenario with the session's ``--hil-*`` options and write its artifacts if asked.

        Raises:
            ScenarioFailed: a check failed or the run reported an error; carries the failure report.
        """
        from .scenarios import run_scenario
        from .scenarios.report import failure_message, format_failure

        folder = artifacts_dir(self)
        options = run_options(self.config, record=folder / "bus.log" if folder else None)
        result = run_scenario(self.scenario, options)
        # ``warnings`` is new on ScenarioResult (issue 10, scenarios side): tolerated absent until merged.
        _note_warnings(self, result.warnings)
        report = format_failure(result)
        if not result.passed:   # the first line is what pytest's short summary shows
            report = f"{failure_message(result)}\n\n{report}"
        if folder is not None:
            report += f"\n\nartifacts: {folder}"
            self._write_artifacts(result, folder, report)
        result.traces = None    # the plots are drawn; do not hold an overnight's traces to the session's end
        if not result.passed:
            raise ScenarioFailed(result, report)

    @staticmethod
    def _write_artifacts(result: ScenarioResult, folder: Path, report: str) -> None:
        from .scenarios.report import HtmlReport, write_trace_csv

        (folder / "report.txt").write_text(report + "\n", encoding="utf-8")
        if result.traces is None:
            return
        write_trace_csv(result.traces, folder / "trace.csv")
        if not _plot(result.traces, folder / "traces.png", title=result.scenario.name, verdict=result.verdict,
                     duration_s=result.duration_s, steps=result.steps, violations=result.violations):
            return
        html = HtmlReport(folder, title=f"hilbench: {result.scenario.name}")
        html.add(result, plot="traces.png")
        html.write()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The scenario's failure report, or ``error: ...`` for a bench error, instead of a traceback."""
        from .errors import HilbenchError

        if isinstance(excinfo.value, ScenarioFailed):
            return FailureText(excinfo.value.report)
        if isinstance(excinfo.value, HilbenchError):
            return FailureText(f"error: {excinfo.value}")
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where pytest says the test is: the scenario file, no line."""
        return self.path, None, f"scenario: {self.name}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, queue long scenarios first so the run does not wait on them at the end."""
    if not (getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput")):
        return
    items.sort(key=lambda item: 0 if item.get_closest_marker("long") is not None else 1)
