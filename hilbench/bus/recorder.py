"""Recording every frame with python-can's own writers, intact on every exit.

A recording is the file asked for, written by python-can's writer for its
suffix (``.blf``, ``.asc``, ``.log`` candump, ``.csv``, ``.trc``, ``.mf4``),
and beside it, unless that file is a candump ``.log`` itself, a candump
``.log`` *primary* of the same name (``run.blf`` -> ``run.log``), written by
python-can's ``CanutilsLogWriter``.  Why two files:

- BLF keeps frames in 128 KiB zlib containers (~2,500 frames, ~13 s of the
  bench's traffic) and writes each container whole; a process killed with
  SIGKILL loses the container it was filling.  A line-oriented log can be
  put on disk at any frame boundary.
- The owner calls :meth:`Recorder.flush` at :data:`FLUSH_INTERVAL_S` of its
  clock's time (the bench schedules it: simulated time in simulation, wall
  time on a real bus), which hands every complete line to the operating
  system; a SIGKILL then loses at most the frames of the last interval.  The
  primary's buffer is large enough that nothing reaches the disk between two
  flushes, so a killed primary ends on a flush, never inside a line.
- On every exit Python can catch (normal end, an exception, SIGINT or SIGTERM
  turned into a stop of the run loop) the owner calls :meth:`Recorder.stop`,
  which writes BLF's last container and final header.  BLF's header is on
  disk from the start (a BLF killed before its first container is a valid
  empty BLF, not 0 bytes) and rewritten after every container, so a killed
  BLF reads back with its true start time up to its last container.

:func:`read_recording` reads any of them back with python-can's readers, up
to what a killed writer left complete: a BLF up to its last complete
container, a candump log up to its last complete line.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import can
from can.io.blf import FILE_HEADER_SIZE, FILE_HEADER_STRUCT, OBJ_HEADER_BASE_STRUCT, BLFParseError

from ..errors import BusError

#: Line-oriented recordings are handed to the operating system at least this often (clock time):
#: a process killed with SIGKILL loses at most the frames of this interval.
FLUSH_INTERVAL_S = 0.1
#: Buffer of the candump primary: far more than one interval of the bench's traffic (~1 kB),
#: so its lines reach the disk only when flushed, each whole.
PRIMARY_BUFFER_BYTES = 1 << 20
#: Suffixes python-can writes line by line (flushed with the primary).
LINE_ORIENTED = (".log", ".asc", ".csv", ".trc", ".txt")


def primary_log_path(path: str | Path) -> Path:
    """The candump ``.log`` written with a recording: the file itself if it is one, else beside it."""
    path = Path(path)
    return path if path.suffix.lower() == ".log" else path.with_suffix(".log")


class _BlfWriter(can.BLFWriter):
    """python-can's BLF writer, with its file header on disk from the start and after every container.

    python-can writes a placeholder header when it opens the file and the real
    one in ``stop()``; a process killed in between leaves 0 bytes (the header is
    still in Python's buffer) or a header whose start time is zero.  Rewriting
    it after every container (python-can's own ``_write_header``, once per
    128 KiB of frames) keeps what is on disk a complete BLF.  ``stop()`` writes
    the final header as before, so a file closed normally is byte for byte
    what ``can.BLFWriter`` writes.
    """

    def __init__(self, file: str | Path, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.file.flush()

    def _flush(self) -> None:
        super()._flush()
        if not self.file.closed and self.file.seekable():
            end = self.file.tell()
            self.file.seek(0)
            self._write_header(end)
            self.file.seek(end)
            self.file.flush()


def _open_writer(path: Path) -> can.Listener:
    suffix = path.suffix.lower()
    if suffix == ".blf":
        return _BlfWriter(path)
    if suffix == ".log":
        # python-can's candump writer on a file opened here, for the buffer size (see module doc).
        return can.CanutilsLogWriter(path.open("w", encoding="utf-8", buffering=PRIMARY_BUFFER_BYTES))
    return can.Logger(str(path))


class Recorder(can.Listener):
    """A ``can.Listener`` writing every frame to a recording and its candump primary.

    Args:
        path: the recording; its suffix picks python-can's writer.
        primary: also write the candump ``.log`` primary beside a recording of another format
            (:func:`primary_log_path`).

    Raises:
        BusError: a file cannot be written, or the suffix is not a format python-can writes.
    """

    def __init__(self, path: str | Path, *, primary: bool = True) -> None:
        self.path = Path(path)
        #: The candump primary: the recording itself when it is a ``.log``; None when not asked for.
        self.primary_path: Path | None = (primary_log_path(self.path)
                                          if primary or self.path.suffix.lower() == ".log" else None)
        self._writers: list[can.Listener] = []
        try:
            self._writers.append(_open_writer(self.path))
            if self.primary_path is not None and self.primary_path != self.path:
                self._writers.append(_open_writer(self.primary_path))
        except (ValueError, OSError) as exc:
            self.stop()
            failed = self.path if not self._writers else self.primary_path
            raise BusError(f"{failed}: cannot record to this file: {exc}") from None
        # Text files to hand to the OS on flush(): those of the line-oriented writers.
        self._line_files: list[TextIO] = [
            writer.file for writer, p in zip(self._writers, self.paths)
            if p.suffix.lower() in LINE_ORIENTED and hasattr(writer, "file")]
        self.frames_written = 0
        self._flushed_frames = 0
        self._stopped = False
        self._receivers = [writer.on_message_received for writer in self._writers]

    @property
    def paths(self) -> list[Path]:
        """Every file written: the recording, then the primary (when it is another file)."""
        if self.primary_path is None or self.primary_path == self.path:
            return [self.path]
        return [self.path, self.primary_path]

    def on_message_received(self, msg: can.Message) -> None:
        """Write one frame to every file of the recording.

        Raises:
            BusError: the recording was already stopped (a frame would be silently lost).
        """
        if self._stopped:
            raise BusError(f"{self.path}: frame arrived after the recording was stopped")
        for receive in self._receivers:
            receive(msg)
        self.frames_written += 1

    __call__ = on_message_received

    def flush(self) -> None:
        """Hand every frame written so far in line-oriented files to the operating system.

        Cheap when nothing new came; the owner calls it every :data:`FLUSH_INTERVAL_S`.
        """
        if self._stopped or self.frames_written == self._flushed_frames:
            return
        self._flushed_frames = self.frames_written
        for file in self._line_files:
            file.flush()

    def stop(self) -> None:
        """Close every file (BLF: last container and final header); safe to call twice."""
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        errors = []
        for writer in self._writers:
            try:
                writer.stop()
            except OSError as exc:   # e.g. disk full: close the others, then say so
                errors.append(exc)
        if errors:
            raise BusError(f"{self.path}: the recording could not be closed: {errors[0]}")

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- reading back ------------------------------------------------------------------------------

class _CompleteLines:
    """The lines of a text file that end with a newline, numbered; what a killed writer left
    half-written after the last one is not a frame."""

    def __init__(self, path: Path) -> None:
        self._file = path.open(encoding="utf-8", errors="replace")
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._file:
            if not line.endswith("\n"):
                return
            self.line += 1
            yield line

    def close(self) -> None:
        self._file.close()


def _complete_blf_bytes(path: Path) -> int:
    """How many leading bytes of a BLF form complete objects (the file header plus whole containers).

    Raises:
        BusError: the file is not a BLF, or an object header is not where one must be.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(FILE_HEADER_SIZE)
        if len(head) < FILE_HEADER_SIZE:   # cut inside the file header: nothing recorded yet
            if head and not b"LOGG".startswith(head[:4]):
                raise BusError(f"{path}: not a BLF file (no LOGG signature)")
            return 0
        signature, header_size = FILE_HEADER_STRUCT.unpack_from(head)[:2]
        if signature != b"LOGG":
            raise BusError(f"{path}: not a BLF file (no LOGG signature)")
        end = header_size
        while end + OBJ_HEADER_BASE_STRUCT.size <= size:
            fh.seek(end)
            obj_signature, _, _, obj_size, _ = OBJ_HEADER_BASE_STRUCT.unpack(fh.read(OBJ_HEADER_BASE_STRUCT.size))
            if obj_signature != b"LOBJ" or obj_size < OBJ_HEADER_BASE_STRUCT.size:
                raise BusError(f"{path}: byte {end}: expected a BLF object (LOBJ), found {obj_signature!r}")
            following = end + obj_size + obj_size % 4   # python-can pads objects by obj_size % 4
            if following > size:
                break
            end = following
        return end


def _read_blf(path: Path) -> Iterator[can.Message]:
    end = _complete_blf_bytes(path)
    if end == 0:
        return
    size = path.stat().st_size
    if end == size:
        reader = can.BLFReader(str(path))
    else:   # a killed writer's file: read its complete containers only
        with path.open("rb") as fh:
            reader = can.BLFReader(io.BytesIO(fh.read(end)))
    with reader:
        yield from reader


def _read_candump(path: Path) -> Iterator[can.Message]:
    lines = _CompleteLines(path)
    # python-can only iterates over the lines of what it is given (and closes it): no TextIO needed.
    with can.CanutilsLogReader(lines) as reader:  # type: ignore[arg-type]
        try:
            yield from reader
        except (ValueError, IndexError) as exc:
            raise BusError(f"{path}: line {lines.line}: not a candump frame: {exc}") from None


def read_recording(path: str | Path) -> Iterator[can.Message]:
    """Every frame of a recording, read with python-can's reader for its suffix.

    A file a killed writer left behind is read up to what it holds complete: a
    BLF up to its last complete container (one cut inside its file header holds
    no frame), a candump ``.log`` up to its last complete line.  Reading never
    waits and never loops: each object is read once, in file order.

    Raises:
        BusError: the file is not a recording of its suffix's format (names the file, and the
            byte or line).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".blf":
            yield from _read_blf(path)
        elif suffix == ".log":
            yield from _read_candump(path)
        else:
            with can.LogReader(str(path)) as reader:
                yield from reader
    except OSError as exc:
        raise BusError(f"{path}: cannot read the recording: {exc}") from None
    except (ValueError, struct.error, zlib.error, BLFParseError) as exc:   # a corrupt container
        raise BusError(f"{path}: not a readable {suffix} recording: {exc}") from None


def count_frames(path: str | Path) -> int:
    """Frames in a recording, read back as :func:`read_recording` reads it."""
    return sum(1 for _ in read_recording(path))
