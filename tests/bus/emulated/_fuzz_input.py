"""Seeded fuzz input for the emulated servers: valid, mutated, random and over-long lines.

A *mixed* stream interleaves junk with marker frames (IDs 0x5A0..0x5AF) that must all come through:
its junk is well delimited (every SLCAN junk line ends with a terminator and never closes the channel;
every socketcand junk element is a whole ``< .. >`` or text with no ``<``), so a marker is never glued
to junk.  A *wild* stream has no such care (stray ``<``, over-long elements, any byte) and only has to
leave the server standing.
"""

from __future__ import annotations

import random

import can

from hilbench.bus.emulated.slcan_adapter import format_frame as slcan_text

MARKER_IDS = range(0x5A0, 0x5B0)
TERMINATORS = (b"\r", b"\n", b"\r\n")
SLCAN_COMMANDS = [b"", b"V", b"v", b"N", b"F", b"S6", b"S4", b"S9", b"s031C", b"Y2", b"Z0", b"Z1", b"O",
                  b"M00000000", b"mFFFFFFFF", b"Q", b"S", b"Y9", b"Z2"]
SOCKETCAND_COMMANDS = [b"echo", b"rawmode", b"bcmmode", b"open vcan0", b"open can9", b"isotpmode", b"",
                       b"send", b"fdsend 123", b"add 1 0 123 8 1 2 3 4 5 6 7 8"]


#: Hex digits junk frames are made of: no 5 and no 7, so no single edit of junk makes a marker
#: (0x5A0..) or a ping (0x7A0), which would count as a frame that came from nowhere.
SAFE_NIBBLES = [n for n in range(16) if n not in (5, 7)]


def _safe_int(rng: random.Random, digits: int) -> int:
    value = 0
    for _ in range(digits):
        value = value * 16 + rng.choice(SAFE_NIBBLES)
    return value


def _safe_bytes(rng: random.Random, length: int) -> bytes:
    return bytes(_safe_int(rng, 2) for _ in range(length))


def random_message(rng: random.Random, *, classic_only: bool = False) -> can.Message:
    """A random frame whose text has no 5 or 7 (so not a marker, ping or pong, nor one edit away)."""
    extended = rng.random() < 0.4
    # the top digit within range (no masking, which could turn a D into a 5)
    top = rng.choice([0, 1]) if extended else rng.choice([0, 1, 2, 3, 4, 6])
    digits = 7 if extended else 2
    frame_id = top << (4 * digits) | _safe_int(rng, digits)
    if not classic_only and rng.random() < 0.15:
        length = rng.choice([0, 1, 8, 12, 16, 20, 24, 32, 48, 64])
        return can.Message(arbitration_id=frame_id, is_extended_id=extended, is_fd=True,
                           bitrate_switch=rng.random() < 0.5, data=_safe_bytes(rng, length))
    if not classic_only and rng.random() < 0.1:
        return can.Message(arbitration_id=frame_id, is_extended_id=extended, is_remote_frame=True,
                           dlc=rng.choice([0, 1, 2, 3, 4, 6, 8]))
    return can.Message(arbitration_id=frame_id, is_extended_id=extended,
                       data=_safe_bytes(rng, rng.choice([0, 1, 2, 3, 4, 6, 8])))


