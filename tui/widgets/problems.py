"""What the bench refused or could not do, shown in the app instead of ending it."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from hilbench.errors import ConfigError


class ProblemsPanel(Widget):
    """Every problem of a scenario file the app was asked to load (file, entry, line, reason).

    Hidden while there is nothing to show; the bench that was running keeps running under it.
    """

    DEFAULT_CSS = """
    ProblemsPanel {
        height: auto;
        max-height: 12;
        border: round $error;
        border-title-color: $error;
        border-title-style: bold;
        padding: 0 1;
        display: none;
    }
    ProblemsPanel.-shown {
        display: block;
    }
    """

    lines: reactive[tuple[str, ...]] = reactive(())
    """The problems shown, one line each; empty hides the panel."""

    title: reactive[str] = reactive("")
    """What was refused, for the border: ``scenario refused: path``."""

    def on_mount(self) -> None:
        """Put the title on the border."""
        self.border_title = self.title

    def show_error(self, error: ConfigError, what: str = "scenario refused") -> None:
        """Show every problem of ``error``; with one file, the file goes in the title and each line says where in it."""
        files = {p.file for p in error.problems}
        one_file = len(files) == 1 and None not in files
        self.title = f"{what}: {next(iter(files))}" if one_file else what
        self.lines = tuple((": ".join(x for x in (p.where, p.reason) if x) if one_file else str(p))
                           for p in error.problems)

    def clear(self) -> None:
        """Hide the panel (the file loaded)."""
        self.lines = ()

    def watch_lines(self, lines: tuple[str, ...]) -> None:
        """Show the panel while it has lines, hide it when it has none."""
        self.set_class(bool(lines), "-shown")

    def watch_title(self, title: str) -> None:
        """Keep the border title in step."""
        self.border_title = title

    def render(self) -> RenderableType:
        """The problems, then how to go on: fix the file and press r."""
        text = Text()
        for n, line in enumerate(self.lines):
            if n:
                text.append("\n")
            text.append("  " + line)
        text.append("\n  fix the file and press r to load it again; the bench below runs on", style="dim")
        return text
