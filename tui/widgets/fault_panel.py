"""The fault panel: any scenario action, fault or not, from a form, on the running bench.

The form is built from the same table of actions the scenario files use
(:mod:`tui.fault_form`): pick an action, type its parameters (blank keeps the
default), press enter or "apply".  The panel only checks the step and asks
the app to act (:class:`FaultPanel.Requested`); the app queues it on the
session, which logs it and keeps it for "save as scenario".
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from hilbench.errors import ConfigError
from hilbench.scenarios.actions import BusView

from ..fault_form import action_names, checked_step, params_of, summary

#: The action the form shows first: a fault a test engineer reaches for often.
FIRST_ACTION = "node_silent"


class FaultPanel(Widget):
    """An action picker, one input per parameter, the problems of the last try, and "save as scenario".

    Keys: enter (in a parameter, or on the button) applies the action; ctrl+s saves the session as a scenario
    file.
    """

    DEFAULT_CSS = """
    FaultPanel {
        height: 1fr;
        padding: 0 1;
    }
    FaultPanel #fault-head {
        height: 3;
    }
    FaultPanel #fault-action {
        width: 1fr;
    }
    FaultPanel #fault-summary {
        height: auto;
        max-height: 3;
        color: $text-muted;
    }
    FaultPanel #fault-params {
        height: 1fr;
        min-height: 3;
    }
    FaultPanel .param-row {
        height: 1;
    }
    FaultPanel .param-row > Label {
        width: 22;
    }
    FaultPanel .param-row > Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FaultPanel .param-row > Input:focus {
        background: $primary 30%;
    }
    FaultPanel #fault-problems {
        height: auto;
        max-height: 4;
        color: $error;
    }
    FaultPanel #fault-save {
        height: 1;
    }
    FaultPanel #fault-save > Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
    }
    FaultPanel #fault-save > Button {
        min-width: 8;
        height: 1;
        border: none;
    }
    FaultPanel #fault-apply {
        min-width: 10;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "apply", "apply action"),
        Binding("ctrl+s", "save", "save as scenario"),
    ]

    class Requested(Message):
        """The form's action, checked: the app queues it on the bench."""

        def __init__(self, action: str, params: dict[str, Any]) -> None:
            super().__init__()
            self.action = action
            self.params = params

    class SaveRequested(Message):
        """Save the session as a scenario file at ``path``."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    def __init__(self, *, save_path: str = "hilbench-session.toml", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._save_path = save_path
        #: The running bench's bus (set by the app): steps that would not reach it are refused up front.
        self.view: BusView | None = None
        #: The text of the problems shown (empty when the last try was accepted).
        self.problems = ""
        self._generation = 0
        self._shown_action = ""

    def compose(self) -> ComposeResult:
        """Action picker and apply button, its summary, the parameters, problems, save row."""
        with Horizontal(id="fault-head"):
            yield Select([(name, name) for name in action_names()], value=FIRST_ACTION, allow_blank=False,
                         id="fault-action")
            yield Button("apply", id="fault-apply", variant="warning")
        yield Static(summary(FIRST_ACTION), id="fault-summary")
        yield VerticalScroll(id="fault-params")
        yield Static("", id="fault-problems")
        with Horizontal(id="fault-save"):
            yield Label("save session as ")
            yield Input(self._save_path, id="fault-save-path")
            yield Button("save", id="fault-save-button")

    def on_mount(self) -> None:
        """Show the first action's parameters."""
        self._show_params(FIRST_ACTION)

    @property
    def action_name(self) -> str:
        """The action picked."""
        return str(self.query_one("#fault-action", Select).value)

    def set_action(self, action: str, **typed: str) -> None:
        """Pick ``action`` and type ``typed`` into its parameters (what a user does by hand; tests too)."""
        self.query_one("#fault-action", Select).value = action
        self._show_params(action, typed)

    def typed(self) -> dict[str, str]:
        """The text of each parameter input, by parameter name."""
        return {str(i.name): i.value for i in self.query(".param-row > Input").results(Input)}

    @on(Select.Changed, "#fault-action")
    def _picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self._shown_action:
            self._show_params(event.value)

    def _show_params(self, action: str, typed: dict[str, str] | None = None) -> None:
        self._shown_action = action
        self._generation += 1   # ids stay unique while the old rows are being removed
        self.query_one("#fault-summary", Static).update(summary(action))
        box = self.query_one("#fault-params", VerticalScroll)
        box.remove_children()
        rows = []
        for spec in params_of(action):
            row = Horizontal(classes="param-row")
            row.compose_add_child(Label(spec.name + (" *" if spec.required else "")))
            row.compose_add_child(Input((typed or {}).get(spec.name, ""), placeholder=spec.hint, name=spec.name,
                                        id=f"param-{spec.name}-{self._generation}"))
            rows.append(row)
        if not rows:
            rows.append(Horizontal(Label("(no parameters)"), classes="param-row"))
        box.mount_all(rows)
        self._set_problems("")

    def _set_problems(self, text: str) -> None:
        self.problems = text
        self.query_one("#fault-problems", Static).update(text)

    @on(Button.Pressed, "#fault-apply")
    @on(Input.Submitted, ".param-row > Input")
    def action_apply(self) -> None:
        """Check the form's step; accepted, ask the app to act; refused, show every problem."""
        action = self.action_name
        try:
            params = checked_step(action, self.typed(), self.view)
        except ConfigError as exc:
            self._set_problems("\n".join(": ".join(x for x in (p.entry, p.reason) if x) for p in exc.problems))
            return
        self._set_problems("")
        self.post_message(self.Requested(action, params))

    @on(Button.Pressed, "#fault-save-button")
    @on(Input.Submitted, "#fault-save-path")
    def action_save(self) -> None:
        """Ask the app to save the session as a scenario file at the path typed."""
        path = self.query_one("#fault-save-path", Input).value.strip()
        if not path:
            self._set_problems("save: type the path of the scenario file to write")
            return
        self.post_message(self.SaveRequested(path))
