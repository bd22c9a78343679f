"""One exception root for the bench, with a subclass per phase.

Each subclass also inherits the builtin a caller would naturally catch
(``ConfigError`` is a ``ValueError``), as python-can does with
``CanTimeoutError(CanError, TimeoutError)``.  The CLI turns any
``HilbenchError`` into one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class HilbenchError(Exception):
    """Root of every error the bench raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the file, the entry inside it (``steps[3].gear``), the line where
    the parser gives it, and the reason (what was expected and what came)."""

    file: str | None
    entry: str | None
    reason: str
    line: int | None = None

    @property
    def where(self) -> str:
        """``entry (line N)``, or what of it is known."""
        where = self.entry or ""
        if self.line is not None and f"line {self.line}" not in where:
            where = f"{where} (line {self.line})" if where else f"line {self.line}"
        return where

    def __str__(self) -> str:
        parts = [self.file or "<input>", self.where, self.reason]
        return ": ".join(part for part in parts if part)


class ConfigError(HilbenchError, ValueError):
    """Bad input found at load time: a DBC, signal map, chemistry, scenario or config.

    The message always names the file, the entry inside it and the reason, so
    a test engineer can fix the input without reading a traceback.  One error
    may carry every problem of a file (``problems``); ``file``, ``entry``,
    ``reason`` and ``line`` are then those of the first.
    """

    def __init__(self, file: str | Path | None, entry: str | None, reason: str, *, line: int | None = None,
                 problems: Sequence[Problem] = ()) -> None:
        self.file = str(file) if file is not None else None
        self.entry = entry
        self.reason = reason
        self.line = line
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(self.file, entry, reason, line),)
        if len(self.problems) == 1:
            super().__init__(str(self.problems[0]))
        else:
            files = {p.file for p in self.problems}
            head = f"{len(self.problems)} problems" + (f" in {self.file}" if len(files) == 1 and self.file else "")
            lines = [str(p) if len(files) > 1 else ": ".join(x for x in (p.where, p.reason) if x)
                     for p in self.problems]
            super().__init__("\n  ".join([head + ":", *lines]))

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> ConfigError:
        """One error reporting every one of ``problems`` (at least one)."""
        first = problems[0]
        return cls(first.file, first.entry, first.reason, line=first.line, problems=problems)

    def __reduce__(self):
        # Cross process boundaries whole (``hilbench run -j`` runs scenarios in workers).
        return _rebuild_config_error, (type(self), self.file, self.entry, self.reason, self.line, self.problems)


def _rebuild_config_error(cls, file, entry, reason, line, problems):
    return cls(file, entry, reason, line=line, problems=problems)


class BusError(HilbenchError, OSError):
    """A bus could not be opened, or failed while the bench was running."""


class DutError(HilbenchError, RuntimeError):
    """The device under test could not be built or failed while running."""


class ScenarioError(HilbenchError, RuntimeError):
    """A scenario could not be carried out (distinct from a scenario that fails its checks)."""
