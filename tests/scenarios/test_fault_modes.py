"""Each failure mode injects what it says, frame by frame on the bus; bad parameters are refused with file,
entry and reason before the run (and when a step fires on a bench directly).

The seven failure modes of ISO 26262-6 / AUTOSAR E2E: corruption (bits, a burst, the CRC byte itself),
repetition, loss of N frames, delay, insertion, masquerade, wrong sequence -- plus the intermittent
patterns every frame fault takes (every k-th frame, a seeded rate) and the replay of a recording.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import numpy as np
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.e2e_sm import E2EStateMachine
from hilbench.errors import ScenarioError
from hilbench.scenarios import NotRunnableError, RunOptions, check_runnable, fault_modes, faults
from hilbench.scenarios.actions import ACTIONS, apply

from .helpers import scenario

PACK = "BMS_PackStatus"          # 20 ms
LIMITS = "BMS_Limits"            # 100 ms
VCU = "VCU_VehicleStatus"        # 100 ms


@pytest.fixture
def make_bench() -> Iterator[Callable[..., Bench]]:
    benches: list[Bench] = []

    def make(**changes) -> Bench:
        changes.setdefault("soc_pct", 60.0)
        changes.setdefault("ambient_c", 25.0)
        bench = Bench(BenchConfig(**changes))
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()


class Capture:
    """(time, data) of one message's frames as they cross the rest-bus port."""

    def __init__(self, bench: Bench, message: str) -> None:
        codec = bench.codec.message(message)
        self.frame_id = codec.frame_id
        self.epoch_s = bench.epoch_s
        self.frames: list[tuple[float, bytes]] = []
        bench.restbus.add_tap(self)

    def __call__(self, msg: can.Message) -> None:
        if msg.arbitration_id == self.frame_id:
            self.frames.append((round(msg.timestamp - self.epoch_s, 6), bytes(msg.data)))

    def between(self, lo_s: float, hi_s: float) -> list[tuple[float, bytes]]:
        return [f for f in self.frames if lo_s <= f[0] < hi_s]

    def data(self, lo_s: float = 0.0, hi_s: float = 1e9) -> list[bytes]:
        return [d for _, d in self.between(lo_s, hi_s)]


def run(make_bench, action: str, params: dict, *, message: str = PACK, at_s: float = 1.0, until_s: float = 2.0,
        **config) -> tuple[Bench, Capture]:
    bench = make_bench(**config)
    cap = Capture(bench, message)
    bench.clock.call_at(at_s, lambda: apply(bench, action, dict(params)))
    bench.run_for(until_s)
    return bench, cap


def statuses(bench: Bench, message: str, frames: list[tuple[float, bytes]]) -> Counter:
    """What an AUTOSAR E2E receiver (the state machine of hilbench.bus.e2e_sm) makes of the frames."""
    codec = bench.codec.message(message)
    receiver = E2EStateMachine(codec.protection, codec.cycle_time_s, 0.5)
    return Counter(receiver.on_frame(data, t).name for t, data in frames)


def counter(bench: Bench, message: str, data: bytes) -> int:
    return bench.codec.message(message).protection.counter(data)


def checksum_ok(bench: Bench, message: str, data: bytes) -> bool:
    return bench.codec.message(message).protection.checksum_ok(data)


NEW_ACTIONS = ("repeat", "insert", "masquerade", "reorder", "replay")


@pytest.mark.parametrize("name", NEW_ACTIONS)
def test_every_mode_is_a_registered_action(name: str) -> None:
    assert ACTIONS[name].func is getattr(fault_modes, name)


@pytest.mark.parametrize("name", ["drop", "corrupt", "bad_checksum", "wrong_counter", "delay", "repeat", "insert",
                                  "masquerade", "reorder"])
def test_every_frame_fault_takes_the_intermittent_patterns(name: str) -> None:
    params = ACTIONS[name].params
    assert {"every_n", "rate", "seed", "count", "duration_s"} <= set(params)
    assert params["rate"] == (float, False) and params["seed"] == (int, False)