def marker_message(number: int, *, classic_only: bool = False, kinds: int = 8) -> can.Message:
    """The ``number``-th marker: every kind of frame in turn, its number in the data."""
    frame_id = MARKER_IDS[number % len(MARKER_IDS)]
    kind = number % (3 if classic_only else kinds)
    data = number.to_bytes(4, "big")
    if kind == 0:
        return can.Message(arbitration_id=frame_id, is_extended_id=False, data=data)
    if kind == 1:
        return can.Message(arbitration_id=frame_id, is_extended_id=True, data=data + bytes(4))
    if kind == 2:
        return can.Message(arbitration_id=frame_id, is_extended_id=False, data=b"")
    if kind == 3:
        return can.Message(arbitration_id=frame_id, is_extended_id=False, is_fd=True, bitrate_switch=True,
                           data=data * 16)
    if kind == 4:
        return can.Message(arbitration_id=frame_id, is_extended_id=True, is_fd=True, data=data * 3)
    if kind == 5:
        return can.Message(arbitration_id=frame_id, is_extended_id=False, is_remote_frame=True, dlc=number % 9)
    if kind == 6:
        return can.Message(arbitration_id=frame_id, is_extended_id=True, is_remote_frame=True, dlc=8)
    return can.Message(arbitration_id=frame_id, is_extended_id=True, is_fd=True, bitrate_switch=True, data=data)


def _mutate(rng: random.Random, text: bytes, alphabet: bytes) -> bytes:
    """One random edit: replace, insert or delete a byte, cut short, or repeat a slice."""
    if not text:
        return bytes([rng.choice(alphabet)])
    at = rng.randrange(len(text))
    edit = rng.randrange(5)
    if edit == 0:
        return text[:at] + bytes([rng.choice(alphabet)]) + text[at + 1:]
    if edit == 1:
        return text[:at] + bytes([rng.choice(alphabet)]) + text[at:]
    if edit == 2:
        return text[:at] + text[at + 1:]
    if edit == 3:
        return text[:at]
    return text[:at] + text[at:at + rng.randrange(1, 9)] * 2 + text[at:]


# ---------------------------------------------------------------- SLCAN

SLCAN_ALPHABET = b"tTrRdDbBSsYOVvNFZMmQ01234689ABCDEFabcdefGxz \x00\x07\x7f\x80\xff"


def slcan_junk(rng: random.Random, max_line_bytes: int) -> bytes:
    """One junk line's content (no terminator): never exactly ``C`` or ``L`` (the markers need the
    channel open and transmitting)."""
    kind = rng.random()
    if kind < 0.25:
        content = slcan_text(random_message(rng))[:-1]
    elif kind < 0.4:
        content = rng.choice(SLCAN_COMMANDS)
    elif kind < 0.7:
        content = _mutate(rng, slcan_text(random_message(rng))[:-1], SLCAN_ALPHABET)
    elif kind < 0.85:
        content = bytes(rng.choice(SLCAN_ALPHABET) for _ in range(rng.randrange(40)))
    elif kind < 0.97:
        content = bytes(b for b in rng.randbytes(rng.randrange(80)) if b not in b"\r\n")
    else:
        content = b"t123" + b"A" * rng.randrange(max_line_bytes, 3 * max_line_bytes)   # over-long
    content = content.replace(b"\r", b"").replace(b"\n", b"")
    return b"V" if content in (b"C", b"L") else content


def slcan_mixed(rng: random.Random, lines: int, max_line_bytes: int) -> tuple[bytes, list[can.Message]]:
    """``lines`` lines, one in ~12 a marker frame; returns the bytes and the markers in order."""
    out = bytearray(b"O\r")
    markers: list[can.Message] = []
    for _ in range(lines):
        if rng.random() < 0.08:
            msg = marker_message(len(markers))
            markers.append(msg)
            out += slcan_text(msg)[:-1]
        else:
            out += slcan_junk(rng, max_line_bytes)
        out += rng.choice(TERMINATORS)
    return bytes(out), markers


def slcan_wild(rng: random.Random, lines: int, max_line_bytes: int) -> bytes:
    """Anything at all, ``C`` and ``L`` and bare terminators included."""
    out = bytearray()
    for _ in range(lines):
        roll = rng.random()
        if roll < 0.5:
            out += slcan_junk(rng, max_line_bytes)
        elif roll < 0.6:
            out += rng.choice([b"C", b"L", b"O", b"F", b"Z1"])
        else:
            out += rng.randbytes(rng.randrange(60))
        out += rng.choice(TERMINATORS)
    return bytes(out)


