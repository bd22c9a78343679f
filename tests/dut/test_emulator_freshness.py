"""The unit's freshness rules, each at its edge: how old data may get, what a page or a message counts
as, when a frame's data was current, and which input a stop names.

The helpers are tested on their own with plain stand-ins (no bus); the frame handlers and ``observe``
on the bench's own messages through a port that hands over frames at exactly the times a test gives.
"""

from __future__ import annotations

from types import SimpleNamespace

import can
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus.e2e import E2EStatus
from hilbench.bus.e2e_sm import E2EStateMachine
from hilbench.clock import SimClock
from hilbench.dut.compute.supervisor import State, Supervisor, SupervisorParams
from hilbench.dut.compute.unit import ComputeUnit
from hilbench.dut.emulator import (
    ComputeEmulator,
    _data_time_s,
    _read_pages,
    reference_performance,
    stale_timeouts_s,
)
from hilbench.errors import ConfigError


# -- how old data may get: stale_timeouts_s --------------------------------------------------------
class _Map:
    """The parts of a signal map that stale_timeouts_s reads."""

    def __init__(self, cycles: dict[str, float], timeouts: dict[str, float] | None = None, *,
                 stale_cycles: float | None = None, min_stale_s: float | None = None) -> None:
        self.path = "car.signals.toml"
        self.cycle_time_s = cycles
        self.timeouts = timeouts or {}
        self.stale_cycles = stale_cycles
        self.min_stale_s = min_stale_s

    def timeout_s(self, message: str) -> float | None:
        return self.timeouts.get(message)


PARAMS = SupervisorParams.load()     # 5 cycles, at least 0.5 s


def test_a_timeout_is_five_cycles_or_half_a_second_whichever_is_longer() -> None:
    got = stale_timeouts_s(_Map({"fast": 0.02, "edge": 0.1, "slow": 0.25, "car": 1.0}),
                           ["fast", "edge", "slow", "car"], PARAMS)
    assert got == {"fast": 0.5, "edge": 0.5, "slow": 1.25, "car": 5.0}


def test_a_paged_message_waits_a_round_of_pages_per_cycle() -> None:
    got = stale_timeouts_s(_Map({"paged": 0.05}), ["paged"], PARAMS, frames_per_period=3)
    assert got == {"paged": pytest.approx(0.75)}
    assert stale_timeouts_s(_Map({"paged": 0.05}), ["paged"], PARAMS, frames_per_period=1) == {"paged": 0.5}


def test_the_maps_figures_win_even_when_they_are_zero_or_one() -> None:
    """A map's [timing] is used whenever it is given, a floor of 0 s included."""
    got = stale_timeouts_s(_Map({"a": 0.02, "b": 1.0}, stale_cycles=1.0, min_stale_s=0.0), ["a", "b"], PARAMS)
    assert got == {"a": 0.02, "b": 1.0}
    got = stale_timeouts_s(_Map({"a": 0.02}, min_stale_s=0.0), ["a"], PARAMS)
    assert got == {"a": pytest.approx(0.1)}
    got = stale_timeouts_s(_Map({"a": 0.02}, stale_cycles=3.0), ["a"], PARAMS)
    assert got == {"a": 0.5}


def test_an_explicit_timeout_wins_and_a_message_without_either_figure_is_refused() -> None:
    car = _Map({"a": 1.0}, {"b": 2.0, "a": 0.3})
    assert stale_timeouts_s(car, ["a", "b"], PARAMS) == {"a": 0.3, "b": 2.0}
    with pytest.raises(ConfigError) as info:
        stale_timeouts_s(_Map({"a": 1.0, "z": 0.0}), ["a", "z"], PARAMS)
    err = info.value
    assert err.entry == "cycle_ms.z" and err.file == "car.signals.toml"
    assert err.reason == ('the compute unit reads "z" but it has no cycle time (GenMsgCycleTime in the DBC, '
                          'or [cycle_ms] here) and no [timeout_ms]: it cannot tell when its data goes stale')


