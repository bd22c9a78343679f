"""Counters and checksums of protected messages: AUTOSAR E2E profiles and a car's own schemes.

A real ECU drops a frame whose checksum or alive counter is wrong, so an
emulated node must send what the car's receivers accept, and the DUT must
check what it receives the same way.  The signal map declares each
message's scheme (``[protection.NAME]``); the bench's own DBC declares
AUTOSAR profile 2 in its attributes.  Schemes:

* ``autosar_p2``: CRC-8H2F in byte 0 over bytes 1.. and one of 16 data IDs
  chosen by the 4-bit counter in the low nibble of byte 1 (VW MQB/MEB use
  exactly this, with a per-message list of "magic" data IDs);
* ``autosar_p5``: CRC-16 (CCITT, init 0xFFFF) in bytes 0-1 over bytes 2.. and
  a 16-bit data ID, 8-bit counter in byte 2 -- computed by cantools;
* ``sum``, ``xor``, ``crc8``, ``crc16``: the common OEM forms, as data: the
  bytes covered, the frame ID's bytes optionally included (Tesla sums them
  in), a constant, and for CRCs polynomial, init and final XOR (crccheck
  computes them).

Each scheme knows where its counter and checksum sit, so faults can write a
wrong counter or a bad checksum without knowing the scheme.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Sequence
from dataclasses import dataclass

import crccheck.crc
from cantools.autosar.end_to_end import compute_profile5_crc

from .e2e import crc8h2f

SCHEMES = ("autosar_p2", "autosar_p5", "sum", "xor", "crc8", "crc16", "none")


def signal_bits(start: int, length: int, byte_order: str) -> list[int]:
    """Bit positions (DBC numbering: bit i of byte i // 8) of a field, most significant first."""
    if byte_order == "little_endian":
        return list(range(start + length - 1, start - 1, -1))
    bits, position = [], start
    for _ in range(length):     # Motorola: walk down a byte, then to the next byte's MSB
        bits.append(position)
        position = position - 1 if position % 8 else position + 15
    return bits


@dataclass(frozen=True)
class BitField:
    """An unsigned field of a payload (a counter or a checksum), read and written bit by bit."""

    name: str
    bits: tuple[int, ...]       # most significant first

    @classmethod
    def of(cls, signal) -> BitField:
        """The field a DBC signal occupies (cantools signal: name, start bit, length, byte order)."""
        return cls(signal.name, tuple(signal_bits(signal.start, signal.length, signal.byte_order)))

    @classmethod
    def byte_range(cls, name: str, first_byte: int, length_bits: int) -> BitField:
        """A little-endian field starting at bit 0 of ``first_byte``."""
        start = first_byte * 8
        return cls(name, tuple(range(start + length_bits - 1, start - 1, -1)))

    @property
    def width(self) -> int:
        """Field width in bits."""
        return len(self.bits)

    @property
    def bytes(self) -> frozenset[int]:
        """Indices of the payload bytes the field touches."""
        return frozenset(bit // 8 for bit in self.bits)

    def get(self, payload: builtins.bytes | bytearray) -> int:   # in this class, ``bytes`` is the property above
        """The field's unsigned value in ``payload``; IndexError if the payload is too short to hold it."""
        value = 0
        for bit in self.bits:
            value = (value << 1) | ((payload[bit // 8] >> (bit % 8)) & 1)
        return value

    def set(self, payload: bytearray, value: int) -> None:
        """Write the low :attr:`width` bits of ``value`` into ``payload`` in place, leaving other bits alone."""
        for offset, bit in enumerate(reversed(self.bits)):
            mask = 1 << (bit % 8)
            if (value >> offset) & 1:
                payload[bit // 8] |= mask
            else:
                payload[bit // 8] &= ~mask & 0xFF


class Protection(abc.ABC):
    """How one message's counter and checksum are written and checked."""

    scheme: str = ""

    def __init__(self, checksum: BitField | None, counter: BitField | None) -> None:
        self.checksum_field = checksum
        self.counter_field = counter

    @property
    def has_checksum(self) -> bool:
        """Whether the scheme carries a checksum."""
        return self.checksum_field is not None

    @property
    def has_counter(self) -> bool:
        """Whether the scheme carries an alive counter."""
        return self.counter_field is not None

    @property
    def message_bits(self) -> int:
        """The shortest payload (in bits) that holds the counter and checksum."""
        top = [max(f.bits) + 1 for f in (self.checksum_field, self.counter_field) if f is not None]
        return max(top, default=0)

    @property
    def counter_modulus(self) -> int:
        """How many counter values there are before it wraps to 0 (1 for a scheme without a counter)."""
        return 1 << self.counter_field.width if self.counter_field is not None else 1

    def counter(self, payload: bytes | bytearray) -> int:
        """The alive counter of a frame (0 for a scheme without one)."""
        return self.counter_field.get(payload) if self.counter_field is not None else 0

    def set_counter(self, payload: bytearray, counter: int) -> None:
        """Write ``counter`` into ``payload`` without touching the checksum (a fault's wrong counter)."""
        if self.counter_field is not None:
            self.counter_field.set(payload, counter % self.counter_modulus)

    def protect(self, payload: bytearray, counter: int) -> bytearray:
        """Write ``counter`` and the matching checksum into ``payload`` in place, and return it."""
        self.set_counter(payload, counter)
        if self.checksum_field is not None:
            self.checksum_field.set(payload, self.compute(payload))
        return payload

    def checksum_ok(self, payload: bytes | bytearray) -> bool:
        """Whether the checksum in ``payload`` matches its contents (True for a scheme without one)."""
        if self.checksum_field is None:
            return True
        if len(payload) * 8 <= max(self.checksum_field.bits):
            return False
        return self.checksum_field.get(payload) == self.compute(payload)

    def corrupt_checksum(self, payload: bytearray) -> bytearray:
        """Make the checksum wrong (the right one with every bit flipped), in place, and return it."""
        if self.checksum_field is not None:
            right = self.compute(payload)
            self.checksum_field.set(payload, right ^ ((1 << self.checksum_field.width) - 1))
        return payload

    def blank(self, payload: bytes | bytearray) -> bytes:
        """``payload`` with counter and checksum cleared: the frames of one value set share it."""
        out = bytearray(payload)
        for field in (self.checksum_field, self.counter_field):
            if field is not None and len(out) * 8 > max(field.bits):
                field.set(out, 0)
        return bytes(out)

    @abc.abstractmethod
    def compute(self, payload: bytes | bytearray) -> int:
        """The checksum ``payload`` should carry (its counter already written)."""


class AutosarP2(Protection):
    """AUTOSAR E2E profile 2: CRC-8H2F in byte 0, counter in bits 8-11, 16 data IDs."""

    scheme = "autosar_p2"

    def __init__(self, data_ids: Sequence[int]) -> None:
        super().__init__(BitField.byte_range("CRC", 0, 8), BitField.byte_range("Counter", 1, 4))
        if len(data_ids) != 16:
            raise ValueError(f"profile 2 needs 16 data IDs, got {len(data_ids)}")
        self.data_ids = tuple(int(d) & 0xFF for d in data_ids)

    def compute(self, payload: bytes | bytearray) -> int:
        """CRC-8H2F over bytes 1.. and the data ID the frame's counter selects."""
        return crc8h2f(bytes(payload[1:]) + bytes((self.data_ids[payload[1] & 0x0F],)))


class AutosarP5(Protection):
    """AUTOSAR E2E profile 5: CRC-16 in bytes 0-1 (little endian), 8-bit counter in byte 2, 16-bit data ID."""

    scheme = "autosar_p5"

    def __init__(self, data_id: int) -> None:
        super().__init__(BitField.byte_range("CRC", 0, 16), BitField.byte_range("Counter", 2, 8))
        self.data_id = int(data_id) & 0xFFFF

    def compute(self, payload: bytes | bytearray) -> int:
        """Profile 5 CRC-16 by cantools; -1 (which no payload carries) when it cannot compute one."""
        crc = compute_profile5_crc(bytes(payload), self.data_id)
        return int(crc) if crc is not None else -1


class OemChecksum(Protection):
    """A car's own scheme: sum, XOR or a CRC over chosen bytes, optionally with the frame ID's bytes."""

    def __init__(self, scheme: str, checksum: BitField, counter: BitField | None, *, covered: Sequence[int],
                 frame_id: int, frame_id_bytes: str | None, add: int = 0, poly: int = 0, init: int = 0,
                 xor_out: int = 0, reflect: bool = False, counter_modulus: int | None = None) -> None:
        super().__init__(checksum, counter)
        self._modulus = counter_modulus
        self.scheme = scheme
        self.covered = tuple(covered)
        self.add = add
        self.id_bytes = b""
        if frame_id_bytes:
            width = 4 if frame_id > 0x7FF else 2
            self.id_bytes = frame_id.to_bytes(width, "little" if frame_id_bytes == "le" else "big")
        self._crc = None
        if scheme in ("crc8", "crc16"):
            self._crc = crccheck.crc.Crc(8 if scheme == "crc8" else 16, poly, initvalue=init,
                                         reflect_input=reflect, reflect_output=reflect, xor_output=xor_out)

    def compute(self, payload: bytes | bytearray) -> int:
        """Sum, XOR or CRC of the covered bytes (checksum read as 0) and ID bytes, cut to the field's width."""
        data = bytearray(payload)
        self.checksum_field.set(data, 0)   # type: ignore[union-attr]
        covered = bytes(data[i] for i in self.covered if i < len(data)) + self.id_bytes
        mask = (1 << self.checksum_field.width) - 1   # type: ignore[union-attr]
        if self.scheme == "sum":
            return (sum(covered) + self.add) & mask
        if self.scheme == "xor":
            value = self.add
            for byte in covered:
                value ^= byte
            return value & mask
        assert self._crc is not None
        return int(self._crc.calc(covered)) & mask

    @property
    def counter_modulus(self) -> int:
        """The declared wrap (``counter_modulus``, e.g. Rivian's 0..14), else 2 to the counter's width."""
        return self._modulus or super().counter_modulus