# ---------------------------------------------------------------- socketcand

SOCKETCAND_ALPHABET = b"sendfdechoraw 01234689ABCDEFabcdefxyz\t\x00\x7f\x80\xff"


def socketcand_send(msg: can.Message) -> bytes:
    """``< send .. >`` (or ``< fdsend .. >``) for a frame, bytes in python-can's one-or-two-digit hex."""
    ident = f"{msg.arbitration_id:08X}" if msg.is_extended_id else f"{msg.arbitration_id:03X}"
    data = " ".join(f"{b:x}" for b in msg.data)
    if msg.is_fd:
        return f"< fdsend {ident} {1 if msg.bitrate_switch else 0:02X} {len(msg.data)} {data} >".encode()
    return f"< send {ident} {len(msg.data)} {data} >".encode()


def socketcand_junk(rng: random.Random) -> bytes:
    """One junk element (a whole ``< .. >``) or text outside elements with no ``<`` in it."""
    kind = rng.random()
    if kind < 0.25:
        return socketcand_send(random_message(rng, classic_only=rng.random() < 0.8))
    if kind < 0.4:
        return b"< " + rng.choice(SOCKETCAND_COMMANDS) + b" >"
    if kind < 0.7:
        inner = _mutate(rng, socketcand_send(random_message(rng))[2:-2], SOCKETCAND_ALPHABET)
        return b"< " + inner.replace(b"<", b"").replace(b">", b"") + b" >"
    if kind < 0.85:
        return b"<" + bytes(rng.choice(SOCKETCAND_ALPHABET) for _ in range(rng.randrange(60))) + b">"
    return bytes(b for b in rng.randbytes(rng.randrange(40)) if b != ord("<"))


def socketcand_mixed(rng: random.Random, lines: int) -> tuple[bytes, list[can.Message]]:
    out = bytearray(b"< open vcan0 >< rawmode >")
    markers: list[can.Message] = []
    for _ in range(lines):
        if rng.random() < 0.08:
            msg = marker_message(len(markers), kinds=5)
            if msg.is_remote_frame:                 # socketcand's send has no remote frames
                msg = marker_message(len(markers), classic_only=True)
            markers.append(msg)
            out += socketcand_send(msg)
        else:
            out += socketcand_junk(rng)
        out += rng.choice([b"", b" ", b"\n"])
    return bytes(out), markers


def socketcand_wild(rng: random.Random, lines: int) -> list[bytes]:
    """Anything at all, stray ``<`` and ``>`` included, in segments: each but the last ends with an
    over-long element, on which the server hangs up, so each segment goes over a connection of its own.

    Every line ends with ``>`` and is shorter than an element may be, so only the deliberate
    over-long elements are over-long, and the server has read everything before them.
    """
    segments = []
    start = b"< open vcan0 >< rawmode >"
    out = bytearray(start)
    for _ in range(lines):
        roll = rng.random()
        if roll < 0.6:
            out += socketcand_junk(rng)
        elif roll < 0.99:
            out += rng.randbytes(rng.randrange(40)) + b">"
        else:
            out += b"< send 123 " + b"1 " * rng.randrange(200, 600)   # over-long
            segments.append(bytes(out))
            out = bytearray(start if rng.random() < 0.8 else b"")
    segments.append(bytes(out))
    return segments


def chunks(rng: random.Random, data: bytes, largest: int = 512) -> list[bytes]:
    """``data`` cut at random places (pieces of 1..``largest`` bytes)."""
    pieces = []
    at = 0
    while at < len(data):
        size = rng.randrange(1, largest + 1) if rng.random() < 0.8 else rng.randrange(1, 8)
        pieces.append(data[at:at + size])
        at += size
    return pieces


def slcan_line_count(data: bytes) -> int:
    """How many lines the adapter sees in ``data``: CR, LF and CR LF each end one."""
    return data.count(b"\r") + data.count(b"\n") - data.count(b"\r\n")
