"""What the emulated-adapter command tests share: the command line, and an emulator running in a process
of its own (``hilbench slcan-emulator`` or ``hilbench serve``) read for its first line."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HILBENCH = [sys.executable, "-m", "hilbench.cli.main"]
SCENARIO = Path(__file__).parent / "data" / "owner_stops_compute_short.toml"
NO_PAUSE = {"CAN_CONFIG": json.dumps({"sleep_after_open": 0})}


class Emulator:
    """A running ``hilbench`` emulator command: its first line, and once it has ended its exit code and stderr."""

    def __init__(self, first_line: str) -> None:
        self.first_line = first_line
        self.returncode: int | None = None
        self.stderr = ""


@contextmanager
def emulator(*args: str) -> Iterator[Emulator]:
    """The command running, until SIGTERM on the way out."""
    with subprocess.Popen([*HILBENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30.0)
        assert ready, "the emulator printed nothing in 30 s"
        running = Emulator(proc.stdout.readline().strip())
        try:
            yield running
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                _out, running.stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            running.returncode = proc.returncode
