"""The frame type that the layers above the bus speak, and the ways they make and read frames.

Nodes, the device under test and the scenarios' faults handle frames, but only
the bus imports python-can (DESIGN.md "Layout").  They import :data:`Frame`
from here; it is python-can's :class:`can.Message` itself, not a wrapper,
so a frame from a real interface and one the bench made are the same object
and nothing is copied on the per-frame path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import can

#: One CAN or CAN FD frame: python-can's Message (arbitration_id, data, timestamp, flags).
Frame = can.Message
#: One acceptance filter as python-can's ``set_filters`` takes it: ``can_id``, ``can_mask`` and
#: optionally ``extended`` (match only standard or only extended IDs).
FrameFilter = can.typechecking.CanFilter


def frame_with_data(msg: Frame, data: bytes | bytearray) -> Frame:
    """A new frame with ``msg``'s ID, flags and channel and the payload ``data``.

    A fault that edits a payload edits this copy: the original may already sit in
    a recorder or another node's queue, and frames on a bus are never changed in flight.
    The copy keeps no timestamp; the port stamps it when it is sent.
    """
    return can.Message(
        arbitration_id=msg.arbitration_id, data=bytearray(data), is_extended_id=msg.is_extended_id,
        is_fd=msg.is_fd, bitrate_switch=msg.bitrate_switch, is_remote_frame=msg.is_remote_frame,
        is_error_frame=msg.is_error_frame, channel=msg.channel, check=False,
    )


def read_log(path: str | Path) -> Iterator[Frame]:
    """Every frame of a log in any format python-can reads (chosen by suffix), in file order.

    Raises:
        OSError: the file cannot be opened.
        ValueError: python-can does not know the suffix, or the file is not of its format.
    """
    with can.LogReader(str(path)) as reader:
        yield from reader


__all__ = ["Frame", "FrameFilter", "frame_with_data", "read_log"]
