"""FrameWatch: per-ID counts and last frames on the hot path, a viewer's rows worked out when asked."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.e2e import E2EReceiver
from hilbench.bus.watch import FrameWatch, WatchedMessage, changed_bytes

RUN_S = 5.0


@pytest.fixture
def bench() -> Iterator[Bench]:
    with Bench(BenchConfig()) as b:
        yield b


@pytest.fixture
def watched(bench: Bench) -> tuple[Bench, FrameWatch]:
    """The default bench after RUN_S seconds with a watch attached from the start."""
    watch = FrameWatch.attach(bench)
    bench.run_for(RUN_S)
    return bench, watch


def by_name(watch: FrameWatch) -> dict[str | None, WatchedMessage]:
    return {row.name: row for row in watch.rows()}


def frame(frame_id: int, data: bytes, t_s: float, *, extended: bool = False, fd: bool = False) -> can.Message:
    return can.Message(timestamp=t_s, arbitration_id=frame_id, is_extended_id=extended, data=data, is_fd=fd)


# -- against the bench's own monitor -----------------------------------------------------------------
def test_counts_equal_the_monitors_for_every_message(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    rows = by_name(watch)
    seen = {name for name, stats in bench.monitor.stats.items() if stats.count}
    assert seen and set(rows) == seen
    for name in seen:
        assert rows[name].count == bench.monitor.stats[name].count, name
    assert watch.frames == bench.monitor.frames


def test_rates_and_periods_match_the_dbc_cycle_times(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    for row in watch.rows():
        assert row.cycle_time_s is not None and row.rate_hz is not None and row.last_dt_s is not None
        assert row.rate_hz == pytest.approx(1.0 / row.cycle_time_s, rel=0.02), row.name
        assert row.expected_rate_hz == pytest.approx(1.0 / row.cycle_time_s)
        assert row.last_dt_s == pytest.approx(row.cycle_time_s, rel=0.02), row.name


def test_rows_carry_dbc_names_senders_times_and_decoded_signals(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    rows = by_name(watch)
    pack = rows["BMS_PackStatus"]
    assert (pack.frame_id, pack.extended, pack.senders) == (0x100, False, ("BMS",))
    assert pack.last_s == pytest.approx(bench.monitor.arrival_times("BMS_PackStatus")[-1])
    assert pack.error is None and "AliveCounter" in pack.signals
    codec_msg = bench.codec.by_name["BMS_PackStatus"]
    assert pack.signals == codec_msg.decode_signals(pack.data)
    assert [row.frame_id for row in watch.rows()] == sorted(row.frame_id for row in watch.rows())


def test_the_alive_counter_byte_shows_as_changed_on_every_protected_message(
        watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    protected = [row for row in watch.rows() if row.e2e_state is not None]
    assert protected
    for row in protected:
        assert 1 in row.changed, row.name    # profile 2: the counter's nibble in byte 1 moves every frame


def test_e2e_state_and_errors_follow_the_monitors_receivers(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    rows = by_name(watch)
    assert rows["BMS_PackStatus"].e2e_state == "VALID" and rows["BMS_PackStatus"].e2e_errors == 0
    assert rows["BMS_CellVoltages"].e2e_state is None and rows["BMS_CellVoltages"].e2e_errors is None
    corrupted = bytearray(rows["BMS_PackStatus"].data)
    corrupted[7] ^= 0xFF     # the CRC in byte 0 no longer fits
    bench.restbus.send(frame(0x100, bytes(corrupted), 0.0))
    after = by_name(watch)["BMS_PackStatus"]
    assert after.e2e_state == "INVALID"
    assert after.e2e_errors == bench.monitor.stats["BMS_PackStatus"].e2e_errors == 1
    assert after.changed == (7,)


def test_e2e_receiver_reads_the_monitors_receiver_by_name(bench: Bench) -> None:
    assert isinstance(bench.monitor.e2e_receiver("BMS_PackStatus"), E2EReceiver)
    assert bench.monitor.e2e_receiver("BMS_CellVoltages") is None
    assert bench.monitor.e2e_receiver("NoSuchMessage") is None


def test_an_unknown_id_is_counted_and_listed_without_a_name(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    for _ in range(3):
        bench.restbus.send(frame(0x7AB, b"\x01\x02", 0.0))
    bench.restbus.send(frame(0x18FF50E5, b"\x00" * 8, 0.0, extended=True))
    rows = {(row.frame_id, row.extended): row for row in watch.rows()}
    unknown = rows[(0x7AB, False)]
    assert (unknown.name, unknown.senders, unknown.count, unknown.cycle_time_s) == (None, (), 3, None)
    assert unknown.count == bench.monitor.unknown_ids[0x7AB]
    assert unknown.signals == {} and unknown.error is None and unknown.e2e_state is None
    assert rows[(0x18FF50E5, True)].name is None
    assert list(rows)[-1] == (0x18FF50E5, True)       # extended IDs after the standard ones


def test_a_malformed_payload_gives_an_error_string_not_an_exception(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    errors_before = bench.monitor.decode_errors
    bench.restbus.send(frame(0x101, b"\x01\x02", 0.0))       # BMS_CellExtremes is 8 bytes
    assert bench.monitor.decode_errors == errors_before + 1
    row = by_name(watch)["BMS_CellExtremes"]
    assert row.data == b"\x01\x02" and row.signals == {}
    assert row.error is not None and "BMS_CellExtremes" in row.error and "2 bytes, expected 8" in row.error
    bench.run_for(0.2)         # the next good frame decodes again
    row = by_name(watch)["BMS_CellExtremes"]
    assert row.error is None and row.signals


def test_a_can_fd_frame_is_flagged_with_its_whole_payload(watched: tuple[Bench, FrameWatch]) -> None:
    bench, watch = watched
    row = by_name(watch)["BMS_ModuleCellsFD"]
    assert row.is_fd and len(row.data) == 64 and row.error is None
    assert not by_name(watch)["BMS_PackStatus"].is_fd


# -- by hand -------------------------------------------------------------------------------------------
def test_changed_bytes_compares_byte_by_byte_and_counts_a_longer_tail() -> None:
    assert changed_bytes(b"\x00\x01\x02", b"\x00\x01\x02") == ()
    assert changed_bytes(b"\x00\x01\x02", b"\xff\x01\x03") == (0, 2)
    assert changed_bytes(b"\x00", b"\x00\x05\x06") == (1, 2)
    assert changed_bytes(b"\x00\x05\x06", b"\x01") == (0,)
    assert changed_bytes(b"", b"") == ()


def test_hand_made_frames_give_counts_rates_dt_and_changed_bytes(bench: Bench) -> None:
    epoch_s = 1000.0
    watch = FrameWatch(bench.codec, epoch_s=epoch_s)
    watch(frame(0x100, bytes(8), epoch_s + 1.0))
    first = watch.rows()[0]
    assert (first.count, first.rate_hz, first.last_dt_s, first.changed) == (1, None, None, ())
    assert first.last_s == pytest.approx(1.0) and first.name == "BMS_PackStatus"
    assert first.e2e_state is None          # no monitor given: no E2E figures
    watch(frame(0x100, bytes([0, 0, 9, 0, 0, 0, 0, 7]), epoch_s + 1.5))
    watch(frame(0x100, bytes([0, 1, 9, 0, 0, 0, 0, 8]), epoch_s + 2.0))
    row = watch.rows()[0]
    assert row.count == 3
    assert row.rate_hz == pytest.approx(2.0)           # two periods of 0.5 s
    assert row.last_dt_s == pytest.approx(0.5)
    assert row.changed == (1, 7)
    assert row.data == bytes([0, 1, 9, 0, 0, 0, 0, 8])
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.count = 0  # type: ignore[misc]


def test_standard_and_extended_frames_of_one_id_are_separate_rows(bench: Bench) -> None:
    watch = FrameWatch(bench.codec)
    watch(frame(0x100, bytes(8), 1.0))
    watch(frame(0x100, bytes(8), 1.1, extended=True))
    rows = watch.rows()
    assert [(r.frame_id, r.extended, r.name, r.key) for r in rows] == [
        (0x100, False, "BMS_PackStatus", "s100"), (0x100, True, None, "x100")]


def test_a_frame_object_sent_twice_is_not_its_own_previous(bench: Bench) -> None:
    watch = FrameWatch(bench.codec)
    msg = frame(0x7AB, b"\x01", 1.0)
    watch(msg)
    msg.timestamp = 2.0
    watch(msg)
    row = watch.rows()[0]
    assert row.count == 2 and row.last_dt_s is None and row.changed == ()


def test_a_payload_of_the_wrong_length_for_an_fd_message_is_reported(bench: Bench) -> None:
    watch = FrameWatch(bench.codec)
    watch(frame(0x118, bytes(8), 1.0, fd=True))       # BMS_ModuleCellsFD has 64 bytes
    row = watch.rows()[0]
    assert row.is_fd and row.name == "BMS_ModuleCellsFD"
    assert row.error is not None and "expected 64" in row.error
