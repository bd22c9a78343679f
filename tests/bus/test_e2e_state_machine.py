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


# -- the rules that decide when a stream is followed again ------------------------------------------
def _steady(sm: E2EStateMachine, frames: int = 20) -> Stream:
    stream = Stream(sm)
    for _ in range(frames):
        stream.tick()
    assert sm.usable(stream.t)
    return stream


@pytest.mark.parametrize("restart_counter", [0, 1, 5, 9])
def test_a_sender_that_restarts_its_counter_after_a_silence_is_trusted_again_through_init(
        restart_counter: int) -> None:
    """An ECU reset: silent for a while, then its counter starts over. Followed again after INIT, where
    before it was taken for a stream seconds late, for good."""
    sm = machine()
    stream = _steady(sm, 50)
    last = stream.n % 16
    for _ in range(150):                      # 3 s of silence
        stream.tick(deliver=False)
    statuses = [stream.tick(counter=restart_counter + k) for k in range(10)]
    if (restart_counter - last) % 16 <= sm.config.max_delta_counter:
        # A counter one or two steps on from the old one reads as the old stream, 3 s late: the
        # safe reading of what a 4-bit counter cannot tell apart.
        assert not sm.usable(stream.t)
    else:
        assert statuses[0] is FrameStatus.OK and sm.usable(stream.t)
        assert sm.data_age_s(stream.t) == pytest.approx(0.0)


def test_a_random_quarter_of_frames_corrupted_keeps_the_message_invalid_and_a_healed_link_comes_back() -> None:
    import numpy as np
    rng = np.random.default_rng(11)
    sm = machine()
    stream = _steady(sm)
    valid_after_trip, tripped = 0, False
    for _ in range(2000):
        stream.n += 1
        stream.t += CYCLE
        data = bytearray(frame(stream.n))
        if rng.random() < 0.25:
            data[4] ^= 0x10
        sm.on_frame(bytes(data), stream.t)
        tripped = tripped or sm.state is E2EStatus.INVALID
        valid_after_trip += tripped and sm.state is E2EStatus.VALID
    assert tripped and valid_after_trip == 0     # without the tally: eight good frames in a row, 1 chance in 10
    assert sm.tally > 0
    for k in range(sm.config.tally_cap + 1):
        stream.tick()
    assert sm.usable(stream.t)


def test_a_replay_that_takes_a_valid_streams_place_is_never_followed_while_it_runs() -> None:
    sm = machine()
    stream = _steady(sm)
    for offset in range(2, 15):               # every counter that does not line up with the live one
        replay_sm = machine()
        live = _steady(replay_sm)
        accepted = 0
        for k in range(int(10 / CYCLE)):      # 10 s of replay, on the sender's schedule
            live.t += CYCLE
            live.n += 1
            accepted += replay_sm.on_frame(frame(live.n + offset), live.t) is FrameStatus.OK
        assert accepted == 0, offset
        assert replay_sm.state is E2EStatus.INVALID and not replay_sm.usable(live.t)
    assert sm.usable(stream.t)


def test_old_frames_slipped_between_live_ones_are_refused_and_leave_the_stream_alone() -> None:
    sm = machine()
    stream = _steady(sm)
    for _ in range(100):
        old = frame(stream.n - 5)             # a frame of 5 cycles ago, sent again half a cycle on
        status = sm.on_frame(old, stream.t + CYCLE / 2)
        assert status is not FrameStatus.OK
        stream.tick()
    assert sm.lag_s == 0.0
    assert sm.data_age_s(stream.t) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("delay_cycles", [3, 15, 17])   # 16: a whole turn, see the module docstring
def test_a_late_stream_is_followed_again_when_the_delay_ends_even_where_its_counter_wrapped(delay_cycles: int) -> None:
    """A gateway held every frame for a while, then let the live frames through again (the held ones
    still draining): the counter may be a whole turn on, which reads as a repetition or a step behind."""
    sm = machine()
    stream = _steady(sm)
    delay_s = delay_cycles * CYCLE
    for _ in range(200):
        stream.tick(late_s=delay_s)
    assert sm.data_age_s(stream.t + delay_s) == pytest.approx(delay_s, abs=CYCLE)
    # The delay ends: the held frames go on arriving for delay_s, the live ones come on time beside them.
    held = [(stream.t + k * CYCLE + delay_s, stream.n + k) for k in range(1, delay_cycles + 1)]
    arrivals = sorted(held + [(stream.t + k * CYCLE, stream.n + k) for k in range(1, 200)])
    for t, n in arrivals:
        sm.on_frame(frame(n), t)
    assert sm.usable(arrivals[-1][0])
    assert sm.data_age_s(arrivals[-1][0]) == pytest.approx(0.0, abs=CYCLE)
