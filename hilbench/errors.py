"""One exception root for the bench, with a subclass per phase.

Each subclass also inherits the builtin a caller would naturally catch
(``ConfigError`` is a ``ValueError``), as python-can does with
``CanTimeoutError(CanError, TimeoutError)``.  The CLI turns any
``HilbenchError`` into one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path


class HilbenchError(Exception):
    """Root of every error the bench raises on purpose."""


class ConfigError(HilbenchError, ValueError):
    """Bad input found at load time: a DBC, signal map, chemistry, scenario or config.

    The message always names the file, the entry inside it and the reason, so
    a test engineer can fix the input without reading a traceback.
    """

    def __init__(self, file: str | Path | None, entry: str | None, reason: str) -> None:
        self.file = str(file) if file is not None else None
        self.entry = entry
        self.reason = reason
        where = self.file or "<input>"
        if entry:
            where = f"{where}: {entry}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        # Cross process boundaries whole (``hilbench run -j`` runs scenarios in workers).
        return type(self), (self.file, self.entry, self.reason)


class BusError(HilbenchError, OSError):
    """A bus could not be opened, or failed while the bench was running."""


class DutError(HilbenchError, RuntimeError):
    """The device under test could not be built or failed while running."""


class ScenarioError(HilbenchError, RuntimeError):
    """A scenario could not be carried out (distinct from a scenario that fails its checks)."""
