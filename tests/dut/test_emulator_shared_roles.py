"""A role that two of the unit's inputs carry: the value that came last is the one the unit uses.

A BMS may repeat its state of charge in the header of every page of a multiplexed
message, sampling it afresh for each page.  Each page is an input of its own to the
unit (it is timed and goes stale on its own), so here two inputs carry ``soc_pct``,
and near a step of the SOC signal they disagree.  The unit must then judge by the
page that arrived last, every time one arrives, even when that page brings, byte
for byte, a payload it brought before (the codec hands out the very same decoded
dict for it, which the merge of an input carrying roles of its own may skip).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hilbench.bus import BenchCodec, BusConfig, load_bus_description
from hilbench.bus.e2e_sm import E2EConfig
from hilbench.bus.open import open_port
from hilbench.bus.port import BusPort
from hilbench.clock import SimClock, WallClock
from hilbench.dut.emulator import TICK_S, ComputeEmulator
from hilbench.errors import ConfigError

#: The smallest bus the unit runs on, its state of charge in the unmultiplexed header of
#: BMS_Status, whose two pages (discharge limit, fault level) come in turn every 100 ms.
_DBC = """\
VERSION ""

NS_ :

BS_:

BU_: BMS VCU CU

BO_ 272 BMS_Pack: 8 BMS
 SG_ Voltage : 0|16@1+ (0.1,0) [0|1000] "V" CU
 SG_ Current : 16|16@1- (0.1,0) [-1000|1000] "A" CU
 SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU

BO_ 275 BMS_Status: 8 BMS
 SG_ Page M : 0|2@1+ (1,0) [0|3] "" CU
 SG_ StateOfCharge : 8|8@1+ (0.5,0) [0|100] "%" CU
 SG_ Dcl m0 : 16|16@1+ (0.1,0) [0|1000] "A" CU
 SG_ FaultLvl m1 : 16|2@1+ (1,0) [0|3] "" CU

BO_ 512 VCU_State: 8 VCU
 SG_ Gear : 0|3@1+ (1,0) [0|7] "" CU
 SG_ Reserve : 8|8@1+ (0.5,0) [0|100] "%" CU