# -- which pages of a multiplexed message carry what the unit reads -------------------------------
def test_only_the_pages_that_carry_a_role_the_unit_reads_are_inputs_each_once_in_order() -> None:
    slot = SimpleNamespace
    codec = SimpleNamespace(name="BMS_Mux", slots=[
        slot(mux=2, role="soc_pct"), slot(mux=0, role="discharge_current_limit_a"), slot(mux=0, role="gear"),
        slot(mux=1, role="max_cell_temp_c"),            # a role the unit does not read
        slot(mux=None, role="pack_voltage_v"),          # on every page
        slot(mux=3, role=None),
    ])
    assert _read_pages(codec) == ((0, "BMS_Mux[0]"), (2, "BMS_Mux[2]"))


# -- when a frame's data was current ----------------------------------------------------------------
def _receiver(lag_s: float, age_s: float):
    return SimpleNamespace(lag_s=lag_s, data_age_s=lambda now_s: age_s)


def test_a_frames_data_is_timed_by_its_arrival_less_the_measured_lag() -> None:
    # Arrived at 10.0 s from a stream 0.25 s late; the receiver's schedule says younger: arrival wins.
    assert _data_time_s(_receiver(0.25, 0.125), 10.0, 10.5) == 9.75


def test_a_frames_data_is_never_younger_than_the_receivers_schedule_says() -> None:
    # A frame late within tolerance: the schedule (data 0.75 s old at 10.5 s) is older than the arrival.
    assert _data_time_s(_receiver(0.0, 0.75), 10.0, 10.5) == 9.75
    assert _data_time_s(_receiver(0.5, 1.0), 10.0, 10.25) == 9.25


# -- fresh: every input received valid within its timeout ----------------------------------------
def _with_last(last: dict[str, float]):
    return SimpleNamespace(_last_valid_s=last)


def test_an_input_exactly_timeout_old_is_fresh_and_one_never_received_is_not() -> None:
    me = _with_last({"a": 9.5, "b": 10.0})
    assert ComputeEmulator._fresh_since(me, ("a", "b"), 9.5)
    assert not ComputeEmulator._fresh_since(me, ("a", "b"), 9.5 + 1e-9)
    assert not ComputeEmulator._fresh_since(me, ("b", "a"), 9.75)
    assert not ComputeEmulator._fresh_since(me, ("a", "never"), -5.0)   # at 0 s, a 5 s timeout
    assert ComputeEmulator._fresh_since(me, (), 100.0)           # a producer with nothing mapped


def test_each_timeout_group_is_judged_on_its_own_timeout() -> None:
    me = _with_last({"pack": 9.5, "thermal": 5.0, "vcu": 8.0})
    groups = ((0.5, ("pack",)), (5.0, ("thermal", "vcu")))
    assert ComputeEmulator._fresh(me, groups, 10.0)
    assert not ComputeEmulator._fresh(me, groups, 10.0 + 1e-9)              # the pack and the thermal go
    assert not ComputeEmulator._fresh(me, ((0.5, ("pack",)), (5.0, ("vcu", "thermal"))), 10.25)
    assert not ComputeEmulator._fresh(me, ((5.0, ("vcu", "never")),), 10.0)
    assert not ComputeEmulator._fresh(me, ((5.0, ("never",)),), 0.0)
    assert ComputeEmulator._fresh(me, (), 10.0)


# -- the frame handlers and observe, on the bench's own messages ----------------------------------

PACK, LIMITS, VCU, OBC = "BMS_PackStatus", "BMS_Limits", "VCU_VehicleStatus", "OBC_ChargerStatus"


@pytest.fixture(scope="module")
def car():
    """The bench's codec and what its BMS, VCU and OBC say after a second of a parked car at 70 %."""
    with Bench(BenchConfig(soc_pct=70.0, ambient_c=25.0)) as bench:
        bench.run_for(1.0)
        values: dict[str, object] = {}
        for node in (bench.bms, bench.vcu, bench.obc):
            values.update(node.values)
        return bench.codec, values


