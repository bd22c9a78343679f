"""AUTOSAR E2E profile 2 protection and the receiver side that cantools leaves out.

cantools ships ``compute_profile2_crc`` (CRC-8H2F over payload[1:] plus the data
ID) but its checks never look at the alive counter and return ``None`` for
unprotected frames.  Receivers here therefore track counters, CRC failures
and staleness themselves, in the NODATA -> INIT -> VALID <-> INVALID manner of
the E2E state machine, with openpilot's leaky tally of wrong counters.

The CRC is table driven: the same polynomial, init and xor-out as cantools'
``Crc8Autosar`` (tests compare the two byte for byte) at a fraction of the
cost, because every protected frame is both protected and checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protection import Protection

CRC8H2F_POLY = 0x2F


def _make_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_TABLE = _make_table(CRC8H2F_POLY)


def crc8h2f(data: bytes | bytearray) -> int:
    """CRC-8H2F as AUTOSAR specifies it (init 0xFF, xor-out 0xFF)."""
    crc = 0xFF
    table = _TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc ^ 0xFF


def profile2_data_id(base: int, counter: int) -> int:
    """The data ID profile 2 uses for ``counter`` (the bench DBC's convention)."""
    return (base + counter) & 0xFF


def profile2_crc(payload: bytes | bytearray, data_id_base: int) -> int:
    """CRC for a profile-2 payload (CRC in byte 0, counter in the low nibble of byte 1)."""
    table = _TABLE
    crc = 0xFF
    for index in range(1, len(payload)):
        crc = table[crc ^ payload[index]]
    crc = table[crc ^ ((data_id_base + (payload[1] & 0x0F)) & 0xFF)]
    return crc ^ 0xFF


def protect(payload: bytearray, data_id_base: int, counter: int) -> bytearray:
    """Write ``counter`` and the matching CRC into ``payload`` in place, and return it."""
    payload[1] = (payload[1] & 0xF0) | (counter & 0x0F)
    payload[0] = profile2_crc(payload, data_id_base)
    return payload


class E2EStatus(enum.Enum):
    """A receiver's verdict on a message stream, AUTOSAR's E2E states; data is usable only while VALID.

    NODATA before any frame, INIT while there is no trusted counter to compare with, INVALID after
    a bad checksum, a short frame or too many wrong counters.  Shared by :class:`E2EReceiver` and
    the state machine of :mod:`.e2e_sm`.
    """

    NODATA = "NODATA"
    INIT = "INIT"
    VALID = "VALID"
    INVALID = "INVALID"


# A member looked up on its Enum class costs about as much as the rest of the per-frame
# check; the fast path below uses this module constant instead.
_VALID = E2EStatus.VALID


class E2EError(enum.Enum):
    """Why one frame failed its E2E check; the value keys :attr:`E2EReceiver.errors`.

    CRC: checksum wrong; REPEATED: the same counter again; WRONG_SEQUENCE: counters skipped;
    SHORT: a payload too short to hold the checksum and counter.
    """

    CRC = "crc"
    REPEATED = "repeated"
    WRONG_SEQUENCE = "wrong_sequence"
    SHORT = "short"


@dataclass
class E2EReceiver:
    """Receiver state for one protected message.

    Data is usable only while :attr:`status` is VALID.  A wrong counter adds
    one to a leaky tally and a good one takes one off; at ``max_tally`` wrong
    counters the message is INVALID until the tally drains (openpilot's rule).
    A CRC failure makes the frame itself unusable and counts too.

    The bench DBC's messages are checked by ``data_id_base`` (profile 2, its
    fast path); a car's own scheme by ``protection`` (any
    :class:`~.protection.Protection`: its checksum and counter, wherever they sit).
    """

    data_id_base: int | None = None
    max_tally: int = 5
    status: E2EStatus = E2EStatus.NODATA
    last_counter: int | None = None
    tally: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    protection: Protection | None = None

    def __post_init__(self) -> None:
        if (self.data_id_base is None) == (self.protection is None):
            raise ValueError("an E2E receiver needs either data_id_base (profile 2) or protection")

    def check(self, payload: bytes | bytearray, crc_ok: bool | None = None) -> E2EError | None:
        """Check one frame; return the error found, or None if it may be used.

        ``crc_ok`` lets a caller that already verified the CRC (a cached
        decode) skip recomputing it.
        """
        if self.protection is not None:
            return self._check_generic(payload, crc_ok)
        last = self.last_counter
        if crc_ok and not self.tally and last is not None and len(payload) >= 2 and self.max_tally > 0:
            # The usual case, frame after frame: good CRC, the next counter, nothing owed.
            counter = payload[1] & 0x0F
            if counter == (last + 1) & 0x0F:
                self.last_counter = counter
                self.status = _VALID
                return None
        return self.check_full(payload, crc_ok)

    def check_full(self, payload: bytes | bytearray, crc_ok: bool | None = None) -> E2EError | None:
        """:meth:`check` by the full rules, without its short path for the usual frame: the
        reference that the short path is tested against (tests/bus/test_e2e.py).  Profile 2 only."""
        if len(payload) < 2:
            return self._fail(E2EError.SHORT)
        if crc_ok is None:
            crc_ok = profile2_crc(payload, self.data_id_base) == payload[0]  # type: ignore[arg-type]
        if not crc_ok:
            return self._fail(E2EError.CRC)
        counter = payload[1] & 0x0F
        last = self.last_counter
        self.last_counter = counter
        error: E2EError | None = None
        if last is None:
            self.status = E2EStatus.INIT
        elif counter == last:
            error = E2EError.REPEATED
        elif counter != (last + 1) & 0x0F:
            error = E2EError.WRONG_SEQUENCE
        if error is not None:
            return self._fail(error)
        if self.tally:
            self.tally -= 1
        if self.tally < self.max_tally:
            self.status = E2EStatus.VALID
        return None

    def _check_generic(self, payload: bytes | bytearray, crc_ok: bool | None) -> E2EError | None:
        """The same rules for a car's own scheme: checksum, then counter progress if it has one."""
        protection = self.protection
        assert protection is not None
        if len(payload) * 8 < protection.message_bits:
            return self._fail(E2EError.SHORT)
        if crc_ok is None:
            crc_ok = protection.checksum_ok(payload)
        if not crc_ok:
            return self._fail(E2EError.CRC)
        error: E2EError | None = None
        if protection.has_counter:
            counter = protection.counter(payload)
            last = self.last_counter
            self.last_counter = counter
            if last is None:
                self.status = E2EStatus.INIT
            elif counter == last:
                error = E2EError.REPEATED
            elif counter != (last + 1) % protection.counter_modulus:
                error = E2EError.WRONG_SEQUENCE
        if error is not None:
            return self._fail(error)
        if self.tally:
            self.tally -= 1
        if self.tally < self.max_tally:
            self.status = E2EStatus.VALID
        return None

    def _fail(self, error: E2EError) -> E2EError:
        self.errors[error.value] = self.errors.get(error.value, 0) + 1
        self.tally = min(self.tally + 1, 2 * self.max_tally)
        if self.tally >= self.max_tally or error in (E2EError.CRC, E2EError.SHORT):
            self.status = E2EStatus.INVALID
        return error
