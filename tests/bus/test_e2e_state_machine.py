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


@pytest.mark.parametrize("restart_counter", [0, 1, 3, 4, 5, 9])   # 3, 4: one and two steps on
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
    for _ in range(sm.config.tally_cap + 1):
        stream.tick()
    assert sm.usable(stream.t)


def test_a_replay_that_takes_a_valid_streams_place_is_never_followed_while_it_runs() -> None:
    sm = machine()
    stream = _steady(sm)
    for offset in range(2, 15):               # every counter that does not line up with the live one
        replay_sm = machine()
        live = _steady(replay_sm)
        accepted = 0
        for _ in range(int(10 / CYCLE)):      # 10 s of replay, on the sender's schedule
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


# -- the receiver's edges, each held by a peer that sits on it ----------------------------------------
# A cycle of 1/8 s, and frames on its grid, make every time and every data age exact in binary: a
# boundary (data exactly as old as the timeout, a silence exactly as long) is then tested as written.
EXACT = 0.125


def exact_machine(timeout_s: float = 0.5, protection=P2, **overrides) -> E2EStateMachine:
    return E2EStateMachine(protection, EXACT, timeout_s, E2EConfig.load(**overrides) if overrides else None)


def exact_steady(sm: E2EStateMachine, frames: int = 12) -> int:
    """Frames 1..frames on the exact grid (frame k at k/8 s); returns the last counter."""
    for k in range(1, frames + 1):
        assert sm.on_frame(frame(k), k * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID and sm.data_age_s(frames * EXACT) == 0.0
    return frames


def test_a_cycle_or_timeout_of_zero_or_less_is_refused() -> None:
    for cycle_s, timeout_s in ((0.0, 0.5), (-0.02, 0.5), (0.02, 0.0), (0.02, -1.0)):
        with pytest.raises(ValueError, match=f"cycle and timeout must be > 0, got {cycle_s} and {timeout_s}"):
            E2EStateMachine(P2, cycle_s, timeout_s)
    sm = E2EStateMachine(P2, 1e-6, 1e-6)          # any positive figure will do
    assert sm.state is E2EStatus.NODATA and sm.timeout_s == 1e-6


def test_a_new_receiver_has_no_data_no_errors_and_an_empty_tally() -> None:
    sm = exact_machine()
    assert (sm.state, sm.errors, sm.tally, sm.lag_s) == (E2EStatus.NODATA, {}, 0, 0.0)
    assert sm.data_age_s(5.0) == float("inf") and not sm.usable(5.0)
    assert sm.config == E2EConfig.load() and sm.protection is P2


def test_bad_frames_before_the_first_good_one_leave_the_receiver_waiting_and_fill_the_tally() -> None:
    """A node that powers up sending garbage: NODATA until a good frame, every error counted."""
    sm = exact_machine()
    bad = bytearray(frame(1))
    bad[0] ^= 0xFF
    assert sm.on_frame(bytes(bad), EXACT) is FrameStatus.ERROR
    assert sm.state is E2EStatus.NODATA and sm.tally == 8 and sm.errors == {"ERROR": 1}
    assert sm.on_frame(frame(1)[:1], 2 * EXACT) is FrameStatus.ERROR        # too short to hold the CRC
    assert sm.state is E2EStatus.NODATA and sm.tally == 16 and sm.errors == {"ERROR": 2}
    for k in range(2, 5):                                                  # three good frames
        assert sm.on_frame(frame(k), (k + 1) * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID and sm.tally == 13


def test_errors_are_counted_one_by_one_under_their_status() -> None:
    sm = exact_machine()
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.on_frame(frame(last), t + EXACT) is FrameStatus.REPEATED
    assert sm.errors == {"REPEATED": 1}
    assert sm.on_frame(frame(last + 8), t + EXACT + EXACT / 2) is FrameStatus.WRONG_SEQUENCE
    assert sm.errors == {"REPEATED": 1, "WRONG_SEQUENCE": 1}
    assert sm.on_frame(frame(last + 1)[:1], t + 2 * EXACT) is FrameStatus.ERROR
    assert sm.errors == {"REPEATED": 1, "WRONG_SEQUENCE": 1, "ERROR": 1}
    assert sm.on_frame(frame(last), t + 2 * EXACT) is FrameStatus.REPEATED
    assert sm.errors == {"REPEATED": 2, "WRONG_SEQUENCE": 1, "ERROR": 1}


def test_data_exactly_as_old_as_the_timeout_is_still_usable_and_not_a_moment_longer() -> None:
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.data_age_s(t + 0.5) == 0.5 and sm.usable(t + 0.5)
    assert not sm.usable(t + 0.5 + 1e-9)
    assert sm.usable(t) and sm.usable(t + 0.25)


def test_a_frame_that_comes_when_the_data_is_exactly_timeout_old_keeps_the_message_valid() -> None:
    """Three frames lost, the fourth on time exactly at the timeout: not stale, no INIT again."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    t = last * EXACT + 0.5
    assert sm.on_frame(frame(last + 4), t) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID and sm.usable(t)
    # One more frame lost the next time: now the data was older than the timeout, INIT again.
    assert sm.on_frame(frame(last + 9), t + 5 * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.INIT and not sm.usable(t + 5 * EXACT)


def test_a_late_stream_goes_stale_by_its_lag_and_its_silence_together() -> None:
    """Data 0.25 s late from a gateway, then the gateway goes quiet for 0.375 s: 0.625 s old, stale."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    t = last * EXACT
    # The gateway starts holding frames two cycles: the next frame, one step on, comes three cycles later.
    assert sm.on_frame(frame(last + 1), t + 3 * EXACT) is FrameStatus.OK
    assert sm.lag_s == 2 * EXACT and sm.data_age_s(t + 3 * EXACT) == 0.25
    assert sm.state is E2EStatus.VALID
    # The next held frame 0.375 s on (two frames lost in the gateway): 0.625 s of data age, stale.
    arrival = t + 3 * EXACT + 0.375
    sm.on_frame(frame(last + 4), arrival)
    assert sm.state is not E2EStatus.VALID and not sm.usable(arrival)


def test_a_sender_reset_exactly_one_timeout_after_a_rogue_frame_is_trusted_again() -> None:
    """A rogue frame far ahead marks the stream as displaced; a silence of a whole timeout clears that
    mark, so the sender that restarts its counter then is followed (through INIT), not refused."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm, 8)
    t = last * EXACT
    rogue_s = t + EXACT / 2
    assert sm.on_frame(frame(last + 8), rogue_s) is FrameStatus.WRONG_SEQUENCE
    restart_s = rogue_s + 0.5                              # silent for exactly the timeout
    statuses = [sm.on_frame(frame(last + 3 + k), restart_s + k * EXACT) for k in range(4)]
    assert statuses == [FrameStatus.OK] * 4
    assert sm.usable(restart_s + 3 * EXACT)


def test_a_rogue_frame_less_than_a_timeout_before_the_sender_restarts_keeps_it_refused() -> None:
    """The same, the silence a little short of the timeout: the new counter may be the rogue's."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm, 8)
    rogue_s = last * EXACT + EXACT / 2
    assert sm.on_frame(frame(last + 8), rogue_s) is FrameStatus.WRONG_SEQUENCE
    assert sm.on_frame(frame(last + 3), rogue_s + 0.5 - EXACT / 4) is FrameStatus.WRONG_SEQUENCE


# -- the one-frame fast path: the same answers as the full rules, and taken where it may be ------------
def _peer_frames(seed: int, cycles: int = 3000, cycle_s: float = CYCLE) -> list[tuple[bytes, float]]:
    """A realistic sender as the unit hears it, in arrival order: jitter, lost frames, a corrupted one now
    and then, a repeat, a rogue frame slipped in, a gateway that holds frames for a while, silences."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out: list[tuple[bytes, float]] = []
    delay_s, silent_until = 0.0, -1.0
    for k in range(1, cycles):
        t = k * cycle_s
        if rng.random() < 0.004:
            delay_s = float(rng.choice([0.0, 0.1, 0.6, 3 * cycle_s]))     # a gateway starts or stops holding
        if rng.random() < 0.002:
            silent_until = t + float(rng.choice([0.2, 0.5, 1.0]))        # a muted transmitter
        if t < silent_until or rng.random() < 0.03:                     # silent, or this frame lost
            continue
        data = bytearray(frame(k))
        if rng.random() < 0.02:
            data[5] ^= 0x04                                             # a bit flipped on the way
        arrival = t + delay_s + float(rng.uniform(-0.3, 0.3)) * cycle_s
        out.append((bytes(data), arrival))
        if rng.random() < 0.01:
            out.append((bytes(data), arrival + 0.2 * cycle_s))          # the same frame twice
        if rng.random() < 0.01:
            out.append((frame(k + 1), arrival + 0.5 * cycle_s))         # a rogue sender, in sequence
    out.sort(key=lambda f: f[1])
    return out


def _trace(sm: E2EStateMachine, frames: list[tuple[bytes, float]], *, tell_crc: bool) -> list[tuple]:
    out = []
    for data, t in frames:
        crc_ok = sm.protection.checksum_ok(data) if tell_crc else None
        status = sm.on_frame(data, t, crc_ok)
        out.append((status, sm.state, sm.tally, sm.lag_s, sm.data_age_s(t), sm.usable(t), dict(sm.errors)))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_path_gives_the_full_rules_answer_frame_by_frame(seed: int) -> None:
    """The unit passes the codec's checksum verdict (``crc_ok``), which lets the usual frame take a short
    path; a receiver told nothing checks every frame by the full rules. Both must agree exactly."""
    frames = _peer_frames(seed)
    fast = _trace(machine(), frames, tell_crc=True)
    full = _trace(machine(), frames, tell_crc=False)
    assert fast == full
    statuses = {row[0] for row in full}
    assert statuses == set(FrameStatus)                 # the peer made every kind of frame


class _CountChecks:
    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        full = E2EStateMachine._check

        def counted(sm, *args, **kwargs):
            self.calls += 1
            return full(sm, *args, **kwargs)

        monkeypatch.setattr(E2EStateMachine, "_check", counted)


@pytest.mark.parametrize("length", [2, 8])
def test_an_on_time_frame_of_a_proven_stream_takes_the_fast_path(monkeypatch, length: int) -> None:
    """~0.5 us against ~2.5 us a frame, on the per-frame path of every simulated second (simspeed)."""
    checks = _CountChecks(monkeypatch)
    sm = machine()
    for k in range(1, 9):                                # INIT, then VALID with a window all OK
        sm.on_frame(frame(k)[:length], k * CYCLE, True)
    assert sm.state is E2EStatus.VALID and checks.calls == 8
    for k in range(9, 200):
        jitter = (0.35, -0.35, 0.0)[k % 3] * CYCLE
        assert sm.on_frame(frame(k)[:length], k * CYCLE + jitter, True) is FrameStatus.OK
    assert checks.calls == 8
    assert sm.data_age_s(199 * CYCLE) == pytest.approx(0.0, abs=0.1 * CYCLE)
    # Anything else goes the full way: a lost frame, a repeat, a late frame, a checksum the codec refused.
    sm.on_frame(frame(201)[:length], 201 * CYCLE, True)
    sm.on_frame(frame(201)[:length], 201.5 * CYCLE, True)
    sm.on_frame(frame(202)[:length], 202 * CYCLE, False)
    assert checks.calls == 11


def test_the_fast_path_waits_for_a_window_of_nothing_but_ok_and_an_empty_tally(monkeypatch) -> None:
    checks = _CountChecks(monkeypatch)
    sm = machine()
    for k in range(1, 8):
        sm.on_frame(frame(k), k * CYCLE, True)
    assert sm.state is E2EStatus.VALID and checks.calls == 7      # seven OK in the window of eight: not yet
    sm.on_frame(frame(8), 8 * CYCLE, True)
    sm.on_frame(frame(9), 9 * CYCLE, True)
    assert checks.calls == 8
    sm.on_frame(frame(9), 9.5 * CYCLE, True)                      # a repeat: the tally is 8
    calls = checks.calls
    for k in range(10, 30):
        sm.on_frame(frame(k), k * CYCLE, True)
    assert checks.calls == calls + 8                               # until the tally has drained
    assert sm.tally == 0


def test_a_timeout_of_a_cycle_and_a_half_is_enough_for_the_fast_path(monkeypatch) -> None:
    checks = _CountChecks(monkeypatch)
    sm = E2EStateMachine(P2, EXACT, 1.5 * EXACT)
    for k in range(1, 30):
        assert sm.on_frame(frame(k), k * EXACT, True) is FrameStatus.OK
    assert sm.usable(29 * EXACT) and checks.calls == 8


def test_a_timeout_under_a_cycle_and_a_half_keeps_every_frame_on_the_full_rules(monkeypatch) -> None:
    """There a frame late within tolerance already carries stale data: only the full rules see it."""
    checks = _CountChecks(monkeypatch)
    sm = E2EStateMachine(P2, EXACT, 1.25 * EXACT)
    for k in range(1, 30):
        assert sm.on_frame(frame(k), k * EXACT, True) is FrameStatus.OK
    assert checks.calls == 29 and sm.usable(29 * EXACT)
    assert sm.on_frame(frame(30), 30.3 * EXACT, True) is FrameStatus.OK   # data 1.3 cycles old: stale
    assert sm.state is E2EStatus.INIT


def test_an_8_bit_counter_never_takes_the_4_bit_fast_path_and_counts_past_16(monkeypatch) -> None:
    from hilbench.bus.protection import AutosarP5
    p5 = AutosarP5(0x1234)
    checks = _CountChecks(monkeypatch)
    sm = E2EStateMachine(p5, CYCLE, TIMEOUT)

    def f5(counter: int) -> bytes:
        return bytes(p5.protect(bytearray(8), counter % 256))

    for k in range(1, 300):
        assert sm.on_frame(f5(k), k * CYCLE, True) is FrameStatus.OK
    assert checks.calls == 299 and sm.usable(299 * CYCLE)
    # 17 frames lost: the counter moved 18, as the time says (a 4-bit reading would see a step of 2).
    assert sm.on_frame(f5(317), 317 * CYCLE, True) is FrameStatus.OK
    assert sm.data_age_s(317 * CYCLE) == pytest.approx(0.0, abs=1e-9)


def test_a_car_counter_outside_byte_1_is_read_where_the_map_puts_it_on_the_fast_path(monkeypatch) -> None:
    from hilbench.bus.protection import BitField, OemChecksum
    oem = OemChecksum("xor", BitField.byte_range("Checksum", 7, 8), BitField.byte_range("Counter", 6, 4),
                      covered=range(7), frame_id=0x123, frame_id_bytes=None)
    checks = _CountChecks(monkeypatch)
    sm = E2EStateMachine(oem, CYCLE, TIMEOUT)

    def f(counter: int) -> bytes:       # byte 1 holds a value that changes with nothing
        return bytes(oem.protect(bytearray([0, 7, 0, 0, 0, 0, 0, 0]), counter % 16))

    for k in range(1, 100):
        assert sm.on_frame(f(k), k * CYCLE, True) is FrameStatus.OK
    assert checks.calls == 8
    assert sm.on_frame(f(99), 100 * CYCLE, True) is FrameStatus.REPEATED


# -- schemes without a counter or without a checksum ---------------------------------------------------
def test_a_checksum_without_a_counter_makes_every_good_frame_fresh_and_only_a_bad_one_an_error() -> None:
    from hilbench.bus.protection import BitField, OemChecksum
    oem = OemChecksum("sum", BitField.byte_range("Checksum", 7, 8), None, covered=range(7), frame_id=0x1A0,
                      frame_id_bytes=None)
    sm = E2EStateMachine(oem, CYCLE, TIMEOUT)
    same = bytes(oem.protect(bytearray([1, 2, 3, 4, 5, 6, 7, 0]), 0))
    for k in range(1, 20):                # the same payload again and again: no counter, no repetition
        t = k * CYCLE * (1.5 if k % 2 else 1.0)
        assert sm.on_frame(same, t) is FrameStatus.OK
        assert sm.data_age_s(t) == 0.0
    assert sm.usable(t) and sm.lag_s == 0.0 and sm.errors == {}
    bad = bytearray(same)
    bad[2] ^= 1
    assert sm.on_frame(bytes(bad), t + CYCLE) is FrameStatus.ERROR
    assert sm.data_age_s(t + CYCLE) == pytest.approx(CYCLE)       # the bad frame's data is not taken


def test_a_counter_without_a_checksum_is_still_checked_for_sequence() -> None:
    from hilbench.bus.protection import BitField, Protection

    class CounterOnly(Protection):
        scheme = "counter_only"

        def __init__(self) -> None:
            super().__init__(None, BitField.byte_range("Counter", 1, 4))

        def compute(self, payload) -> int:
            return 0

    prot = CounterOnly()
    sm = E2EStateMachine(prot, CYCLE, TIMEOUT)

    def f(counter: int) -> bytes:
        return bytes(prot.protect(bytearray(8), counter % 16))

    for k in range(1, 10):
        assert sm.on_frame(f(k), k * CYCLE) is FrameStatus.OK
    assert sm.usable(9 * CYCLE)
    assert sm.on_frame(f(9), 10 * CYCLE) is FrameStatus.REPEATED
    assert sm.on_frame(f(1), 10.5 * CYCLE) is FrameStatus.WRONG_SEQUENCE
    assert sm.on_frame(bytes(1), 11 * CYCLE) is FrameStatus.ERROR      # too short to hold the counter


def test_a_stream_late_from_its_second_frame_is_late_data_not_an_impostor() -> None:
    """A gateway that starts holding frames right after the first one passed: the second frame, one
    counter step on but four cycles later, is the same stream, its data three cycles old."""
    sm = exact_machine(timeout_s=1.0)
    assert sm.on_frame(frame(1), EXACT) is FrameStatus.OK
    assert sm.on_frame(frame(2), 5 * EXACT) is FrameStatus.OK
    assert sm.lag_s == 3 * EXACT and sm.data_age_s(5 * EXACT) == 3 * EXACT
    assert sm.on_frame(frame(3), 6 * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID and sm.usable(6 * EXACT)


def test_in_wall_time_frames_lost_and_the_next_delivered_a_little_early_are_no_error() -> None:
    """A loaded host: four frames lost, the fifth handed over 0.7 cycles early. Within the wall-time
    tolerance (0.9 cycles) that is no error; with the simulated-time one (0.4) it would be."""
    sm = E2EStateMachine(P2, EXACT, 1.0, wall_time=True)
    for k in range(1, 10):
        assert sm.on_frame(frame(k), k * EXACT) is FrameStatus.OK
    assert sm.on_frame(frame(14), (14 - 1.7) * EXACT) is FrameStatus.OK
    assert sm.on_frame(frame(20), 15 * EXACT) is FrameStatus.WRONG_SEQUENCE   # 6 steps in 2.7 cycles


def test_in_wall_time_a_step_of_up_to_three_is_a_frame_or_two_lost_in_transit() -> None:
    sm = E2EStateMachine(P2, EXACT, 1.0, wall_time=True)
    for k in range(1, 10):
        sm.on_frame(frame(k), k * EXACT)
    # Bunched: three steps on, handed over right after the last frame.
    assert sm.on_frame(frame(12), 9 * EXACT + 0.001) is FrameStatus.OK
    assert sm.data_age_s(9 * EXACT + 0.001) == 0.0
    assert sm.on_frame(frame(16), 9 * EXACT + 0.002) is FrameStatus.WRONG_SEQUENCE


def test_a_one_byte_frame_is_an_error_even_when_the_caller_vouches_for_its_checksum() -> None:
    sm = machine()
    _steady(sm)
    assert sm.on_frame(frame(21)[:1], 21 * CYCLE, True) is FrameStatus.ERROR


def test_a_frame_too_short_to_hold_a_counter_that_ends_in_its_third_byte_is_an_error() -> None:
    from hilbench.bus.protection import BitField, Protection

    class SpanningCounter(Protection):      # a car's 4-bit counter in bits 14..17, across bytes 1 and 2
        def __init__(self) -> None:
            super().__init__(None, BitField("Counter", (17, 16, 15, 14)))

        def compute(self, payload) -> int:
            return 0

    prot = SpanningCounter()
    sm = E2EStateMachine(prot, CYCLE, TIMEOUT)
    for k in range(1, 5):
        assert sm.on_frame(bytes(prot.protect(bytearray(3), k)), k * CYCLE) is FrameStatus.OK
    assert sm.on_frame(bytes(prot.protect(bytearray(3), 5))[:2], 5 * CYCLE) is FrameStatus.ERROR


def test_in_wall_time_the_step_limit_is_the_elapsed_cycles_plus_one_plus_the_tolerance() -> None:
    sm = E2EStateMachine(P2, EXACT, 1.0, E2EConfig.load(wall_timing_tolerance_cycles=0.5), wall_time=True)
    for k in range(1, 10):
        sm.on_frame(frame(k), k * EXACT)
    assert sm.on_frame(frame(14), 12.5 * EXACT) is FrameStatus.OK             # 5 steps in 3.5 cycles: the limit
    assert sm.on_frame(frame(19), 15 * EXACT) is FrameStatus.WRONG_SEQUENCE   # 5 steps in 2.5 cycles


def test_a_frame_late_by_jitter_after_a_few_lost_ones_is_on_time_not_a_late_stream() -> None:
    sm = exact_machine(timeout_s=1.0)
    last = exact_steady(sm)
    t = (last + 5.25) * EXACT                          # four frames lost, the fifth a quarter cycle late
    assert sm.on_frame(frame(last + 5), t) is FrameStatus.OK
    assert sm.lag_s == 0.0
    assert sm.data_age_s(t) == pytest.approx(0.225 * EXACT, abs=1e-12)     # pulled a tenth towards it


def test_a_frame_off_its_time_by_exactly_the_tolerance_is_on_time() -> None:
    sm = exact_machine(timeout_s=1.0, timing_tolerance_cycles=0.25)
    last = exact_steady(sm)
    t = (last + 1.25) * EXACT
    assert sm.on_frame(frame(last + 1), t) is FrameStatus.OK
    assert sm.lag_s == 0.0 and sm.data_age_s(t) == pytest.approx(0.225 * EXACT, abs=1e-12)


def test_a_stream_late_by_more_than_the_timeout_is_out_of_sequence_frame_after_frame() -> None:
    """A gateway holding the frames 0.6 s: however regular its frames, the data is too old to be OK."""
    sm = machine()
    stream = _steady(sm)
    statuses = [stream.tick(late_s=0.6) for _ in range(100)]
    assert statuses == [FrameStatus.WRONG_SEQUENCE] * 100       # the first late frame included
    # Each frame's data is stale when it comes, so the receiver starts again each time and stays in
    # INIT (out-of-sequence frames, as in AUTOSAR, are not counted as errors there): never VALID.
    assert sm.state is E2EStatus.INIT


def test_a_stream_late_by_exactly_the_timeout_is_still_in_sequence() -> None:
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    # The gateway starts holding frames four cycles (the timeout): frame last+1 comes at last+5.
    statuses = [sm.on_frame(frame(last + k), (last + 4 + k) * EXACT) for k in range(1, 6)]
    assert sm.lag_s == 0.5
    assert statuses == [FrameStatus.OK] * 5


def test_a_delay_that_grows_in_steps_adds_up() -> None:
    """A gateway that holds the frames 0.2 s, then 0.4 s more: 0.6 s, beyond the timeout."""
    sm = machine()
    stream = _steady(sm)
    for _ in range(50):
        stream.tick(late_s=0.2)
    assert sm.usable(stream.t + 0.2) and sm.lag_s == pytest.approx(0.2, abs=0.1 * CYCLE)
    for _ in range(200):
        stream.tick(late_s=0.6)
        assert not sm.usable(stream.t + 0.6)
    assert sm.lag_s == pytest.approx(0.6, abs=0.1 * CYCLE)


def test_a_late_streams_sender_back_on_schedule_after_a_pause_is_fresh_though_its_counter_wrapped() -> None:
    """Held three cycles by a gateway, then silent 0.28 s, then straight from the sender: its counter
    seventeen steps on (one step, after a wrap) where the elapsed time says fourteen, as the live
    sender's is when the three cycles of lag are added."""
    sm = machine()
    stream = _steady(sm)
    for _ in range(30):
        stream.tick(late_s=3 * CYCLE)
    assert sm.lag_s == pytest.approx(3 * CYCLE, abs=0.1 * CYCLE)
    held_until = stream.t + 3 * CYCLE
    for _ in range(16):                       # the sender goes on; nothing reaches the unit
        stream.tick(deliver=False)
    assert stream.t + CYCLE - held_until == pytest.approx(14 * CYCLE)    # the next frame: 14 cycles on
    assert stream.tick() is FrameStatus.OK
    assert sm.lag_s == 0.0 and sm.data_age_s(stream.t) == pytest.approx(0.0, abs=1e-9)
    # Followed again as any stream: the next frame held two cycles by the gateway is late data, not refused.
    assert stream.tick(late_s=2 * CYCLE) is FrameStatus.OK
    assert sm.lag_s == pytest.approx(2 * CYCLE, abs=1e-9)


# -- the windows: what enters and what leaves them ----------------------------------------------------
def _bad(counter: int) -> bytes:
    data = bytearray(frame(counter))
    data[0] ^= 0xFF
    return bytes(data)


def test_init_needs_its_good_frames_in_a_row() -> None:
    """A repeat between good frames in INIT: the window of three must be all OK again."""
    sm = exact_machine()
    assert sm.on_frame(frame(1), 1 * EXACT) is FrameStatus.OK
    assert sm.on_frame(frame(1), 1.5 * EXACT) is FrameStatus.REPEATED
    assert sm.on_frame(frame(2), 2 * EXACT) is FrameStatus.OK
    assert sm.on_frame(frame(3), 3 * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.INIT
    assert sm.on_frame(frame(4), 4 * EXACT) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID


def test_a_checksum_error_in_init_makes_the_message_invalid_until_its_window_is_clean() -> None:
    sm = exact_machine(timeout_s=2.0)
    sm.on_frame(frame(1), 1 * EXACT)
    assert sm.on_frame(_bad(2), 2 * EXACT) is FrameStatus.ERROR
    assert sm.state is E2EStatus.INVALID
    # The tally (8) drains in 8 good frames; the error has left the window of 8 after 8 frames.
    for k in range(3, 10):
        sm.on_frame(frame(k), k * EXACT)
        assert sm.state is E2EStatus.INVALID
    sm.on_frame(frame(10), 10 * EXACT)
    assert sm.state is E2EStatus.VALID


def test_a_message_set_to_trust_its_first_frame_is_valid_at_once() -> None:
    """A 1000 ms message whose owner set INIT to one frame (three would be three seconds)."""
    sm = E2EStateMachine(P2, 1.0, 5.0, E2EConfig.load(window_init=1, min_ok_init=1))
    assert sm.on_frame(frame(1), 1.0) is FrameStatus.OK
    assert sm.state is E2EStatus.VALID and sm.usable(1.0)


def test_two_checksum_errors_eight_frames_apart_are_tolerated_seven_apart_are_not() -> None:
    sm = exact_machine(timeout_s=2.0)
    last = exact_steady(sm)
    n = last + 1
    assert sm.on_frame(_bad(n), n * EXACT) is FrameStatus.ERROR
    for k in range(n + 1, n + 8):
        sm.on_frame(frame(k), k * EXACT)
    assert sm.on_frame(_bad(n + 8), (n + 8) * EXACT) is FrameStatus.ERROR     # the first has just left
    assert sm.state is E2EStatus.VALID
    for k in range(n + 9, n + 15):
        sm.on_frame(frame(k), k * EXACT)
    assert sm.state is E2EStatus.VALID
    assert sm.on_frame(_bad(n + 15), (n + 15) * EXACT) is FrameStatus.ERROR   # seven after the second
    assert sm.state is E2EStatus.INVALID


def test_two_frames_not_ok_within_eight_are_tolerated_a_third_is_not() -> None:
    sm = exact_machine(timeout_s=2.0)
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.on_frame(frame(last), t + 0.25 * EXACT) is FrameStatus.REPEATED
    assert sm.on_frame(frame(last), t + 0.5 * EXACT) is FrameStatus.REPEATED
    assert sm.state is E2EStatus.VALID
    assert sm.on_frame(frame(last), t + 0.75 * EXACT) is FrameStatus.REPEATED
    assert sm.state is E2EStatus.INVALID


def test_after_recovering_the_window_of_valid_is_eight_frames_again() -> None:
    """A link that came back from INVALID: a repeat every twelve frames never adds up to a third."""
    sm = exact_machine(timeout_s=2.0)
    last = exact_steady(sm)
    for k in range(3):
        sm.on_frame(frame(last), (last + 0.25 * (k + 1)) * EXACT)
    assert sm.state is E2EStatus.INVALID
    n = last
    for k in range(1, 40):                               # tally 24: drained in 24 good frames
        sm.on_frame(frame(n + k), (n + k) * EXACT)
    assert sm.state is E2EStatus.VALID and sm.tally == 0
    n += 39
    for _ in range(10):
        for k in range(1, 13):
            sm.on_frame(frame(n + k), (n + k) * EXACT)
        n += 12
        assert sm.on_frame(frame(n), (n + 0.5) * EXACT) is FrameStatus.REPEATED
        assert sm.state is E2EStatus.VALID


@pytest.mark.parametrize("bad_frame", [None, 0, 2])
def test_an_invalid_link_that_went_silent_recovers_when_it_comes_back_clean(bad_frame: int | None) -> None:
    """INVALID, then silent beyond the timeout (the window starts afresh, still INVALID), then good frames,
    one of the first corrupted or none: VALID again once the window of eight and the tally are clean."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    for k in range(3):
        sm.on_frame(frame(last), (last + 0.25 * (k + 1)) * EXACT)
    assert sm.state is E2EStatus.INVALID and sm.tally == 24
    n = last + 20                                        # 2.5 s of silence
    statuses = []
    for k in range(40):
        data = _bad(n + k) if k == bad_frame else frame(n + k)
        statuses.append(sm.on_frame(data, (n + k) * EXACT))
    refused = [k for k, st in enumerate(statuses) if st is not FrameStatus.OK]
    assert refused == ([] if bad_frame is None else [bad_frame])
    assert sm.state is E2EStatus.VALID and sm.usable((n + 39) * EXACT)


def test_a_late_streams_sender_back_exactly_at_the_tolerance_is_on_its_schedule() -> None:
    sm = exact_machine(timeout_s=4.0, timing_tolerance_cycles=0.25)
    last = exact_steady(sm)
    # The gateway holds frame last+1 three cycles: lag 3 cycles.
    assert sm.on_frame(frame(last + 1), (last + 4) * EXACT) is FrameStatus.OK
    assert sm.lag_s == 3 * EXACT
    # Straight from the sender, 14.25 cycles after that: counter 17 steps on (one, after a wrap), where
    # the live sender's is less a quarter cycle (the tolerance).
    t = (last + 4 + 14.25) * EXACT
    assert sm.on_frame(frame(last + 1 + 17), t) is FrameStatus.OK
    assert sm.lag_s == 0.0 and sm.data_age_s(t) == 0.0


def _lagging(lag_cycles: float, timeout_s: float = 4.0) -> tuple[E2EStateMachine, int, float]:
    """A stream on the exact grid whose last frame came ``lag_cycles`` late: (receiver, counter, its arrival)."""
    sm = exact_machine(timeout_s=timeout_s)
    last = exact_steady(sm)
    arrival = (last + 1 + lag_cycles) * EXACT
    assert sm.on_frame(frame(last + 1), arrival) is FrameStatus.OK
    assert sm.lag_s == pytest.approx(lag_cycles * EXACT)
    return sm, last + 1, arrival


# 16, and a lag that passes 16.5 while draining (17, 18): a drained frame a whole counter turn behind the lag
# reads as the sender back on schedule (the 4-bit limit, module docstring).
@pytest.mark.parametrize("lag_cycles", [10.0, 15.5, 19.0, 20.0])
def test_a_gateway_draining_its_queue_at_twice_the_rate_catches_up_half_a_cycle_a_frame(lag_cycles: float) -> None:
    """Held frames released two per cycle. Each is one step on in half a cycle: the stream catches up
    by half a cycle a frame. Where the lag was 16 cycles or more the counter may also have wrapped
    meanwhile: the receiver takes the least progress the counter allows (one step), so a drained frame's
    data is never judged younger than it is (with the most progress, the second frame of an 18-cycle
    lag would read as 2.5 cycles old)."""
    sm, n, t = _lagging(lag_cycles)
    tol = sm.config.timing_tolerance_cycles
    lag = lag_cycles
    for k in range(1, 6):
        if 0.5 > tol + lag:         # caught up: one more frame early would be ahead of the time
            assert sm.on_frame(frame(n + k), t + 0.5 * k * EXACT) is FrameStatus.WRONG_SEQUENCE
            break
        assert sm.on_frame(frame(n + k), t + 0.5 * k * EXACT) is FrameStatus.OK
        lag = lag + 0.5 - 1         # one step of progress in half a cycle
        assert sm.lag_s == pytest.approx(lag * EXACT, abs=1e-9), k
    assert sm.lag_s < lag_cycles * EXACT


def test_a_gateway_releasing_held_frames_at_once_catches_up_a_cycle_a_frame_within_its_lag() -> None:
    """Ten cycles late, then the gateway lets its queue go in one burst (a tenth of a cycle apart): each
    frame is one step on and ~0.9 cycles ahead of the time, within the lag still owed, so it is the late
    stream catching up (OK, a cycle less late a frame), not someone else's frame inserted.  On this
    0.125 s cycle the lag owed is counted in cycles (seconds / cycle): in seconds times the cycle it would
    be 0.16 and the first drained frame would read as inserted."""
    sm, n, t = _lagging(10.0)
    lag = 10.0
    for k in range(1, 6):
        assert sm.on_frame(frame(n + k), t + 0.1 * k * EXACT) is FrameStatus.OK, k
        lag = lag + 0.1 - 1
        assert sm.lag_s == pytest.approx(lag * EXACT, abs=1e-9), k


def test_a_frame_ahead_of_a_late_stream_by_more_than_its_lag_is_inserted() -> None:
    sm, n, t = _lagging(2.0)
    # Two steps on in a quarter cycle: 1.75 cycles ahead of the time, within the 2 cycles of lag.
    assert sm.on_frame(frame(n + 2), t + 0.25 * EXACT) is FrameStatus.OK
    sm, n, t = _lagging(2.0)
    # Four steps on in a quarter cycle: 3.75 ahead, beyond the lag and the tolerance: someone else's.
    assert sm.on_frame(frame(n + 4), t + 0.25 * EXACT) is FrameStatus.WRONG_SEQUENCE


def test_a_repeat_right_after_a_frame_and_then_a_late_stream_is_late_data() -> None:
    """The frame sent twice (a quarter cycle apart), then the gateway holds the next ones: with frames heard
    in between, a late frame is accepted only if the silence before it covers the time it is late."""
    sm = exact_machine(timeout_s=2.0, timing_tolerance_cycles=0.25)
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.on_frame(frame(last), t + 0.25 * EXACT) is FrameStatus.REPEATED
    # One step on, three cycles after the last trusted frame, 2.75 cycles after the repeat: the silence
    # is exactly the time not accounted for less the tolerance.
    assert sm.on_frame(frame(last + 1), t + 3 * EXACT) is FrameStatus.OK
    assert sm.lag_s == 2 * EXACT


def test_old_data_slipped_into_a_valid_stream_marks_what_follows_late_as_suspect() -> None:
    """A replayed old frame between live ones; then the live stream stops and frames one step on come
    three cycles late: they may be the replay's, and are refused until a frame comes on time."""
    sm = exact_machine(timeout_s=2.0)
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.on_frame(frame(last - 5), t + 0.5 * EXACT) is FrameStatus.WRONG_SEQUENCE
    assert sm.on_frame(frame(last + 1), t + 4 * EXACT) is FrameStatus.WRONG_SEQUENCE
    assert sm.on_frame(frame(last + 5), t + 5 * EXACT) is FrameStatus.OK       # on the sender's schedule
    assert sm.on_frame(frame(last + 6), t + 8 * EXACT) is FrameStatus.OK       # late again: now believed


def test_a_sender_that_restarts_while_old_frames_are_slipped_in_is_refused_until_the_line_is_quiet() -> None:
    """Old frames slipped into a VALID stream mark it as displaced; a counter that then starts over may be
    the intruder's, so it is refused (where, after a quiet timeout, a restart is trusted through INIT)."""
    sm = exact_machine(timeout_s=0.5)
    last = exact_steady(sm)
    t = last * EXACT
    assert sm.on_frame(frame(last), t + EXACT) is FrameStatus.REPEATED
    assert sm.on_frame(frame(last + 1), t + 2 * EXACT) is FrameStatus.WRONG_SEQUENCE   # old data, frames heard
    assert sm.on_frame(frame(last + 1), t + 3 * EXACT) is FrameStatus.WRONG_SEQUENCE
    # Stale by now; four steps on in four and a half cycles is neither on time nor the old stream late.
    assert sm.on_frame(frame(last + 4), t + 4.5 * EXACT) is FrameStatus.WRONG_SEQUENCE
    assert sm.on_frame(frame(last + 9), t + 4.5 * EXACT + 0.5 + 3 * EXACT) is FrameStatus.OK   # after a quiet timeout
