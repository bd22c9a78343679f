"""The compute unit's E2E receiver: AUTOSAR's state machine, and freshness as data age."""

from __future__ import annotations

import pytest

from hilbench.bus.e2e import E2EStatus
from hilbench.bus.e2e_sm import E2EConfig, E2EStateMachine, FrameStatus
from hilbench.bus.protection import AutosarP2
from hilbench.errors import ConfigError

CYCLE = 0.02
TIMEOUT = 0.5
P2 = AutosarP2([(0x10 + c) & 0xFF for c in range(16)])


def frame(counter: int, value: int = 0x55) -> bytes:
    return bytes(P2.protect(bytearray([0, 0, value, 1, 2, 3, 4, 5]), counter % 16))


class Stream:
    """A sender at a fixed cycle, counting every cycle, whose frames the test delivers or not."""

    def __init__(self, sm: E2EStateMachine, start_s: float = 0.0) -> None:
        self.sm, self.t, self.n = sm, start_s, 0

    def tick(self, *, deliver: bool = True, late_s: float = 0.0, counter: int | None = None) -> FrameStatus | None:
        self.t += CYCLE
        self.n += 1
        if not deliver:
            return None
        return self.sm.on_frame(frame(self.n if counter is None else counter), self.t + late_s)


def machine(**overrides) -> E2EStateMachine:
    return E2EStateMachine(P2, CYCLE, TIMEOUT, E2EConfig.load(**overrides) if overrides else None)


def test_three_good_frames_lead_from_nodata_through_init_to_valid() -> None:
    sm = machine()
    stream = Stream(sm)
    assert sm.state is E2EStatus.NODATA and not sm.usable(0.0)
    stream.tick()
    assert sm.state is E2EStatus.INIT and not sm.usable(stream.t)
    stream.tick()
    assert sm.state is E2EStatus.INIT
    stream.tick()
    assert sm.state is E2EStatus.VALID and sm.usable(stream.t)


def test_one_bad_checksum_is_tolerated_two_within_eight_frames_are_not() -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(10):
        stream.tick()
    bad = bytearray(frame(stream.n + 1))
    bad[3] ^= 0x01
    stream.n += 1
    stream.t += CYCLE
    assert sm.on_frame(bytes(bad), stream.t) is FrameStatus.ERROR
    assert sm.state is E2EStatus.VALID
    for _ in range(3):
        stream.tick()
    stream.n += 1
    stream.t += CYCLE
    assert sm.on_frame(bytes(bad), stream.t) is FrameStatus.ERROR
    assert sm.state is E2EStatus.INVALID and not sm.usable(stream.t)
    # Eight good frames in a row to come back, and the leaky tally emptied: two errors three
    # frames apart left 8 - 3 + 8 = 13 in it, so thirteen good frames.
    assert sm.tally == 13
    for _ in range(12):
        stream.tick()
    assert sm.state is E2EStatus.INVALID
    stream.tick()
    assert sm.state is E2EStatus.VALID


@pytest.mark.parametrize("every", [4, 3, 2])
def test_a_steady_error_rate_of_a_quarter_or_more_keeps_the_message_invalid(every: int) -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(5):
        stream.tick()
    valid_frames = 0
    for k in range(400):
        stream.n += 1
        stream.t += CYCLE
        data = bytearray(frame(stream.n))
        if k % every == 0:
            data[4] ^= 0x10
        sm.on_frame(bytes(data), stream.t)
        valid_frames += sm.state is E2EStatus.VALID
    assert valid_frames < 10


def test_a_delayed_stream_stays_late_until_it_catches_up() -> None:
    """Frames held 0.6 s and released in sequence: the counter moved one step across the gap."""
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    assert sm.usable(stream.t)
    for _ in range(400):        # 8 s of a 0.6 s delay
        stream.tick(late_s=0.6)
        assert not sm.usable(stream.t + 0.6)
    assert sm.data_age_s(stream.t + 0.6) == pytest.approx(0.6, abs=CYCLE)