class _Port:
    """Just enough of a BusPort: keeps the handlers and hands a frame over when the test says."""

    def __init__(self) -> None:
        self.handlers: dict[int, list] = {}

    def subscribe(self, frame_id: int, handler, *, extended: bool = False) -> None:
        self.handlers.setdefault(frame_id, []).append(handler)

    def poll(self, timeout_s: float = 0.0) -> int:
        return 0

    def deliver(self, msg: can.Message) -> None:
        for handler in self.handlers.get(msg.arbitration_id, []):
            handler(msg)


class Unit:
    """The emulator on a port the test feeds frame by frame, at exact times, on a clock it moves."""

    def __init__(self, car, epoch_s: float = 0.0) -> None:
        codec, self.values = car
        self.codec = codec
        self.clock = SimClock(epoch_s=epoch_s)
        self.port = _Port()
        perf, table = reference_performance()
        self.emu = ComputeEmulator(codec, self.port, self.clock, ComputeUnit(perf, table=table),  # type: ignore[arg-type]
                                   Supervisor(max_power_w=table.max_w))
        self.senders = {name: codec.fresh_sender(name) for name in self.emu.receivers}

    def make(self, name: str) -> can.Message:
        """The sender's next frame (its counter moves on)."""
        return self.senders[name].encode(self.values)

    def deliver(self, msg: can.Message, at_s: float, stamp_s: float | None = None) -> None:
        self.clock.run_until(at_s)
        msg.timestamp = self.clock.epoch_s + (at_s if stamp_s is None else stamp_s)
        self.port.deliver(msg)

    def steady(self, until_s: float, skip: frozenset[str] = frozenset()) -> None:
        """Every input message on its cycle from the unit's current time up to ``until_s``."""
        start = self.clock.now
        events = []
        for name, receiver in self.emu.receivers.items():
            if name in skip:
                continue
            cycle = receiver._cycle_s
            k = 1
            while start + k * cycle <= until_s + 1e-12:
                events.append((round(start + k * cycle, 9), name))
                k += 1
        for t, name in sorted(events):
            self.deliver(self.make(name), t)
        self.clock.run_until(until_s)

    def last_valid(self, name: str) -> float | None:
        return self.emu._last_valid_s.get(name)


def test_only_frames_of_a_valid_stream_are_used_and_each_bad_one_is_counted_once(car) -> None:
    unit = Unit(car)
    unit.deliver(unit.make(PACK), 0.02)
    unit.deliver(unit.make(PACK), 0.04)
    assert unit.emu.receivers[PACK].state is E2EStatus.INIT and unit.last_valid(PACK) is None
    unit.deliver(unit.make(PACK), 0.06)
    assert unit.emu.receivers[PACK].state is E2EStatus.VALID and unit.last_valid(PACK) == 0.06
    assert unit.emu._latest_by_message[PACK]["soc_pct"] == pytest.approx(70.0, abs=1.0)
    bad = unit.make(PACK)
    bad.data = bytearray(bad.data)
    bad.data[0] ^= 0xFF                               # its CRC
    unit.deliver(bad, 0.08)
    assert unit.emu.e2e_errors == 1 and unit.emu.decode_errors == 0
    assert unit.last_valid(PACK) == 0.06               # the bad frame's data is not taken
    unit.deliver(unit.make(PACK), 0.10)
    assert unit.last_valid(PACK) == 0.10 and unit.emu.e2e_errors == 1
    unit.deliver(unit.make(PACK), 0.10)               # the same counter again: a repeat
    assert unit.emu.e2e_errors == 2 and unit.last_valid(PACK) == 0.10


