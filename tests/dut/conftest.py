"""A small hand-written bus for the emulated compute unit: a DBC and signal map that nobody tuned for it.

The DBC has one message per producer plus the unit's status, with the cycle
times a test asks for (a car's thermal and vehicle messages come every
1000 ms).  :class:`Rig` feeds it frames from plain role values at those cycle
times on a simtime bus in simulated time, runs the bundled
:class:`~hilbench.dut.emulator.ComputeEmulator` on a second handle of the
same bus, and decodes what the unit sends back, so the tests judge only the bus.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import can
import numpy as np
import pytest

from hilbench.bus import BenchCodec, BusConfig, load_bus_description
from hilbench.bus.open import open_port
from hilbench.bus.roles import REASONS
from hilbench.clock import SimClock
from hilbench.dut.emulator import ComputeEmulator

#: Cycle times (ms) of the small DBC's messages by default.
CYCLES_MS = {"BMS_Pack": 100, "BMS_Thermal": 1000, "BMS_Info": 1000, "BMS_Paged": 50, "VCU_State": 1000,
             "OBC_State": 100, "CU_State": 100}
FRAME_IDS = {"BMS_Pack": 0x110, "BMS_Thermal": 0x111, "BMS_Info": 0x112, "BMS_Paged": 0x113, "VCU_State": 0x200,
             "OBC_State": 0x300, "CU_State": 0x400}

_MESSAGES = {
    "BMS_Pack": ("BMS", [
        ' SG_ Voltage : 0|16@1+ (0.1,0) [0|1000] "V" CU',
        ' SG_ Current : 16|16@1- (0.1,0) [-1000|1000] "A" CU',
        ' SG_ StateOfCharge : 32|8@1+ (0.5,0) [0|100] "%" CU',
        ' SG_ Fault : 40|2@1+ (1,0) [0|3] "" CU',
        ' SG_ ChargeLimit : 48|16@1+ (0.1,0) [0|1000] "A" CU',
    ]),
    "BMS_Thermal": ("BMS", [
        ' SG_ CellVMin : 0|16@1+ (0.001,0) [0|5] "V" CU',
        ' SG_ CellVMax : 16|16@1+ (0.001,0) [0|5] "V" CU',
        ' SG_ CellTMin : 32|8@1+ (1,-40) [-40|100] "degC" CU',
        ' SG_ CellTMax : 40|8@1+ (1,-40) [-40|100] "degC" CU',
        ' SG_ DischargeLimit : 48|16@1+ (0.1,0) [0|1000] "A" CU',
    ]),
    "BMS_Info": ("BMS", [            # mapped by no role unless a test binds one here
        ' SG_ HottestCell : 0|8@1+ (1,-40) [-40|100] "degC" CU',
    ]),
    "BMS_Paged": ("BMS", [           # multiplexed: three pages, mapped by no role unless a test binds one
        ' SG_ Page M : 0|2@1+ (1,0) [0|3] "" CU',
        ' SG_ Dcl m0 : 8|16@1+ (0.1,0) [0|1000] "A" CU',
        ' SG_ FaultLvl m1 : 8|2@1+ (1,0) [0|3] "" CU',
        ' SG_ Spare m2 : 8|8@1+ (1,0) [0|255] "" CU',
    ]),
    "VCU_State": ("VCU", [
        ' SG_ Gear : 0|3@1+ (1,0) [0|7] "" CU',
        ' SG_ Ignition : 3|1@1+ (1,0) [0|1] "" CU',
        ' SG_ DriveReq : 4|1@1+ (1,0) [0|1] "" CU',
        ' SG_ Reserve : 8|8@1+ (0.5,0) [0|100] "%" CU',
        ' SG_ Counter : 48|4@1+ (1,0) [0|15] "" CU',     # a car's own alive counter and checksum,
        ' SG_ Checksum : 56|8@1+ (1,0) [0|255] "" CU',   # checked only where the map declares them
    ]),
    "OBC_State": ("OBC", [
        ' SG_ Pilot : 0|3@1+ (1,0) [0|7] "" CU',
        ' SG_ Plug : 3|1@1+ (1,0) [0|1] "" CU',
    ]),
    "CU_State": ("CU", [
        ' SG_ State : 0|3@1+ (1,0) [0|7] "" BMS',
        ' SG_ Level : 3|3@1+ (1,0) [0|7] "" BMS',
        ' SG_ Reason : 8|5@1+ (1,0) [0|31] "" BMS',
        ' SG_ Power : 16|16@1+ (0.1,0) [0|6000] "W" BMS',
    ]),
}

_VALUE_TABLES = {
    ("BMS_Pack", "Fault"): ("NONE", "WARNING", "STOP_REQUEST", "HARD_LIMIT"),
    ("BMS_Paged", "FaultLvl"): ("NONE", "WARNING", "STOP_REQUEST", "HARD_LIMIT"),
    ("VCU_State", "Gear"): ("P", "R", "N", "D"),
    ("OBC_State", "Pilot"): ("A", "B", "C", "D", "E", "F"),
    ("CU_State", "State"): ("OFF", "STANDBY", "RUNNING", "DERATED", "SAFE_STOP", "FAULT"),
    ("CU_State", "Level"): ("OFF", "IDLE", "P25", "P50", "P75", "P100"),
    ("CU_State", "Reason"): REASONS,
}

#: role -> (message, signal); every role this small bus carries.
ROLES = {
    "pack_voltage_v": ("BMS_Pack", "Voltage"),
    "pack_current_a": ("BMS_Pack", "Current"),
    "soc_pct": ("BMS_Pack", "StateOfCharge"),
    "bms_fault_level": ("BMS_Pack", "Fault"),
    "charge_current_limit_a": ("BMS_Pack", "ChargeLimit"),
    "min_cell_voltage_v": ("BMS_Thermal", "CellVMin"),
    "max_cell_voltage_v": ("BMS_Thermal", "CellVMax"),
    "min_cell_temp_c": ("BMS_Thermal", "CellTMin"),
    "max_cell_temp_c": ("BMS_Thermal", "CellTMax"),
    "discharge_current_limit_a": ("BMS_Thermal", "DischargeLimit"),
    "gear": ("VCU_State", "Gear"),
    "ignition_on": ("VCU_State", "Ignition"),
    "drive_requested": ("VCU_State", "DriveReq"),
    "range_reserve_soc_pct": ("VCU_State", "Reserve"),
    "cp_state": ("OBC_State", "Pilot"),
    "plug_present": ("OBC_State", "Plug"),
    "cu_state": ("CU_State", "State"),
    "cu_power_level": ("CU_State", "Level"),
    "cu_reason": ("CU_State", "Reason"),
    "compute_power_w": ("CU_State", "Power"),
}

#: What the emulated car says: a parked, healthy pack at 60 % with a 20 % reserve, unplugged.
VALUES: dict[str, object] = {
    "pack_voltage_v": 400.0, "pack_current_a": 3.0, "soc_pct": 60.0, "bms_fault_level": "NONE",
    "charge_current_limit_a": 100.0, "min_cell_voltage_v": 3.70, "max_cell_voltage_v": 3.72,
    "min_cell_temp_c": 25.0, "max_cell_temp_c": 26.0, "discharge_current_limit_a": 300.0,
    "gear": "P", "ignition_on": 0, "drive_requested": 0, "range_reserve_soc_pct": 20.0,
    "cp_state": "A", "plug_present": 0,
}


def small_dbc(cycles_ms: Mapping[str, int] | None = None) -> str:
    """The DBC text, with ``cycles_ms`` replacing the default cycle times."""
    cycles = {**CYCLES_MS, **(cycles_ms or {})}
    lines = ['VERSION ""', "", "NS_ :", "", "BS_:", "", "BU_: BMS VCU OBC CU", ""]
    for name, (sender, signals) in _MESSAGES.items():
        lines += [f"BO_ {FRAME_IDS[name]} {name}: 8 {sender}", *signals, ""]
    lines += ['BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;', 'BA_DEF_DEF_ "GenMsgCycleTime" 0;']
    lines += [f'BA_ "GenMsgCycleTime" BO_ {FRAME_IDS[name]} {cycles[name]};' for name in _MESSAGES]
    for (message, signal), states in _VALUE_TABLES.items():
        lines.append(f"VAL_ {FRAME_IDS[message]} {signal} "
                     + " ".join(f'{i} "{state}"' for i, state in enumerate(states)) + " ;")
    return "\n".join(lines) + "\n"


def small_map(rebind: Mapping[str, tuple] | None = None, extra: str = "", drop: Iterable[str] = ()) -> str:
    """The signal map text binding :data:`ROLES` (less ``drop``, ``rebind`` moving some to
    ``(message, signal)`` or ``(message, signal, mux)``), with ``extra`` TOML appended."""
    dropped = set(drop)
    roles = {**ROLES, **(rebind or {})}
    lines = ["[roles]"]
    for role, (message, signal, *mux) in roles.items():
        if role not in dropped:
            lines.append(f'{role} = {{ message = "{message}", signal = "{signal}"'
                         + (f", mux = {mux[0]}" if mux else "") + " }")
    return "\n".join(lines) + "\n" + extra


_CHANNELS = itertools.count()


class Rig:
    """A simtime bus in simulated time: the car's frames from :data:`VALUES`, the unit on its own handle."""

    def __init__(self, codec: BenchCodec, dut: Mapping[str, object] | None = None,
                 values: Mapping[str, object] | None = None) -> None:
        self.codec = codec
        self.clock = SimClock()
        self.values = {**VALUES, **(values or {})}
        self.silent: set[str] = set()
        #: message name -> what to do to each of its frames before it is sent (a fault; None drops it)
        self.tamper: dict[str, Callable[[can.Message], can.Message | None]] = {}
        self.last_sent_s: dict[str, float] = {}
        self.sent: list[tuple[float, str, bytes]] = []   # (time, message, payload) of every car frame
        config = BusConfig("simtime", f"dut-rig-{next(_CHANNELS)}")
        self.car = open_port(config, self.clock, polled_by_owner=True)
        self._buses = [self.car.bus]
        try:
            self._dut_port = open_port(config, self.clock, polled_by_owner=True)
            self._buses.append(self._dut_port.bus)
            self._build(codec, dut)
        except BaseException:
            self.close()
            raise

    def _build(self, codec: BenchCodec, dut: Mapping[str, object] | None) -> None:
        dut_port = self._dut_port
        self.emulator = ComputeEmulator.from_config(codec, dut_port, self.clock, **(dut or {}))
        self.seen: list[tuple[float, dict[str, object]]] = []   # the unit's status frames, decoded
        status = codec.message(codec.signal_map.binding("cu_state").message)
        self.car.subscribe(status.frame_id, lambda msg: self.seen.append(
            (msg.timestamp - self.clock.epoch_s, status.decode_roles(msg.data))))
        for index, producer in enumerate(("bms", "vcu", "obc")):
            for name in codec.signal_map.messages_of(producer):
                sender = codec.fresh_sender(name)
                self.clock.call_every(sender.cycle_time_s, self._feeder(name, sender),
                                      offset_s=0.002 + 0.001 * index)
        self.emulator.start()

    def _feeder(self, name: str, sender) -> Callable[[], None]:
        def feed() -> None:
            if name in self.silent:
                return
            msg = sender.encode(self.values)
            if name in self.tamper:
                msg = self.tamper[name](msg)
                if msg is None:
                    return
            self.car.send(msg)
            self.last_sent_s[name] = self.clock.now
            self.sent.append((self.clock.now, name, bytes(msg.data)))
        return feed

    def run_until(self, t_s: float) -> None:
        self.clock.run_until(t_s)
        self.car.poll()

    def at(self, t_s: float, action: Callable[[], None]) -> None:
        self.clock.call_at(t_s, action)

    def states(self) -> tuple[np.ndarray, list[str], list[str]]:
        """Times, states and reasons of the unit's status frames."""
        t = np.array([t for t, _ in self.seen])
        return t, [str(v["cu_state"]) for _, v in self.seen], [str(v["cu_reason"]) for _, v in self.seen]

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()


