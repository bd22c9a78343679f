"""AUTOSAR E2E profile 2: the CRC against cantools, and the receiver checks cantools leaves out."""

from __future__ import annotations

import pytest
from cantools.autosar.end_to_end import compute_profile2_crc
from hypothesis import given, settings
from hypothesis import strategies as st

from hilbench.bus.e2e import (
    E2EError,
    E2EReceiver,
    E2EStatus,
    crc8h2f,
    profile2_crc,
    profile2_data_id,
    protect,
)

BASE = 0x30


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=2, max_size=64), data_id=st.integers(0, 255))
def test_crc8h2f_equals_cantools_profile2_crc(payload: bytes, data_id: int) -> None:
    expected = compute_profile2_crc(payload, data_id)
    assert crc8h2f(payload[1:] + bytes((data_id,))) == expected


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=2, max_size=64), base=st.integers(0, 255))
def test_profile2_crc_equals_cantools_with_the_counter_selected_data_id(payload: bytes, base: int) -> None:
    counter = payload[1] & 0x0F
    assert profile2_crc(payload, base) == compute_profile2_crc(payload, (base + counter) & 0xFF)


def test_crc8h2f_known_vectors() -> None:
    # AUTOSAR SWS CRC Library, CRC-8H2F check values
    assert crc8h2f(b"\x00\x00\x00\x00") == 0x12
    assert crc8h2f(b"\xF2\x01\x83") == 0xC2
    assert crc8h2f(b"\x0F\xAA\x00\x55") == 0xC6
    assert crc8h2f(b"\x00\xFF\x55\x11") == 0x77
    assert crc8h2f(b"\x33\x22\x55\xAA\xBB\xCC\xDD\xEE\xFF") == 0x11
    assert crc8h2f(b"\x92\x6B\x55") == 0x33
    assert crc8h2f(b"\xFF\xFF\xFF\xFF") == 0x6C


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(min_size=2, max_size=64), base=st.integers(0, 255), counter=st.integers(0, 15))
def test_protect_writes_counter_and_a_crc_that_checks(payload: bytes, base: int, counter: int) -> None:
    data = protect(bytearray(payload), base, counter)
    assert data[1] & 0x0F == counter
    assert data[1] & 0xF0 == payload[1] & 0xF0          # the high nibble is someone else's signal
    assert data[2:] == payload[2:]
    assert data[0] == compute_profile2_crc(bytes(data), profile2_data_id(base, counter))


def _frames(base: int, counters: list[int], body: bytes = b"\x00" * 6) -> list[bytearray]:
    return [protect(bytearray(b"\x00\x00" + body), base, c) for c in counters]


def test_receiver_accepts_a_good_sequence_across_the_wrap() -> None:
    rx = E2EReceiver(BASE)
    assert rx.status is E2EStatus.NODATA
    for frame in _frames(BASE, [c % 16 for c in range(40)]):
        assert rx.check(frame) is None
        assert rx.status is E2EStatus.VALID
    assert rx.errors == {} and rx.tally == 0


def test_receiver_flags_repeated_counter() -> None:
    rx = E2EReceiver(BASE)
    f0, f1 = _frames(BASE, [3, 3])
    assert rx.check(f0) is None
    assert rx.check(f1) is E2EError.REPEATED
    assert rx.errors == {"repeated": 1}


def test_receiver_flags_skipped_counter() -> None:
    rx = E2EReceiver(BASE)
    frames = _frames(BASE, [14, 15, 1])   # 0 was lost across the wrap
    assert rx.check(frames[0]) is None
    assert rx.check(frames[1]) is None
    assert rx.check(frames[2]) is E2EError.WRONG_SEQUENCE
    assert rx.errors == {"wrong_sequence": 1}
    # and resynchronises on the next one
    assert rx.check(_frames(BASE, [2])[0]) is None


def test_receiver_flags_bad_crc_and_marks_the_data_unusable() -> None:
    rx = E2EReceiver(BASE)
    good = _frames(BASE, [0, 1])
    assert rx.check(good[0]) is None
    corrupted = bytearray(good[1])
    corrupted[5] ^= 0x01                    # a bit flip in the payload
    assert rx.check(corrupted) is E2EError.CRC
    assert rx.status is E2EStatus.INVALID
    assert rx.check(good[1]) is None        # the genuine frame still fits the sequence
    assert rx.status is E2EStatus.VALID


def test_receiver_detects_masquerade_with_another_messages_data_id() -> None:
    rx = E2EReceiver(BASE)
    foreign = _frames(BASE + 0x10, [0])[0]    # right layout, wrong data ID
    assert rx.check(foreign) is E2EError.CRC


@pytest.mark.parametrize("payload", [b"", b"\x12"])
def test_receiver_flags_short_payload(payload: bytes) -> None:
    rx = E2EReceiver(BASE)
    assert rx.check(payload) is E2EError.SHORT
    assert rx.status is E2EStatus.INVALID
    assert rx.errors == {"short": 1}


def test_invalid_after_five_wrong_counters_and_recovers_after_good_ones() -> None:
    rx = E2EReceiver(BASE)
    assert rx.check(_frames(BASE, [0])[0]) is None
    repeats = _frames(BASE, [0] * 5)
    for i, frame in enumerate(repeats[:4]):
        assert rx.check(frame) is E2EError.REPEATED
        assert rx.tally == i + 1
        assert rx.status is E2EStatus.VALID, "fewer than 5 wrong counters keep the message valid"
    assert rx.check(repeats[4]) is E2EError.REPEATED
    assert rx.tally == 5
    assert rx.status is E2EStatus.INVALID
    # leaky tally: each good counter takes one off; valid again once below 5
    good = _frames(BASE, [1, 2, 3, 4, 5])
    assert rx.check(good[0]) is None
    assert rx.tally == 4 and rx.status is E2EStatus.VALID
    for frame in good[1:]:
        assert rx.check(frame) is None
    assert rx.tally == 0
    assert rx.errors == {"repeated": 5}


def test_tally_is_bounded_so_recovery_time_is_bounded() -> None:
    rx = E2EReceiver(BASE)
    rx.check(_frames(BASE, [0])[0])
    for frame in _frames(BASE, [0] * 100):
        rx.check(frame)
    assert rx.status is E2EStatus.INVALID
    assert rx.tally <= 2 * rx.max_tally
    counters = [(1 + i) % 16 for i in range(2 * rx.max_tally)]
    results = [rx.check(f) for f in _frames(BASE, counters)]
    assert results == [None] * len(counters)
    assert rx.status is E2EStatus.VALID


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.booleans(), st.integers(0, 3)), max_size=60),
       st.integers(0, 5))
def test_the_short_path_gives_the_full_checks_result_and_state(frames, max_tally) -> None:
    """check() takes a short path for the usual frame; it must agree with the full rules."""
    fast, slow = E2EReceiver(0x10, max_tally=max_tally), E2EReceiver(0x10, max_tally=max_tally)
    for counter, crc_ok, length in frames:
        payload = bytes([0, counter, 0, 0][:length])
        expected = slow.check_full(payload, crc_ok)
        assert fast.check(payload, crc_ok) == expected
        assert (fast.status, fast.tally, fast.last_counter, fast.errors) == \
               (slow.status, slow.tally, slow.last_counter, slow.errors)