def test_a_frame_that_cannot_be_decoded_is_counted_and_dropped(car) -> None:
    unit = Unit(car)
    unit.steady(0.5)
    before = unit.last_valid(PACK)
    unit.deliver(can.Message(arbitration_id=unit.codec.message(PACK).frame_id, data=b"\x01", is_extended_id=False),
                 0.505)
    assert unit.emu.decode_errors == 1 and unit.emu.e2e_errors == 0
    assert unit.last_valid(PACK) == before
    unit.deliver(can.Message(arbitration_id=unit.codec.message(PACK).frame_id, data=b"", is_extended_id=False),
                 0.506)
    assert unit.emu.decode_errors == 2 and unit.last_valid(PACK) == before


def test_a_frame_stamped_ahead_of_the_units_clock_counts_as_arriving_now(car) -> None:
    """An adapter whose clock runs ahead must not make the data look younger than it is."""
    unit = Unit(car)
    unit.steady(1.0)
    unit.deliver(unit.make(PACK), 1.02, stamp_s=3.0)
    assert unit.last_valid(PACK) == pytest.approx(1.02, abs=1e-9)
    unit.steady(1.3, skip=frozenset({PACK}))
    unit.clock.run_until(1.52)
    assert unit.emu.observe().bms_fresh
    unit.clock.run_until(1.53)
    assert not unit.emu.observe().bms_fresh


def test_a_late_streams_data_is_timed_by_its_lag(car) -> None:
    """A gateway holds the BMS pack frames 0.25 s: their data is 0.25 s older than their arrival, and
    the unit sees the BMS go stale 0.25 s sooner after the last of them."""
    unit = Unit(car)
    unit.steady(1.0)
    held = [unit.make(PACK) for _ in range(15)]      # sent at 1.02 .. 1.30, each arriving 0.25 s later
    arrivals = [round(1.0 + 0.02 * (k + 1) + 0.25, 9) for k in range(15)]
    for msg, t in zip(held, arrivals):
        unit.steady(t, skip=frozenset({PACK}))
        unit.deliver(msg, t)
    receiver = unit.emu.receivers[PACK]
    assert receiver.state is E2EStatus.VALID and receiver.lag_s == pytest.approx(0.25, abs=0.01)
    assert unit.last_valid(PACK) == pytest.approx(arrivals[-1] - receiver.lag_s, abs=1e-9)
    unit.steady(arrivals[-1] + 0.3, skip=frozenset({PACK}))
    assert not unit.emu.observe().bms_fresh            # 0.55 s old data: stale, 0.3 s after the frame
    assert unit.emu.observe().vcu_fresh and unit.emu.observe().obc_fresh


@pytest.mark.parametrize(("silent", "stale"), [(PACK, "bms"), (LIMITS, "bms"), (VCU, "vcu"), (OBC, "obc")])
def test_each_producer_goes_stale_on_its_own_messages(car, silent: str, stale: str) -> None:
    unit = Unit(car)
    unit.steady(1.0)
    unit.steady(1.6, skip=frozenset({silent}))
    obs = unit.emu.observe()
    assert {"bms": obs.bms_fresh, "vcu": obs.vcu_fresh, "obc": obs.obc_fresh} == \
           {p: p != stale for p in ("bms", "vcu", "obc")}
    assert obs.e2e_ok


@pytest.mark.parametrize("name", [PACK, VCU, OBC])
def test_any_one_invalid_receiver_makes_e2e_not_ok_and_is_named(car, name: str) -> None:
    unit = Unit(car)
    unit.steady(1.0)
    assert unit.emu.observe().e2e_ok
    frozen = unit.make(name)
    cycle = unit.emu.receivers[name]._cycle_s
    for k in range(1, 5):                              # a frozen sender: its last frame again and again
        unit.steady(1.0 + k * cycle, skip=frozenset({name}))
        unit.deliver(can.Message(arbitration_id=frozen.arbitration_id, data=frozen.data), 1.0 + k * cycle + 1e-4)
    assert unit.emu.receivers[name].state is E2EStatus.INVALID
    assert not unit.emu.observe().e2e_ok
    unit.emu._name_the_input("E2E_ERROR", unit.clock.now)
    assert unit.emu.values["cu_reason_frame_id"] == unit.codec.message(name).frame_id
    assert unit.emu.values["cu_reason_input_state"] == "INVALID"


