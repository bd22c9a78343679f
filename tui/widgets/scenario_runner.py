"""Run scenarios from the TUI and read their verdicts: a tree of files, a verdict table, the failure details.

The runs happen in worker processes (:class:`tui.runner.ScenarioRunner`); this
widget only polls the runner five times a second and shows what came, so the
screen keeps drawing while an eight-hour scenario runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode

from hilbench.errors import ConfigError
from hilbench.scenarios import RunOptions
from hilbench.scenarios.loader import bundled_scenarios_dir

from ..runner import (
    CANCELLED,
    ERROR,
    PENDING,
    CheckRow,
    LiveUpdate,
    RunSummary,
    ScenarioEntry,
    ScenarioRunner,
    describe_scenarios,
)

#: Wall seconds between two polls of the runner.
POLL_EVERY_S = 0.2
#: How the states of a scenario and the verdicts of a check are coloured.
STATE_STYLES: dict[str, str] = {
    "PASS": "bold green", "FAIL": "bold red", ERROR: "bold white on red", "INTERRUPTED": "bold yellow",
    CANCELLED: "dim", "VACUOUS": "bold magenta", "NOT MAPPED": "yellow", PENDING: "cyan",
    "queued": "yellow", "running": "cyan", "not run": "dim",
}
NOT_RUN = "not run"
QUEUED = "queued"


def _style_of(state: str) -> str:
    return STATE_STYLES.get(state.split(" ")[0] if state.startswith("running") else state, "")


def _fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class ScenarioRunnerView(Widget, can_focus=False):
    """Scenario files by folder with their state, and the selected one's verdicts and failure details.

    ``enter`` runs the scenario under the cursor (or every one under a folder, long ones left
    out), ``a`` runs all but the long ones (``A``: all), ``x`` cancels the runs not started.
    Give ``out_dir`` (the HTML reports go under it, one folder per scenario) or a ``runner``
    of your own (then closing it is yours).

    Raises:
        ValueError: neither ``out_dir`` nor ``runner`` was given.
    """

    DEFAULT_CSS = """
    ScenarioRunnerView {
        layout: horizontal;
        height: 1fr;
    }
    ScenarioRunnerView > Tree {
        width: 56;
        height: 1fr;
        border: round $primary;
        border-title-color: $primary;
    }
    ScenarioRunnerView > #scenario-result {
        width: 1fr;
        height: 1fr;
    }
    ScenarioRunnerView #scenario-heading {
        height: auto;
        padding: 0 1;
    }
    ScenarioRunnerView DataTable {
        height: auto;
        max-height: 16;
        border: round $primary;
    }
    ScenarioRunnerView #scenario-details {
        height: 1fr;
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the tree's own enter would only select (and fold) the node.
        Binding("enter", "run_selected", "Run", priority=True),
        Binding("a", "run_all", "Run all (not long)"),
        Binding("A", "run_all(True)", "Run all"),
        Binding("x", "cancel_queued", "Cancel queued"),
    ]

    class Finished(Message):
        """A run ended (any verdict, cancelled included): its summary."""

        def __init__(self, summary: RunSummary) -> None:
            self.summary = summary
            super().__init__()

    def __init__(self, out_dir: Path | None = None, *, runner: ScenarioRunner | None = None,
                 extra_folder: Path | None = None, include_bundled: bool = True, seed: int = 0,
                 max_workers: int = 2, options: RunOptions | None = None, name: str | None = None,
                 id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if runner is None:
            if out_dir is None:
                raise ValueError("ScenarioRunnerView needs an out_dir for the reports, or a runner")
            runner = ScenarioRunner(out_dir, seed=seed, max_workers=max_workers, options=options)
            self._owns_runner = True
        else:
            self._owns_runner = False
        self.runner = runner
        self.extra_folder = extra_folder
        self.include_bundled = include_bundled
        #: Every finished run's summary, by file (the last run of each).
        self.summaries: dict[Path, RunSummary] = {}
        #: The latest update of each run under way (its verdicts so far, when it has any).
        self.live: dict[Path, LiveUpdate] = {}
        self.entries: dict[Path, ScenarioEntry] = {}
        self._states: dict[Path, str] = {}
        self._leaves: dict[Path, TreeNode[Path | None]] = {}
        self._shown: Path | None = None
        self._load_errors: list[str] = []
        self.details_text = ""
        """What the details pane shows: the failure details, the error, and the report's path."""

    # -- building ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """The tree on the left; on the right the heading, the verdict table and the details."""
        tree: Tree[Path | None] = Tree("scenarios", id="scenario-tree")
        tree.show_root = False
        tree.border_title = "scenarios"
        yield tree
        with Vertical(id="scenario-result"):
            yield Static("", id="scenario-heading")
            table: DataTable[str | Text] = DataTable(id="scenario-checks", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="scenario-details"):
                yield Static("", id="scenario-details-text")

    def on_mount(self) -> None:
        """Fill the tree, set up the table, start polling the runner."""
        tree = self.query_one(Tree)
        roots: list[tuple[str, Path, bool]] = []
        if self.extra_folder is not None and not self._inside_bundled(Path(self.extra_folder)):
            roots.append((str(self.extra_folder), Path(self.extra_folder), True))
        if self.include_bundled:
            roots.append(("bundled", bundled_scenarios_dir(), False))
        for label, folder, expand_groups in roots:
            try:
                entries = describe_scenarios(folder)
            except ConfigError as exc:
                self._load_errors.append(str(exc))
                tree.root.add_leaf(Text(f"{label}: {exc.reason}", style="red"))
                continue
            self._add_root(tree, label, entries, expand_groups)
        table = self.query_one(DataTable)
        table.add_columns("check", "verdict", "robustness", "detail")
        self.query_one("#scenario-details", VerticalScroll).border_title = "details"
        self.set_interval(POLL_EVERY_S, self.poll_runner)
        first = next(iter(self._leaves), None)
        if first is not None:
            self.select(first)

    def _inside_bundled(self, folder: Path) -> bool:
        """Whether ``folder`` is (in) the bundled suite listed anyway: listed twice, ``a`` would run it twice."""
        if not self.include_bundled:
            return False
        return folder.resolve().is_relative_to(bundled_scenarios_dir().resolve())

    def _add_root(self, tree: Tree[Path | None], label: str, entries: list[ScenarioEntry],
                  expand_groups: bool) -> None:
        root = tree.root.add(Text(label, style="bold"), expand=True)
        groups: dict[str, TreeNode[Path | None]] = {}
        for entry in entries:
            self.entries[entry.path] = entry
            self._states.setdefault(entry.path, NOT_RUN)
            parent = root
            if entry.group:
                parent = groups.get(entry.group) or root.add(entry.group, expand=expand_groups)
                groups[entry.group] = parent
            self._leaves[entry.path] = parent.add_leaf(self._label(entry.path), entry.path)

    def on_unmount(self) -> None:
        """Close the runner this view made (its workers end with it)."""
        if self._owns_runner:
            self.runner.close()

    # -- public ----------------------------------------------------------------------------
    def run_paths(self, paths: list[Path]) -> list[Path]:
        """Queue ``paths`` to run; returns those queued (one queued or running already is not queued twice).

        A reports folder that cannot be made (read-only, a file in the way) is a notice, and nothing runs.
        """
        try:
            queued = self.runner.submit(paths)
        except OSError as exc:
            self.notify(f"cannot write the reports under {self.runner.out_dir}: {exc.strerror or exc} "
                        "(hilbench tui --reports DIR)", title="scenarios not run", severity="error", timeout=10)
            return []
        for path in queued:
            self.live.pop(path, None)
            self._set_state(path, QUEUED)
        self._refresh_shown()
        return queued

    def select(self, path: Path) -> None:
        """Put the tree's cursor on ``path`` (opening its folder) and show its verdicts."""
        node = self._leaves[path]
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        tree = self.query_one(Tree)
        tree.move_cursor(node)
        self._show(path)

    def state_of(self, path: Path) -> str:
        """What the tree shows for ``path``: not run, queued, running NN %, or the verdict."""
        return self._states.get(path, NOT_RUN)

    def verdict_text(self) -> str:
        """The heading of the scenario shown (name, state, times, report) as plain text."""
        return self._heading().plain

    def selected_paths(self) -> list[Path]:
        """The scenario under the cursor, or every one under the folder there."""
        node = self.query_one(Tree).cursor_node
        if node is None:
            return []
        return self._paths_under(node)

    def poll_runner(self) -> None:
        """Take what the runner has (never blocks): update the states, the table and the details."""
        for item in self.runner.poll():
            if isinstance(item, LiveUpdate):
                previous = self.live.get(item.path)
                if item.checks is None and previous is not None and previous.checks is not None:
                    item = LiveUpdate(item.path, item.now_s, item.duration_s, previous.checks, item.run)
                self.live[item.path] = item
                # At 100 % the worker still writes the report (plots take a second or two).
                self._set_state(item.path, f"running {item.fraction * 100:.0f} %" if item.fraction < 1.0
                                else "running: writing the report")
            else:
                self.live.pop(item.path, None)
                if item.verdict == CANCELLED:
                    self._set_state(item.path, NOT_RUN if item.path not in self.summaries else
                                    self.summaries[item.path].verdict)
                else:
                    self.summaries[item.path] = item
                    self._set_state(item.path, item.verdict)
                self.post_message(self.Finished(item))
            if item.path == self._shown:
                self._refresh_shown()

    # -- actions -----------------------------------------------------------------------------
    def action_run_selected(self) -> None:
        """Run the scenario under the cursor, or every one under the folder there but the long ones."""
        node = self.query_one(Tree).cursor_node
        if node is None:
            return
        paths = self._paths_under(node)
        if node.data is None:
            paths = self._without_long(paths)
        self.run_paths(paths)

    def action_run_all(self, with_long: bool = False) -> None:
        """Run every scenario listed; the long ones only with ``with_long`` (``A``)."""
        paths = list(self._leaves)
        self.run_paths(paths if with_long else self._without_long(paths))

    def action_cancel_queued(self) -> None:
        """Cancel the runs not started (those running go on)."""
        for path in self.runner.cancel_all():
            summary = self.summaries.get(path)
            self._set_state(path, summary.verdict if summary is not None else NOT_RUN)
        self._refresh_shown()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Path | None]) -> None:
        """Show the verdicts of the scenario under the cursor."""
        event.stop()
        if event.node.data is not None:
            self._show(event.node.data)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Path | None]) -> None:
        """A click selects (and folds a folder); running takes ``enter``."""
        event.stop()

    # -- inside ------------------------------------------------------------------------------
    def _without_long(self, paths: list[Path]) -> list[Path]:
        skipped = [p for p in paths if self.entries[p].long]
        if skipped:
            self.notify("skipping long: " + ", ".join(self.entries[p].name for p in skipped)
                        + " (A runs them too)", timeout=4)
        return [p for p in paths if not self.entries[p].long]

    def _paths_under(self, node: TreeNode[Path | None]) -> list[Path]:
        if node.data is not None:
            return [node.data]
        return [path for child in node.children for path in self._paths_under(child)]

    def _label(self, path: Path) -> Text:
        entry = self.entries[path]
        state = self._states.get(path, NOT_RUN)
        text = Text(entry.name)
        if entry.long:
            text.append(f" (long, {_fmt_duration(entry.duration_s or 0.0)})", style="dim")
        if entry.problem:
            text.append(" (refused)", style="red")
        text.append("  ")
        text.append(state, style=_style_of(state))
        return text

    def _set_state(self, path: Path, state: str) -> None:
        if self._states.get(path) == state:
            return
        self._states[path] = state
        leaf = self._leaves.get(path)
        if leaf is not None:
            leaf.set_label(self._label(path))
        if path == self._shown:
            self.query_one("#scenario-heading", Static).update(self._heading())

    def _show(self, path: Path) -> None:
        self._shown = path
        self._refresh_shown()

    def _rows(self, path: Path) -> tuple[CheckRow, ...]:
        summary = self.summaries.get(path)
        update = self.live.get(path)
        if update is not None and update.checks is not None:
            return update.checks
        if update is None and summary is not None:
            return summary.checks
        entry = self.entries.get(path)
        names = entry.checks if entry is not None else ()
        return tuple(CheckRow(name, NOT_RUN if update is None else PENDING, None, "") for name in names)

    def _heading(self) -> Text:
        path = self._shown
        if path is None:
            return Text("no scenario selected", style="dim")
        entry = self.entries.get(path)
        state = self.state_of(path)
        text = Text(entry.name if entry is not None else path.stem, style="bold")
        text.append("  ")
        text.append(state, style=_style_of(state))
        summary = self.summaries.get(path)
        if summary is not None and path not in self.live and summary.verdict not in (ERROR, CANCELLED):
            text.append(f"  {_fmt_duration(round(summary.duration_s, 1))} of bench time in {summary.wall_s:.1f} s, "
                        f"seed {summary.seed}", style="dim")
        elif entry is not None and entry.duration_s is not None:
            text.append(f"  {_fmt_duration(entry.duration_s)}", style="dim")
        text.append(f"\n{path}", style="dim")
        return text

    def _details(self, path: Path) -> str:
        summary = self.summaries.get(path)
        entry = self.entries.get(path)
        if path in self.live or summary is None:
            if entry is not None and entry.problem:
                return f"this file does not load:\n{entry.problem}"
            return "running: the verdicts so far are above" if path in self.live else "not run yet: enter runs it"
        lines = []
        if summary.report_path is not None:
            lines.append(f"report: {summary.report_path}")
        if summary.note:
            lines.append(summary.note)
        if summary.error:
            lines.append(f"{summary.verdict}: {summary.error}")
        if summary.failure_details:
            lines.append(summary.failure_details)
        elif summary.verdict == "PASS":
            lines.append("every check passed")
        lines += [f"warning: {w}" for w in summary.warnings]
        return "\n\n".join(lines)

    def _refresh_shown(self) -> None:
        path = self._shown
        if path is None:
            return
        self.query_one("#scenario-heading", Static).update(self._heading())
        table: DataTable[str | Text] = self.query_one(DataTable)
        table.clear()
        for row in self._rows(path):
            table.add_row(row.name, Text(row.verdict, style=_style_of(row.verdict)), row.robustness_text, row.detail)
        self.details_text = self._details(path)
        self.query_one("#scenario-details-text", Static).update(Text(self.details_text))