# -- corruption -----------------------------------------------------------------------------------
def _wire_index(bit: int) -> int:
    """Position on the wire (byte 0 first, MSB first) of DBC bit ``bit``."""
    return (bit // 8) * 8 + 7 - bit % 8


def _flipped(a: bytes, b: bytes) -> list[int]:
    return sorted(_wire_index(byte * 8 + pos) for byte in range(len(a)) for pos in range(8)
                  if (a[byte] ^ b[byte]) >> pos & 1)


def _pairs(make_bench, params: dict, count: int = 5, *, message: str = PACK,
           action: str = "corrupt") -> list[tuple[bytes, bytes]]:
    """(as the node built it, as it went on the bus) for the frames a fault (``corrupt``) changed."""
    bench = make_bench()
    built: list[bytes] = []

    def before_the_fault(name: str, msg: can.Message) -> can.Message:
        if name == message:
            built.append(bytes(msg.data))
        return msg

    bench.bms.tx_filters.append(before_the_fault)   # first in the chain: sees each frame as built
    sent = Capture(bench, message)
    bench.clock.call_at(1.0, lambda: apply(bench, action, {"message": message, "count": count, **params}))
    bench.run_for(2.0)
    assert len(built) == len(sent.frames)
    pairs = [(a, b) for a, (_, b) in zip(built, sent.frames) if a != b]
    assert len(pairs) == count
    assert all(not checksum_ok(bench, message, b) for _, b in pairs)    # every one fails its checksum
    return pairs


def test_corrupt_burst_flips_adjacent_bits_on_the_wire(make_bench) -> None:
    for original, corrupted in _pairs(make_bench, {"burst": 8}):
        flipped = _flipped(original, corrupted)
        assert flipped[-1] - flipped[0] == 7          # first and last bit of an 8-bit burst ...
        assert all(w >= 16 for w in flipped)          # ... in the values, CRC and counter left as sent


def test_corrupt_a_burst_anywhere_and_the_crc_byte_itself(make_bench) -> None:
    spans = [_flipped(a, b) for a, b in _pairs(make_bench, {"burst": 4, "field": "any", "count": 8}, count=8)]
    assert all(s[-1] - s[0] == 3 for s in spans)
    for original, corrupted in _pairs(make_bench, {"field": "checksum", "bits": 2}):
        assert original[1:] == corrupted[1:] and bin(original[0] ^ corrupted[0]).count("1") == 2


def test_corrupt_the_counter_field(make_bench) -> None:
    for original, corrupted in _pairs(make_bench, {"field": "counter"}):
        assert original[2:] == corrupted[2:] and original[0] == corrupted[0]
        assert bin((original[1] ^ corrupted[1]) & 0x0F).count("1") == 1 and not (original[1] ^ corrupted[1]) & 0xF0


# -- intermittent patterns -------------------------------------------------------------------------
def _hit(make_bench, bench_seed: int = 0, **params) -> list[int]:
    """Indices of the PACK frames a ``bad_checksum`` pattern hit between 1 and 3 s."""
    bench, cap = run(make_bench, "bad_checksum", {"message": PACK, "duration_s": 2.0, **params}, until_s=3.5,
                     seed=bench_seed)
    frames = cap.between(1.0, 3.0)
    return [i for i, (_, data) in enumerate(frames) if not checksum_ok(bench, PACK, data)]


def test_a_rate_is_seeded_and_repeats_bit_for_bit(make_bench) -> None:
    first, again = _hit(make_bench, rate=0.25), _hit(make_bench, rate=0.25)
    assert first == again                                  # the same frames, run after run
    assert 0.15 <= len(first) / 100 <= 0.35                # a quarter of 100 frames, give or take
    assert _hit(make_bench, rate=0.25, seed=1) != first    # the step's own seed draws others
    assert _hit(make_bench, rate=0.25, bench_seed=3) != first   # and so does the bench seed


def test_a_corrupting_rate_hits_the_same_frames_however_many_bits_each_hit_flips(make_bench) -> None:
    """The rate draws from the pattern's own generator, the bits to flip from another: the frames a
    seeded rate picks are the rate's, not an echo of the bit draws."""
    def hit(**params) -> list[int]:
        bench, cap = run(make_bench, "corrupt", {"message": PACK, "duration_s": 2.0, "rate": 0.25, **params},
                         until_s=3.5)
        return [i for i, (_, data) in enumerate(cap.between(1.0, 3.0)) if not checksum_ok(bench, PACK, data)]

    one_bit = hit(bits=1)
    assert 0.15 <= len(one_bit) / 100 <= 0.35
    assert hit(bits=3) == one_bit
    assert hit(bits=4, burst=4) == one_bit


def test_every_kth_frame(make_bench) -> None:
    hits = _hit(make_bench, every_n=4)
    assert len(hits) == 25 and set(np.diff(hits)) == {4}


# -- repetition ---------------------------------------------------------------------------------
def test_repeat_sends_the_same_frame_again_counter_and_all(make_bench) -> None:
    bench, cap = run(make_bench, "repeat", {"message": PACK, "count": 3})
    frames = cap.between(0.9, 2.0)
    doubles = [(a, b) for a, b in zip(frames, frames[1:]) if a[1] == b[1]]
    assert len(doubles) == 3 and all(a[0] == b[0] for a, b in doubles)    # right after the original
    assert len(frames) == 55 + 3
    assert statuses(bench, PACK, frames) == Counter(OK=55, REPEATED=3)


def test_repeat_after_a_while_still_comes_before_the_next_frame(make_bench) -> None:
    bench, cap = run(make_bench, "repeat", {"message": LIMITS, "after_s": 0.05, "count": 1}, message=LIMITS)
    frames = cap.between(0.9, 2.0)
    i = next(i for i, (a, b) in enumerate(zip(frames, frames[1:])) if a[1] == b[1])
    assert frames[i + 1][0] - frames[i][0] == pytest.approx(0.05)
    assert frames[i + 2][0] - frames[i][0] == pytest.approx(0.1)
    with pytest.raises(ScenarioError, match="not shorter than the 100 ms cycle"):
        faults_apply(make_bench(), "repeat", message=LIMITS, after_s=0.1)


def faults_apply(bench: Bench, name: str, **params) -> None:
    apply(bench, name, params)


# -- loss ---------------------------------------------------------------------------------------
def test_loss_of_n_consecutive_frames(make_bench) -> None:
    bench, cap = run(make_bench, "drop", {"message": PACK, "frames": 16, "count": 1})
    frames = cap.between(0.5, 2.0)
    gaps = np.diff([t for t, _ in frames])
    assert len(frames) == 75 - 16 and gaps.max() == pytest.approx(17 * 0.02)
    # 16 frames: the 4-bit counter comes round to where it would have been
    i = int(gaps.argmax())
    assert counter(bench, PACK, frames[i + 1][1]) == (counter(bench, PACK, frames[i][1]) + 17) % 16 \
        == (counter(bench, PACK, frames[i][1]) + 1) % 16


# -- delay ---------------------------------------------------------------------------------------
def test_delay_every_kth_frame_arrives_after_newer_ones(make_bench) -> None:
    bench, cap = run(make_bench, "delay", {"message": PACK, "delay_s": 0.05, "every_n": 10, "duration_s": 0.5})
    frames = cap.between(0.9, 2.0)
    counters = [counter(bench, PACK, d) for _, d in frames]
    late = [i for i, (a, b) in enumerate(zip(counters, counters[1:])) if (b - a) % 16 not in (1,)]
    assert len(frames) == 55 and len(late) >= 5   # nothing lost; 5 frames came 2.5 cycles late


# -- insertion ------------------------------------------------------------------------------------
def test_insert_puts_a_valid_frame_with_the_next_counter_between_two_real_ones(make_bench) -> None:
    bench, cap = run(make_bench, "insert", {"message": LIMITS, "count": 3}, message=LIMITS)
    frames = cap.between(0.95, 2.0)
    times = [t for t, _ in frames]
    rogue = [i for i, t in enumerate(times) if abs((t - times[0]) / 0.1 - round((t - times[0]) / 0.1)) > 0.1]
    assert len(frames) == 10 + 3 and len(rogue) == 3
    for i in rogue:
        real_t, real = frames[i - 1]
        t, data = frames[i]
        assert t - real_t == pytest.approx(0.05)                      # half a cycle after the real one
        assert checksum_ok(bench, LIMITS, data)                       # a checksum that fits
        assert counter(bench, LIMITS, data) == (counter(bench, LIMITS, real) + 1) % 16   # the next counter
        assert data[2:] == real[2:]                                   # the same values
        assert counter(bench, LIMITS, frames[i + 1][1]) == counter(bench, LIMITS, data)  # the real one follows
    assert statuses(bench, LIMITS, frames) == Counter(OK=10, WRONG_SEQUENCE=3)


def test_a_rogue_sender_in_sequence_doubles_the_frame_rate(make_bench) -> None:
    bench, cap = run(make_bench, "insert", {"message": PACK})
    assert len(cap.between(1.0, 2.0)) == 100
    assert all(checksum_ok(bench, PACK, d) for d in cap.data(1.0, 2.0))


# -- masquerade -----------------------------------------------------------------------------------
def test_masquerade_sends_another_message_s_frame_under_this_id(make_bench) -> None:
    bench = make_bench()
    pack, vcu = Capture(bench, PACK), Capture(bench, VCU)
    bench.clock.call_at(1.0, lambda: apply(bench, "masquerade", {"role": "soc_pct", "from_role": "gear",
                                                                  "count": 2}))
    bench.run_for(2.0)
    odd = [(t, d) for t, d in pack.between(1.0, 2.0) if not checksum_ok(bench, PACK, d)]
    assert len(odd) == 2
    for t, data in odd:
        latest_vcu = [d for tv, d in vcu.frames if tv <= t][-1]
        assert data == latest_vcu and checksum_ok(bench, VCU, data)   # a valid VCU frame, under the PACK ID
    assert statuses(bench, PACK, pack.between(0.5, 2.0))["ERROR"] == 2


def test_masquerade_with_another_message_s_data_id(make_bench) -> None:
    changed = _pairs(make_bench, {"from_message": "BMS_CellExtremes", "mode": "data_id"}, 3, action="masquerade")
    other = make_bench().codec.message("BMS_CellExtremes").protection
    for original, data in changed:
        assert data[1:] == original[1:]                               # values and counter as sent
        assert other.checksum_ok(data)                                # the CRC of the other data ID


def test_masquerade_on_a_node_leaves_the_messages_that_cannot_carry_the_frame(make_bench) -> None:
    bench = make_bench()
    fd, pack = Capture(bench, "BMS_ModuleCellsFD"), Capture(bench, PACK)
    bench.clock.call_at(1.0, lambda: apply(bench, "masquerade", {"node": "bms", "from_role": "gear"}))
    bench.run_for(2.0)
    assert len(fd.data(1.0, 2.0)) == 10 and all(len(d) == 64 for d in fd.data(1.0, 2.0))   # CAN FD: left alone
    assert all(not checksum_ok(bench, PACK, d) for d in pack.data(1.01, 2.0))


# -- wrong sequence -------------------------------------------------------------------------------
def test_reorder_swaps_two_consecutive_frames(make_bench) -> None:
    bench, cap = run(make_bench, "reorder", {"message": PACK, "count": 2, "every_n": 10})
    frames = cap.between(0.9, 2.0)
    counters = [counter(bench, PACK, d) for _, d in frames]
    assert len(frames) == 55                                          # nothing lost
    swaps = [i for i, (a, b) in enumerate(zip(counters, counters[1:])) if (b - a) % 16 == 15]
    assert len(swaps) == 2
    for i in swaps:
        assert (counters[i] - counters[i - 1]) % 16 == 2 and frames[i][0] == frames[i + 1][0]
        assert (counters[i + 2] - counters[i + 1]) % 16 == 2
    assert statuses(bench, PACK, frames)["WRONG_SEQUENCE"] == 2


# -- replay --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A candump .log of 3 s of the default bench, seed 5."""
    path = tmp_path_factory.mktemp("replay") / "session.log"
    with Bench(BenchConfig(soc_pct=60.0, ambient_c=25.0, seed=5, record=path)) as bench:
        bench.run_for(3.0)
    return path


def _recorded(path: Path, frame_id: int) -> list[tuple[float, bytes]]:
    with can.LogReader(str(path)) as reader:
        frames = [(m.timestamp, bytes(m.data)) for m in reader if m.arbitration_id == frame_id]
    return [(t - frames[0][0], d) for t, d in frames]


def test_replay_sends_the_recorded_stream_in_the_node_s_place(make_bench, recording: Path) -> None:
    bench = make_bench()
    pack, limits = Capture(bench, PACK), Capture(bench, LIMITS)
    bench.clock.call_at(1.0, lambda: apply(bench, "replay", {"file": str(recording), "role": "soc_pct",
                                                              "from_s": 0.5, "duration_s": 1.0}))
    bench.run_for(3.0)
    recorded = [(t, d) for t, d in _recorded(recording, pack.frame_id) if t >= 0.5]
    during = pack.between(1.0, 2.0)
    assert [d for _, d in during] == [d for _, d in recorded[:len(during)]]   # the recording, and nothing else
    assert len(during) == 50
    assert [t - 1.0 for t, _ in during] == pytest.approx([t - recorded[0][0] for t, _ in recorded[:50]], abs=2e-6)
    assert len(pack.between(2.0, 3.0)) == 50                          # then the node's own frames again
    assert limits.data(1.0, 2.0) != [d for _, d in _recorded(recording, limits.frame_id)][5:15]  # other messages live


def test_replay_alongside_the_node_and_to_the_end_of_the_recording(make_bench, recording: Path) -> None:
    bench, cap = run(make_bench, "replay", {"file": str(recording), "message": LIMITS, "alongside": True},
                     message=LIMITS, until_s=5.0)
    assert len(cap.between(1.0, 4.0)) == 30 + 30     # both streams for the recording's 3 s
    assert len(cap.between(4.0, 5.0)) == 10          # then the node alone (its frames at x.002 s)


def test_replay_a_whole_node(make_bench, recording: Path) -> None:
    bench = make_bench()
    caps = {name: Capture(bench, name) for name in bench.bms.messages}
    bench.clock.call_at(1.0, lambda: apply(bench, "replay", {"file": str(recording), "node": "bms",
                                                              "duration_s": 1.0}))
    bench.run_for(2.5)
    for name, cap in caps.items():
        recorded = [d for _, d in _recorded(recording, cap.frame_id)]
        during = cap.data(1.0, 2.0)
        assert during and during == recorded[:len(during)], name


# -- refused before the run, with file, entry and reason ---------------------------------------------
# Bad rates, frame counts, masquerade modes and reorder nodes are refused at load, with the other
# parameter errors of a file: tests/scenarios/test_runnable.py.
@pytest.mark.parametrize(("step", "key", "reason"), [
    ('action = "corrupt"\nmessage = "BMS_PackStatus"\nrate = 0.25\nevery_n = 4', "rate", "not both"),
    ('action = "corrupt"\nmessage = "BMS_PackStatus"\nburst = 60', "burst", "does not fit in the payload"),
    ('action = "corrupt"\nmessage = "BMS_PackStatus"\nburst = 4\nbits = 2', "burst", "not both"),
    ('action = "corrupt"\nmessage = "BMS_PackStatus"\nfield = "crc"', "field", "payload, checksum, counter, any"),
    ('action = "corrupt"\nmessage = "BMS_CellVoltages"\nfield = "checksum"', "message", "no checksum field"),
    ('action = "repeat"\nmessage = "BMS_PackStatus"\nafter_s = 0.02', "after_s", "not shorter than the 20 ms cycle"),
    ('action = "insert"\nrole = "gear"\nafter_s = 0.0', "after_s", "must be > 0"),
    ('action = "insert"\nrole = "gear"\nafter_s = 0.15', "after_s", "not shorter than the 100 ms cycle"),
    ('action = "masquerade"\nrole = "gear"', "", "needs the other message"),
    ('action = "masquerade"\nrole = "gear"\nfrom_role = "ignition_on"', "from_role", "another one"),
    ('action = "masquerade"\nrole = "gear"\nfrom_message = "ABS_Speed"', "from_message", "not in the DBC"),
    ('action = "masquerade"\nmessage = "BMS_CellTemps"\nfrom_role = "gear"\nmode = "data_id"', "from_role",
     "carries no checksum"),
    ('action = "masquerade"\nnode = "bms"\nfrom_message = "BMS_ModuleCellsFD"', "node",
     'no message of node "bms" can carry "BMS_ModuleCellsFD"'),
    ('action = "replay"\nrole = "gear"\nfile = "no/such.log"', "file", "cannot read the recording"),
    ('action = "replay"\nrole = "gear"\nfile = ""', "file", "needs the recording"),
], ids=["rate-and-every_n", "burst-too-long", "burst-and-bits", "field", "field-unprotected",
        "repeat-after", "insert-zero", "insert-after", "masquerade-no-source", "masquerade-itself",
        "masquerade-unknown", "masquerade-data-id-bare", "masquerade-node-fd", "replay-missing",
        "replay-empty"])
def test_bad_parameters_are_refused_before_the_run(tmp_path: Path, step: str, key: str, reason: str) -> None:
    s = scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\n{step}\n')
    with pytest.raises(NotRunnableError) as info:
        check_runnable([s], RunOptions())
    entry = f"steps[0].{key}" if key else "steps[0]"
    problems = [(Path(p.file).name, p.entry, p.reason) for p in info.value.problems]
    assert any(f == "x.toml" and e.startswith(entry + " (line") and reason in r for f, e, r in problems), problems


def test_a_replay_of_a_recording_without_the_message_is_refused(tmp_path: Path, recording: Path) -> None:
    s = scenario(tmp_path, "x", f'[[steps]]\nat = "1 s"\naction = "replay"\nrole = "gear"\nfile = "{recording}"\n'
                                f'from_s = 10.0\n')
    with pytest.raises(NotRunnableError, match=r'steps\[0\].file \(line \d+\): replay at 1 s: ".*session.log" holds '
                                               r"no frame of VCU_VehicleStatus from 10 s on"):
        check_runnable([s], RunOptions())
    junk = tmp_path / "junk.log"
    junk.write_text("this is no candump log\n", encoding="utf-8")
    s = scenario(tmp_path, "y", f'[[steps]]\nat = "1 s"\naction = "replay"\nrole = "gear"\nfile = "{junk}"\n')
    with pytest.raises(NotRunnableError, match=r"steps\[0\].file .*cannot read the recording"):
        check_runnable([s], RunOptions())


def test_good_steps_of_every_mode_pass_the_checks(tmp_path: Path, recording: Path) -> None:
    s = scenario(tmp_path, "x", f"""\
        [[steps]]
        at = "1 s"
        action = "repeat"
        node = "bms"
        rate = 0.1
        seed = 7

        [[steps]]
        at = "1 s"
        action = "insert"
        role = "soc_pct"
        every_n = 3

        [[steps]]
        at = "1 s"
        action = "masquerade"
        role = "discharge_current_limit_a"
        from_role = "min_cell_voltage_v"
        mode = "data_id"

        [[steps]]
        at = "1 s"
        action = "masquerade"
        node = "bms"
        from_role = "gear"
        mode = "data_id"

        [[steps]]
        at = "1 s"
        action = "reorder"
        node = "obc"
        count = 2

        [[steps]]
        at = "1 s"
        action = "replay"
        node = "vcu"
        file = "{recording}"
        loop = true

        [[steps]]
        at = "2 s"
        action = "corrupt"
        role = "gear"
        burst = 6
        field = "any"
        rate = 0.5
        """)
    check_runnable([s], RunOptions())


def test_a_step_called_on_a_bench_directly_refuses_the_same(make_bench) -> None:
    bench = make_bench()
    with pytest.raises(ScenarioError, match="not both"):
        faults.drop(bench, message=PACK, every_n=2, rate=0.5)
    with pytest.raises(ScenarioError, match=r"rate: must be a share of frames in \(0, 1\]"):
        faults.corrupt(bench, message=PACK, rate=2.0)
    with pytest.raises(ScenarioError, match="does not fit"):
        faults.corrupt(bench, message=PACK, burst=9, field="checksum")
    with pytest.raises(ScenarioError, match="needs the other message"):
        fault_modes.masquerade(bench, message=PACK)
    with pytest.raises(ScenarioError, match="cannot read the recording"):
        fault_modes.replay(bench, file="/nonexistent.log", node="bms")
    assert bench.bms.tx_filters == [] and bench.vcu.tx_filters == []    # a refused fault leaves nothing behind