def test_a_stale_reason_names_the_first_silent_input_of_its_producer_and_its_state(car) -> None:
    unit = Unit(car)
    unit.steady(1.0)
    unit.steady(1.6, skip=frozenset({LIMITS}))
    emu = unit.emu
    emu._name_the_input("BMS_STALE", unit.clock.now)
    assert (emu.values["cu_reason_frame_id"], emu.values["cu_reason_input_state"]) == (0x102, "STALE")
    emu._name_the_input("VCU_STALE", unit.clock.now)       # the VCU is fresh: nothing to name
    assert (emu.values["cu_reason_frame_id"], emu.values["cu_reason_input_state"]) == (0, "NONE")
    emu._name_the_input("E2E_ERROR", unit.clock.now)        # no receiver INVALID: nothing to name
    assert (emu.values["cu_reason_frame_id"], emu.values["cu_reason_input_state"]) == (0, "NONE")
    # Back after the silence: its receiver in INIT, its data still old; the stop names that state.
    unit.deliver(unit.make(LIMITS), 1.61)
    assert emu.receivers[LIMITS].state is E2EStatus.INIT
    emu._name_the_input("BMS_STALE", unit.clock.now)
    assert (emu.values["cu_reason_frame_id"], emu.values["cu_reason_input_state"]) == (0x102, "INIT")


def test_a_stale_reason_at_exactly_the_timeout_names_nothing(car) -> None:
    unit = Unit(car)
    unit.steady(1.0)
    unit.emu._last_valid_s[VCU] = 1.0                 # its data current at 1 s exactly (a binary figure)
    unit.clock.run_until(1.5)
    unit.emu._name_the_input("VCU_STALE", 1.5)
    assert unit.emu.values["cu_reason_frame_id"] == 0
    unit.emu._name_the_input("VCU_STALE", 1.5 + 2 ** -20)
    assert (unit.emu.values["cu_reason_frame_id"], unit.emu.values["cu_reason_input_state"]) == (0x200, "STALE")


# -- a car whose BMS puts the limits and the weakest cell on pages of one protected message ----------
_PAGED_DBC = '''VERSION ""

NS_ :

BS_:

BU_: BMS VCU CU

BO_ 272 BMS_Pack: 8 BMS
 SG_ Voltage : 0|16@1+ (0.1,0) [0|1000] "V" CU
 SG_ Current : 16|16@1- (0.1,0) [-1000|1000] "A" CU
 SG_ StateOfCharge : 32|8@1+ (0.5,0) [0|100] "%" CU
 SG_ Fault : 40|2@1+ (1,0) [0|3] "" CU

BO_ 275 BMS_Paged: 8 BMS
 SG_ Page M : 0|2@1+ (1,0) [0|3] "" CU
 SG_ Counter : 4|4@1+ (1,0) [0|15] "" CU
 SG_ Dcl m0 : 8|16@1+ (0.1,0) [0|1000] "A" CU
 SG_ CellVMin m1 : 8|16@1+ (0.001,0) [0|5] "V" CU
 SG_ Spare m2 : 8|8@1+ (1,0) [0|255] "" CU
 SG_ Checksum : 56|8@1+ (1,0) [0|255] "" CU

BO_ 276 BMS_OnePage: 8 BMS
 SG_ Page M : 0|2@1+ (1,0) [0|3] "" CU
 SG_ Reserve m0 : 8|8@1+ (0.5,0) [0|100] "%" CU

BO_ 512 VCU_State: 8 VCU
 SG_ Gear : 0|3@1+ (1,0) [0|7] "" CU

BO_ 1024 CU_State: 8 CU
 SG_ State : 0|3@1+ (1,0) [0|7] "" BMS
 SG_ Level : 3|3@1+ (1,0) [0|7] "" BMS
 SG_ Power : 16|16@1+ (0.1,0) [0|6000] "W" BMS

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 272 100;
BA_ "GenMsgCycleTime" BO_ 275 50;
BA_ "GenMsgCycleTime" BO_ 276 200;
BA_ "GenMsgCycleTime" BO_ 512 100;
BA_ "GenMsgCycleTime" BO_ 1024 100;
VAL_ 272 Fault 0 "NONE" 1 "WARNING" 2 "STOP_REQUEST" 3 "HARD_LIMIT" ;
VAL_ 512 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
VAL_ 1024 State 0 "OFF" 1 "STANDBY" 2 "RUNNING" 3 "DERATED" 4 "SAFE_STOP" 5 "FAULT" ;
VAL_ 1024 Level 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;
'''

