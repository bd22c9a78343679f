"""Recording every frame with python-can's own writers, with nothing lost.

The recorder is a ``can.Listener``; the writer is chosen by suffix through
``can.Logger`` (``.blf``, ``.asc``, ``.log`` candump, ``.csv``, ``.trc`` ...).
It counts what it was handed and what it wrote, flushes line-oriented
formats every ``flush_every`` frames, and is stopped on every exit path by
its owner (the bench uses it as a context manager).  BLF buffers frames in
zlib containers until stop(), so a process killed with SIGKILL can lose the
last container: prefer ``.log`` or ``.asc`` where that matters.
"""

from __future__ import annotations

from pathlib import Path

import can

from ..clock import wall_time_s
from ..errors import BusError

#: Line-oriented recordings reach the disk at least this often (wall time), however quiet the bus.
FLUSH_INTERVAL_S = 1.0


class Recorder(can.Listener):
    def __init__(self, path: str | Path, *, flush_every: int = 1000) -> None:
        self.path = Path(path)
        try:
            self._writer = can.Logger(str(self.path))
        except (ValueError, OSError) as exc:
            raise BusError(f"{self.path}: cannot record to this file: {exc}") from None
        self._flush_every = max(1, flush_every)
        self._since_flush = 0
        self._flushed_at = wall_time_s()
        self.frames_written = 0
        self._stopped = False
        self._file = getattr(self._writer, "file", None)
        self._line_oriented = self.path.suffix.lower() in (".log", ".asc", ".csv", ".trc", ".txt")

    def on_message_received(self, msg: can.Message) -> None:
        if self._stopped:
            raise BusError(f"{self.path}: frame arrived after the recording was stopped")
        self._writer.on_message_received(msg)
        self.frames_written += 1
        self._since_flush += 1
        if self._since_flush >= self._flush_every or wall_time_s() - self._flushed_at >= FLUSH_INTERVAL_S:
            self.flush()

    __call__ = on_message_received

    def flush(self) -> None:
        self._since_flush = 0
        self._flushed_at = wall_time_s()
        if self._line_oriented and self._file is not None and not self._file.closed:
            self._file.flush()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._writer.stop()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def count_frames(path: str | Path) -> int:
    """Frames in a recording, read back with python-can's reader for its suffix."""
    with can.LogReader(str(path)) as reader:
        return sum(1 for _ in reader)