BO_ 1024 CU_State: 8 CU
 SG_ State : 0|3@1+ (1,0) [0|7] "" BMS
 SG_ Level : 3|3@1+ (1,0) [0|7] "" BMS
 SG_ Power : 16|16@1+ (0.1,0) [0|6000] "W" BMS

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 272 100;
BA_ "GenMsgCycleTime" BO_ 275 100;
BA_ "GenMsgCycleTime" BO_ 512 100;
BA_ "GenMsgCycleTime" BO_ 1024 100;
VAL_ 275 FaultLvl 0 "NONE" 1 "WARNING" 2 "STOP_REQUEST" 3 "HARD_LIMIT" ;
VAL_ 512 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
VAL_ 1024 State 0 "OFF" 1 "STANDBY" 2 "RUNNING" 3 "DERATED" 4 "SAFE_STOP" 5 "FAULT" ;
VAL_ 1024 Level 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;
"""

_MAP = """\
[roles]
pack_voltage_v = { message = "BMS_Pack", signal = "Voltage" }
pack_current_a = { message = "BMS_Pack", signal = "Current" }
min_cell_voltage_v = { message = "BMS_Pack", signal = "CellVMin" }
soc_pct = { message = "BMS_Status", signal = "StateOfCharge" }
discharge_current_limit_a = { message = "BMS_Status", signal = "Dcl", mux = 0 }
bms_fault_level = { message = "BMS_Status", signal = "FaultLvl", mux = 1 }
gear = { message = "VCU_State", signal = "Gear" }
range_reserve_soc_pct = { message = "VCU_State", signal = "Reserve" }
cu_state = { message = "CU_State", signal = "State" }
cu_power_level = { message = "CU_State", signal = "Level" }
compute_power_w = { message = "CU_State", signal = "Power" }
"""

_CHANNELS = itertools.count()


#: The same bus, but page 1 carries a role the unit does not read (the charge limit; the
#: fault level moves to BMS_Pack): its frames still bring the SOC of their header.
_DBC_UNREAD_PAGE = _DBC.replace(
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n',
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n SG_ Fault : 48|2@1+ (1,0) [0|3] "" CU\n',
).replace('VAL_ 275 FaultLvl',
          'VAL_ 272 Fault 0 "NONE" 1 "WARNING" 2 "STOP_REQUEST" 3 "HARD_LIMIT" ;\nVAL_ 275 FaultLvl')
_MAP_UNREAD_PAGE = _MAP.replace(
    'bms_fault_level = { message = "BMS_Status", signal = "FaultLvl", mux = 1 }',
    'bms_fault_level = { message = "BMS_Pack", signal = "Fault" }\n'
    'charge_current_limit_a = { message = "BMS_Status", signal = "FaultLvl", mux = 1 }')


class _PagedSocBms:
    """The car's side of the bus: BMS_Status's pages in turn, each with the SOC the BMS sampled for it."""

    def __init__(self, codec: BenchCodec, car: BusPort) -> None:
        self._sender = codec.fresh_sender("BMS_Status")
        self._car = car
        self._page_1 = ({"bms_fault_level": "NONE"} if "bms_fault_level" in codec.signal_map.roles
                        else {"charge_current_limit_a": 1.0})
        #: (page, payload) of every BMS_Status frame sent, in order.
        self.sent: list[tuple[int, bytes]] = []

    def send(self, soc_pct: float) -> None:
        msg = self._sender.encode({"soc_pct": soc_pct, "discharge_current_limit_a": 300.0, **self._page_1})
        self._car.send(msg)
        self.sent.append((msg.data[0] & 0x03, bytes(msg.data)))


@pytest.fixture
def paged_soc(tmp_path: Path) -> Iterator[tuple[ComputeEmulator, _PagedSocBms]]:
    """The unit on a simulated-time bus whose BMS sends its SOC on both pages of BMS_Status.

    Function-scoped: each test builds its own unit, so mutation testing credits the test with
    the unit's calls (docs/mutation.md).
    """
    yield from _paged_soc_bench(tmp_path, _DBC, _MAP)


@pytest.fixture
def unread_page_soc(tmp_path: Path) -> Iterator[tuple[ComputeEmulator, _PagedSocBms]]:
    """As ``paged_soc``, but the unit reads no role of page 1 (only the SOC its header carries)."""
    yield from _paged_soc_bench(tmp_path, _DBC_UNREAD_PAGE, _MAP_UNREAD_PAGE)


def _paged_soc_bench(tmp_path: Path, dbc_text: str, map_text: str) -> Iterator[tuple[ComputeEmulator, _PagedSocBms]]:
    dbc, signal_map = tmp_path / "paged_soc.dbc", tmp_path / "paged_soc.signals.toml"
    dbc.write_text(dbc_text)
    signal_map.write_text(map_text)
    description = load_bus_description([dbc], signal_map, require=())
    codec = BenchCodec(description.db, description.signal_map)
    clock = SimClock()
    config = BusConfig("simtime", f"shared-roles-{next(_CHANNELS)}")
    car = open_port(config, clock, polled_by_owner=True)
    dut_port = open_port(config, clock, polled_by_owner=True)
    try:
        yield ComputeEmulator.from_config(codec, dut_port, clock), _PagedSocBms(codec, car)
    finally:
        car.bus.shutdown()
        dut_port.bus.shutdown()


def _after_a_tick(dut: ComputeEmulator) -> float | None:
    """Tick the unit (it drains the bus first), a tick after the last; the SOC it observed."""
    dut.clock.run_until(dut.clock.now + TICK_S)
    dut.tick()
    assert dut.inputs.get("soc_pct") == dut.observation.soc_pct
    return dut.observation.soc_pct


def test_each_page_is_an_input_of_its_own(paged_soc) -> None:
    """So two inputs carry ``soc_pct``: the unmultiplexed header of page 0 and of page 1."""
    dut, _bms = paged_soc
    assert set(dut.stale_after_s) == {"BMS_Pack", "BMS_Status[0]", "BMS_Status[1]", "VCU_State"}


def test_each_page_as_it_arrives_sets_the_soc_even_with_a_payload_it_brought_before(paged_soc) -> None:
    """One page a tick, in turn; the SOC flickers 60.0 / 59.5 (the signal's half-percent step)."""
    dut, bms = paged_soc
    assert _after_a_tick(dut) is None                 # nothing received yet
    seen = []
    for soc in (60.0, 60.0, 59.5, 60.0, 59.5, 59.5, 59.5):
        bms.send(soc)
        seen.append(_after_a_tick(dut))
    assert seen == [60.0, 60.0, 59.5, 60.0, 59.5, 59.5, 59.5]
    pages = [page for page, _ in bms.sent]
    payloads = [payload for _, payload in bms.sent]
    assert pages == [0, 1, 0, 1, 0, 1, 0]
    # Page 1 brought back its 60.0 after page 0 had said 59.5, and page 0 its 59.5 after page 1
    # had said 60.0: the same bytes, so the same decoded dict, each time the one that counts.
    assert payloads[3] == payloads[1] and payloads[4] == payloads[2]
    assert dut.decode_errors == 0 and dut.e2e_errors == 0


def test_of_two_pages_between_two_ticks_the_later_sets_the_soc_whichever_page_it_is(paged_soc) -> None:
    """A tick that drains two pages (a frame delayed across a tick boundary): the later one decides."""
    dut, bms = paged_soc
    bms.send(60.0)                                    # page 0
    assert _after_a_tick(dut) == 60.0
    bms.send(59.5)                                    # page 1
    bms.send(60.0)                                    # page 0, the very payload of the first tick
    assert _after_a_tick(dut) == 60.0
    bms.send(59.5)                                    # page 1 alone, the payload it brought before
    assert _after_a_tick(dut) == 59.5
    bms.send(59.5)                                    # page 0
    bms.send(60.0)                                    # page 1
    assert _after_a_tick(dut) == 60.0
    bms.send(60.0)                                    # page 0
    bms.send(59.5)                                    # page 1
    assert _after_a_tick(dut) == 59.5
    assert [page for page, _ in bms.sent] == [0, 1, 0, 1, 0, 1, 0, 1]
    assert bms.sent[2][1] == bms.sent[0][1] and bms.sent[3][1] == bms.sent[1][1]


def test_a_page_that_comes_again_within_a_tick_counts_as_the_last(paged_soc) -> None:
    """Pages faster than the tick (20 ms pages, a 100 ms tick): the last frame decides, not the
    order in which the pages first arrived."""
    dut, bms = paged_soc
    bms.send(59.5)                                    # page 0
    bms.send(59.5)                                    # page 1
    bms.send(60.0)                                    # page 0
    bms.send(59.5)                                    # page 1, last
    assert _after_a_tick(dut) == 59.5
    bms.send(60.0)                                    # page 0
    bms.send(60.0)                                    # page 1
    bms.send(59.5)                                    # page 0, last
    assert _after_a_tick(dut) == 59.5


def test_a_page_with_no_role_the_unit_reads_still_brings_its_header(unread_page_soc) -> None:
    """Page 1 is not watched (nothing on it is read), but its frames carry the SOC: the latest wins."""
    dut, bms = unread_page_soc
    assert set(dut.stale_after_s) == {"BMS_Pack", "BMS_Status[0]", "VCU_State"}
    seen = []
    for soc in (60.0, 59.5, 60.0, 59.5, 59.5, 60.0):
        bms.send(soc)
        seen.append(_after_a_tick(dut))
    assert [page for page, _ in bms.sent] == [0, 1, 0, 1, 0, 1]
    # Page 0 brings back its first payload after page 1 said 59.5 (the same decoded dict).
    assert bms.sent[2][1] == bms.sent[0][1]
    assert seen == [60.0, 59.5, 60.0, 59.5, 59.5, 60.0]


def test_a_map_without_the_roles_the_unit_needs_is_refused_naming_the_file_and_each_role(tmp_path: Path) -> None:
    """Built on its own port (a lab's map, loaded without the bench's role check): the unit itself refuses."""
    dbc, signal_map = tmp_path / "small.dbc", tmp_path / "small.signals.toml"
    dbc.write_text(_DBC)
    signal_map.write_text("\n".join(line for line in _MAP.splitlines()
                                    if not line.startswith(("gear ", "pack_voltage_v "))))
    description = load_bus_description([dbc], signal_map, require=())
    clock = SimClock()
    port = open_port(BusConfig("simtime", f"missing-roles-{next(_CHANNELS)}"), clock, polled_by_owner=True)
    try:
        with pytest.raises(ConfigError) as caught:
            ComputeEmulator.from_config(BenchCodec(description.db, description.signal_map), port, clock)
    finally:
        port.bus.shutdown()
    error = caught.value
    assert (error.file, error.entry) == (str(signal_map), "roles")
    assert error.reason == ("the emulated compute unit needs role(s) pack_voltage_v, gear; map them, "
                            "or run without it (--no-dut) when a real compute unit is on the bus")


#: A lab's car: BMS_Pack carries an XOR checksum and no counter (``Chk`` in its last byte), and the
#: map tightens the unit's receiver for it.
_DBC_CHECKSUM_ONLY = _DBC.replace(
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n',
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n SG_ Chk : 56|8@1+ (1,0) [0|255] "" CU\n')
_MAP_CHECKSUM_ONLY = _MAP + """
[protection.BMS_Pack]
scheme = "xor"
checksum = "Chk"

[receiver.BMS_Pack]
window_valid = 6
min_ok_valid = 5
"""


def test_a_checksum_without_a_counter_gets_a_receiver_with_the_maps_settings(tmp_path: Path) -> None:
    """A protection with only a checksum is still checked; the map's [receiver] settings are the ones used,
    and a message the map says nothing of keeps the defaults."""
    gen = _paged_soc_bench(tmp_path, _DBC_CHECKSUM_ONLY, _MAP_CHECKSUM_ONLY)
    dut, _bms = next(gen)
    try:
        receiver = dut.receivers["BMS_Pack"]
        assert not receiver.protection.has_counter and receiver.protection.has_checksum
        assert (receiver.config.window_valid, receiver.config.min_ok_valid) == (6, 5)
        defaults = E2EConfig.load()
        assert receiver.config == defaults.with_(window_valid=6, min_ok_valid=5)
        assert receiver.config.timing_tolerance_cycles == defaults.timing_tolerance_cycles
    finally:
        gen.close()


def test_an_extended_id_input_reaches_the_unit(tmp_path: Path) -> None:
    """A car whose VCU speaks 29-bit IDs (J1939-style): the unit subscribes in the extended ID space."""
    extended_id = 0x98FF1000                     # 0x18FF1000 with the DBC's extended-frame bit
    dbc_text = (_DBC.replace("BO_ 512 VCU_State", f"BO_ {extended_id} VCU_State")
                .replace('BO_ 512 100', f'BO_ {extended_id} 100').replace("VAL_ 512 ", f"VAL_ {extended_id} "))
    gen = _paged_soc_bench(tmp_path, dbc_text, _MAP)
    dut, bms = next(gen)
    try:
        vcu = dut.codec.fresh_sender("VCU_State")
        assert vcu.is_extended_id
        bms._car.send(vcu.encode({"gear": "D", "range_reserve_soc_pct": 20.0}))
        _after_a_tick(dut)
        assert dut.inputs.get("gear") == "D"
        assert dut.observation.gear == "D"
    finally:
        gen.close()


_DBC_COUNTED = _DBC.replace(
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n',
    ' SG_ CellVMin : 32|16@1+ (0.001,0) [0|5] "V" CU\n SG_ Cnt : 48|4@1+ (1,0) [0|15] "" CU\n'
    ' SG_ Chk : 56|8@1+ (1,0) [0|255] "" CU\n')
_MAP_COUNTED = _MAP + """
[protection.BMS_Pack]
scheme = "xor"
checksum = "Chk"
counter = "Cnt"
"""


def _lag_after_a_held_stream(dut: ComputeEmulator) -> float:
    """Feed BMS_Pack's receiver five frames on time, then a 0.5 s hold and the frames after it late by
    that much (a gateway that held them): the lag the receiver measures."""
    sender = dut.codec.fresh_sender("BMS_Pack")
    receiver = dut.receivers["BMS_Pack"]
    roles = {"pack_voltage_v": 350.0, "pack_current_a": 1.0, "min_cell_voltage_v": 3.6}
    for k in range(12):
        arrived_s = 0.1 * k if k < 5 else 0.1 * k + 0.5
        receiver.on_frame(bytes(sender.encode(roles).data), arrived_s)
    return receiver.lag_s


def test_the_units_receivers_time_data_by_its_clock_kind(tmp_path: Path) -> None:
    """In simulated time a delayed stream's lag is measured (arrival times are exact); on a wall clock
    the host's jitter makes them unfit for it, and the receivers check the counter's step alone."""
    gen = _paged_soc_bench(tmp_path, _DBC_COUNTED, _MAP_COUNTED)
    dut, _bms = next(gen)
    try:
        assert _lag_after_a_held_stream(dut) == pytest.approx(0.5, abs=0.05)
    finally:
        gen.close()

    description = load_bus_description([tmp_path / "paged_soc.dbc"], tmp_path / "paged_soc.signals.toml",
                                       require=())
    clock = WallClock()
    port = open_port(BusConfig("virtual", f"wall-receivers-{next(_CHANNELS)}"), clock)
    try:
        wall_dut = ComputeEmulator.from_config(BenchCodec(description.db, description.signal_map), port, clock)
        assert _lag_after_a_held_stream(wall_dut) == 0.0
    finally:
        port.bus.shutdown()