_PAGED_MAP = '''[roles]
pack_voltage_v = { message = "BMS_Pack", signal = "Voltage" }
pack_current_a = { message = "BMS_Pack", signal = "Current" }
soc_pct = { message = "BMS_Pack", signal = "StateOfCharge" }
bms_fault_level = { message = "BMS_Pack", signal = "Fault" }
discharge_current_limit_a = { message = "BMS_Paged", signal = "Dcl", mux = 0 }
min_cell_voltage_v = { message = "BMS_Paged", signal = "CellVMin", mux = 1 }
range_reserve_soc_pct = { message = "BMS_OnePage", signal = "Reserve", mux = 0 }
gear = { message = "VCU_State", signal = "Gear" }
cu_state = { message = "CU_State", signal = "State" }
cu_power_level = { message = "CU_State", signal = "Level" }
compute_power_w = { message = "CU_State", signal = "Power" }

[protection.BMS_Paged]
scheme = "xor"
checksum = "Checksum"
counter = "Counter"
'''

PAGED = "BMS_Paged"


@pytest.fixture(scope="module")
def paged_car(tmp_path_factory):
    from hilbench.bus import BenchCodec, load_bus_description
    folder = tmp_path_factory.mktemp("paged")
    (folder / "car.dbc").write_text(_PAGED_DBC)
    (folder / "car.signals.toml").write_text(_PAGED_MAP)
    description = load_bus_description([folder / "car.dbc"], folder / "car.signals.toml", require=())
    values = {"pack_voltage_v": 400.0, "pack_current_a": 3.0, "soc_pct": 60.0, "bms_fault_level": "NONE",
              "discharge_current_limit_a": 300.0, "min_cell_voltage_v": 3.7, "range_reserve_soc_pct": 20.0,
              "gear": "P"}
    return BenchCodec(description.db, description.signal_map), values


def test_a_paged_messages_pages_are_timed_per_round_and_a_one_page_message_per_frame(paged_car) -> None:
    unit = Unit(paged_car)
    # 5 cycles of a page that comes every 3 x 50 ms (the DBC's three pages): 0.75 s; a multiplexed
    # message with one page comes every 200 ms: 1 s.
    assert unit.emu.stale_after_s == {"BMS_Pack": 0.5, "BMS_Paged[0]": pytest.approx(0.75),
                                      "BMS_Paged[1]": pytest.approx(0.75), "BMS_OnePage[0]": 1.0,
                                      "VCU_State": 0.5}
    assert set(unit.emu.receivers) == {PAGED}
    assert unit.emu.receivers[PAGED].timeout_s == pytest.approx(0.75)


def _page(msg: can.Message) -> int:
    return msg.data[0] & 0x03


