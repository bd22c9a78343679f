"""Bus health: frames seen by the bench's monitor, and the ones it could not use."""

from __future__ import annotations

from rich.text import Text

from hilbench.bench import BenchSnapshot

from .readout import ReadoutPanel, Row


def _count(value: int, *, bad: bool) -> Text:
    return Text(f"{value:,}", style="bold red" if bad and value else "")


class BusPanel(ReadoutPanel):
    """Frames, unknown frames, decode errors and E2E errors (non-zero problems in red)."""

    TITLE = "bus"
    HEADERS = ()
    VALUE_WIDTH = 11

    def rows(self, snapshot: BenchSnapshot) -> list[Row]:
        """Frame count, then the unknown, undecodable and E2E-failing frames (red when non-zero)."""
        s = snapshot
        return [
            ("frames", _count(s.frames, bad=False)),
            ("unknown", _count(s.unknown_frames, bad=True)),
            ("decode errors", _count(s.decode_errors, bad=True)),
            ("E2E errors", _count(s.e2e_errors, bad=True)),
        ]