@pytest.mark.parametrize("delay_s", [0.6, 5.0, 0.7, 1.9])
def test_no_delay_beyond_the_timeout_ever_lets_the_data_be_used(delay_s: float) -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    usable_late = 0
    for _ in range(int(20 / CYCLE)):
        stream.tick(late_s=delay_s)
        usable_late += sm.usable(stream.t + delay_s)
    assert usable_late == 0


def test_a_delay_within_the_timeout_is_data_that_is_still_young_enough() -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    for _ in range(200):
        stream.tick(late_s=0.3)
    assert sm.usable(stream.t + 0.3)
    assert sm.data_age_s(stream.t + 0.3) == pytest.approx(0.3, abs=CYCLE)


def test_a_sender_unheard_for_a_while_comes_back_fresh_through_init() -> None:
    """Bus-off or a muted transmitter: the application counted on, the frames did not reach the bus."""
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    for _ in range(int(10 / CYCLE)):
        stream.tick(deliver=False)
    assert not sm.usable(stream.t)
    stream.tick()
    assert sm.state is E2EStatus.INIT and sm.data_age_s(stream.t) == pytest.approx(0.0)
    stream.tick()
    stream.tick()
    assert sm.usable(stream.t)


def test_a_frozen_stream_repeats_its_counter_and_goes_invalid() -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    frozen = frame(stream.n)
    for _ in range(5):
        stream.t += CYCLE
        assert sm.on_frame(frozen, stream.t) is FrameStatus.REPEATED
    assert sm.state is E2EStatus.INVALID


def test_an_inserted_frame_in_sequence_is_out_of_time_and_a_rogue_sender_is_detected() -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    statuses = []
    for _ in range(50):
        # a rogue sender slips the next counter in half a cycle early, then the real frame comes
        statuses.append(sm.on_frame(frame(stream.n + 1), stream.t + CYCLE / 2))
        stream.tick()
    assert statuses.count(FrameStatus.WRONG_SEQUENCE) == len(statuses)
    assert sm.state is E2EStatus.INVALID


def test_a_masquerading_payload_fails_the_checksum() -> None:
    other = AutosarP2([(0x20 + c) & 0xFF for c in range(16)])
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    foreign = bytes(other.protect(bytearray([0, 0, 0x55, 1, 2, 3, 4, 5]), (stream.n + 1) % 16))
    assert sm.on_frame(foreign, stream.t + CYCLE) is FrameStatus.ERROR


def test_a_counter_that_wraps_after_a_loss_of_exactly_sixteen_frames_is_fresh() -> None:
    sm = machine()
    stream = Stream(sm)
    for _ in range(20):
        stream.tick()
    for _ in range(16):
        stream.tick(deliver=False)
    assert stream.tick() is FrameStatus.OK
    assert sm.data_age_s(stream.t) == pytest.approx(0.0)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="min_ok_valid"):
        E2EConfig.load(min_ok_valid=9)
    with pytest.raises(ConfigError, match="unknown key"):
        E2EConfig.load(window=3)
    with pytest.raises(ConfigError, match="timing_tolerance_cycles"):
        E2EConfig.load(timing_tolerance_cycles=0.0)


def test_in_wall_time_bunched_and_skipped_frames_are_no_errors_and_repeats_still_are() -> None:
    """A loaded host: the sender skips a cycle now and then, the interface stamps frames in batches."""
    sm = E2EStateMachine(P2, CYCLE, TIMEOUT, wall_time=True)
    t, counter = 0.0, 0
    for k in range(300):
        counter += 2 if k % 7 == 0 else 1
        t += CYCLE * (2 if k % 7 == 0 else 1)
        stamp = t - (t % (3 * CYCLE))            # three frames share one time stamp
        assert sm.on_frame(frame(counter), stamp) is FrameStatus.OK
    assert sm.usable(t)
    assert sm.on_frame(frame(counter), t + CYCLE) is FrameStatus.REPEATED
    assert sm.on_frame(frame(counter + 9), t + 2 * CYCLE) is FrameStatus.WRONG_SEQUENCE