def test_a_protected_page_is_used_only_once_its_stream_is_valid_and_each_bad_frame_counted_once(paged_car) -> None:
    unit = Unit(paged_car)
    frames = [unit.make(PAGED) for _ in range(4)]
    assert [_page(m) for m in frames] == [0, 1, 0, 1]
    unit.deliver(frames[0], 0.05)
    unit.deliver(frames[1], 0.10)
    assert unit.emu.receivers[PAGED].state is E2EStatus.INIT and not unit.emu._last_valid_s
    unit.deliver(frames[2], 0.15)
    assert unit.emu.receivers[PAGED].state is E2EStatus.VALID
    assert unit.emu._last_valid_s == {"BMS_Paged[0]": 0.15}
    assert unit.emu._latest_by_message["BMS_Paged[0]"]["discharge_current_limit_a"] == 300.0
    bad = frames[3]
    bad.data = bytearray(bad.data)
    bad.data[7] ^= 0xFF
    unit.deliver(bad, 0.20)
    assert (unit.emu.e2e_errors, unit.emu.decode_errors) == (1, 0)
    assert "BMS_Paged[1]" not in unit.emu._last_valid_s
    unit.deliver(unit.make(PAGED), 0.25)               # page 0 again
    last = unit.make(PAGED)
    unit.deliver(last, 0.30)                           # page 1
    assert unit.emu._last_valid_s == {"BMS_Paged[0]": 0.25, "BMS_Paged[1]": 0.30}
    assert unit.emu._latest_by_message["BMS_Paged[1]"]["min_cell_voltage_v"] == pytest.approx(3.7)
    unit.deliver(can.Message(arbitration_id=unit.codec.message(PAGED).frame_id, data=b"\x01", is_extended_id=False),
                 0.31)
    assert (unit.emu.e2e_errors, unit.emu.decode_errors) == (1, 1)
    unit.deliver(can.Message(arbitration_id=unit.codec.message(PAGED).frame_id, data=b"", is_extended_id=False),
                 0.32)
    unit.deliver(can.Message(arbitration_id=last.arbitration_id, data=last.data, is_extended_id=False), 0.33)
    assert (unit.emu.e2e_errors, unit.emu.decode_errors) == (2, 2)       # the repeat counted too


def test_a_page_stamped_ahead_of_the_units_clock_counts_as_arriving_now(paged_car) -> None:
    unit = Unit(paged_car)
    for k in range(1, 5):
        unit.deliver(unit.make(PAGED), 0.05 * k)
    unit.deliver(unit.make(PAGED), 0.25, stamp_s=2.0)
    assert unit.emu._last_valid_s["BMS_Paged[0]"] == pytest.approx(0.25, abs=1e-9)
    assert unit.emu.receivers[PAGED].data_age_s(0.25) == pytest.approx(0.0, abs=1e-9)


def test_a_late_paged_stream_is_timed_by_its_lag(paged_car) -> None:
    unit = Unit(paged_car)
    for k in range(1, 9):
        unit.deliver(unit.make(PAGED), 0.05 * k)
    held = [unit.make(PAGED) for _ in range(6)]        # sent 0.45 .. 0.70, each arriving 0.2 s later
    for k, msg in enumerate(held):
        unit.deliver(msg, round(0.05 * (9 + k) + 0.2, 9))
    receiver = unit.emu.receivers[PAGED]
    assert receiver.state is E2EStatus.VALID and receiver.lag_s == pytest.approx(0.2, abs=0.01)
    last_page = _page(held[-1])
    assert unit.emu._last_valid_s[f"BMS_Paged[{last_page}]"] == pytest.approx(0.9 - receiver.lag_s, abs=1e-9)


def test_a_stale_reason_names_an_input_never_received_with_its_receivers_state(car) -> None:
    """The BMS's fault message never came (its node sends the others): BMS_STALE names it, NODATA."""
    unit = Unit(car)
    unit.steady(1.0, skip=frozenset({"BMS_Faults"}))
    unit.emu._name_the_input("BMS_STALE", unit.clock.now)
    assert (unit.emu.values["cu_reason_frame_id"], unit.emu.values["cu_reason_input_state"]) == (0x103, "NODATA")


def test_with_one_timeout_for_every_input_observe_takes_one_cut_off(car, monkeypatch) -> None:
    """The bench DBC's inputs all time out at 0.5 s: observe compares each input against one cut-off
    (once per tick, for hours), never group by group."""
    unit = Unit(car)
    assert unit.emu._uniform_stale_s == 0.5
    unit.steady(1.0)

    def by_groups(*args, **kwargs):
        raise AssertionError("observe judged freshness group by group")

    monkeypatch.setattr(ComputeEmulator, "_fresh", by_groups)
    obs = unit.emu.observe()
    assert obs.bms_fresh and obs.vcu_fresh and obs.obc_fresh


