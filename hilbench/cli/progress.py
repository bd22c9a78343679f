"""A one-line progress bar for simulated runs: shown on a terminal, silent when piped."""

from __future__ import annotations

import sys
from typing import TextIO


def _fmt(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class ProgressBar:
    """A one-line progress bar of simulated time on ``stream`` (stderr); draws nothing unless it is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.width = width

    def __call__(self, done_s: float, total_s: float, wall_s: float) -> None:
        """Redraw: ``done_s`` of ``total_s`` simulated seconds after ``wall_s`` wall seconds (shows the speed-up)."""
        if not self.enabled:
            return
        frac = min(1.0, done_s / total_s) if total_s else 1.0
        filled = int(frac * self.width)
        speed = done_s / wall_s if wall_s > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label[:24]:<24} [{bar}] {_fmt(done_s)}/{_fmt(total_s)} sim  {speed:7.0f}x ")
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar, leaving the line free for the next output."""
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 70) + "\r")
            self.stream.flush()