def load_codec(folder: Path, dbc_text: str, map_text: str) -> BenchCodec:
    """The bus as the bench loads it, with no roles demanded by the map loader (the unit's own check is tested)."""
    folder.mkdir(parents=True, exist_ok=True)
    dbc = folder / "small.dbc"
    dbc.write_text(dbc_text)
    signal_map = folder / "small.signals.toml"
    signal_map.write_text(map_text)
    description = load_bus_description([dbc], signal_map, require=())
    return BenchCodec(description.db, description.signal_map)


@pytest.fixture
def small_bus(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``small_bus(cycles_ms=, map_extra=, dut=, values=, drop=, rebind=)`` -> a :class:`Rig`, closed after the test.

    ``drop`` leaves roles out of the map, ``rebind`` moves roles to other ``(message, signal[, mux])``s,
    ``map_extra`` appends TOML (``[timing]``, ``[protection.X]``, ...).
    """
    rigs: list[Rig] = []
    folders = itertools.count()

    def make(*, cycles_ms: Mapping[str, int] | None = None, map_extra: str = "",
             dut: Mapping[str, object] | None = None, values: Mapping[str, object] | None = None,
             drop: Iterable[str] = (), rebind: Mapping[str, tuple] | None = None) -> Rig:
        codec = load_codec(tmp_path / f"bus{next(folders)}", small_dbc(cycles_ms), small_map(rebind, map_extra, drop))
        rig = Rig(codec, dut, values)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()