def test_the_snapshot_shows_each_receivers_state_data_age_and_errors(car) -> None:
    """What the trace and the TUI read: per input its receiver's state, how old its data is, its errors."""
    unit = Unit(car)
    unit.steady(1.0)
    bad = unit.make(PACK)
    bad.data = bytearray(bad.data)
    bad.data[0] ^= 0xFF
    unit.deliver(bad, 1.01)
    unit.clock.run_until(1.05)
    unit.emu.tick()
    snap = unit.emu.snapshot()
    assert snap["e2e_errors"] == 1
    assert snap["cu_state"] == unit.emu.values["cu_state"] and snap["cu_reason"] == unit.emu.values["cu_reason"]
    assert snap["transitions"] == list(unit.emu.supervisor.transitions[-20:])
    for k in range(30):                       # a flapping input: only the last twenty are shown
        unit.emu.supervisor.report(2.0 + k, *((State.RUNNING, "NONE") if k % 2 else (State.SAFE_STOP, "BMS_STALE")))
    shown = unit.emu.snapshot()["transitions"]
    assert len(shown) == 20 and shown[0][0] == 12.0 and shown[-1][0] == 31.0
    assert set(snap["receivers"]) == set(unit.emu.receivers)
    state, age, errors = snap["receivers"][PACK]
    assert (state, errors) == ("VALID", {"ERROR": 1})
    assert age == pytest.approx(0.05, abs=1e-3)
    assert snap["receivers"][VCU][0] == "VALID" and snap["receivers"][VCU][2] == {}
    assert snap["receivers"][VCU][1] == pytest.approx(0.05, abs=1e-3)


@pytest.mark.parametrize("paged", [False, True])
def test_a_frame_is_timed_by_its_arrival_stamp_not_by_when_the_tick_reads_it(car, paged_car, paged: bool) -> None:
    """The port hands frames over at the unit's next tick, up to 100 ms after they came: the data is
    as old as the adapter's stamp says (taken against the clock's epoch, a Unix time on a real bus)."""
    unit = Unit(paged_car if paged else car, epoch_s=1000.0)
    name = PAGED if paged else PACK
    cycle = unit.emu.receivers[name]._cycle_s
    for k in range(1, 5):
        unit.deliver(unit.make(name), 0.07 + k * cycle + 0.05, stamp_s=0.07 + k * cycle)
    assert unit.emu.receivers[name].state is E2EStatus.VALID
    times = sorted(unit.emu._last_valid_s.values())
    assert times[-1] == pytest.approx(0.07 + 4 * cycle, abs=1e-9)


@pytest.mark.parametrize("paged", [False, True])
def test_the_unit_hands_its_receivers_the_codecs_checksum_verdict(car, paged_car, monkeypatch, paged: bool) -> None:
    """The codec has checked each payload's checksum once (its decode is cached): the receiver is told,
    so the usual frame of a proven stream takes its one-frame fast path (simspeed: a hundred input
    frames every simulated second)."""
    unit = Unit(paged_car if paged else car)
    name = PAGED if paged else PACK
    cycle = unit.emu.receivers[name]._cycle_s
    for k in range(1, 11):
        unit.deliver(unit.make(name), k * cycle)
    assert unit.emu.receivers[name].state is E2EStatus.VALID
    calls = []
    full = E2EStateMachine._check
    monkeypatch.setattr(E2EStateMachine, "_check", lambda sm, *a, **kw: calls.append(1) or full(sm, *a, **kw))
    for k in range(11, 31):
        unit.deliver(unit.make(name), k * cycle)
    assert calls == [] and unit.emu.receivers[name].state is E2EStatus.VALID
