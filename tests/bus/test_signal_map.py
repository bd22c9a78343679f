"""Signal map: roles -> messages and signals of any DBC, refused at load when wrong."""

from __future__ import annotations

import re
from pathlib import Path

import cantools
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import (
    BenchCodec,
    compute_unit_dbc_path,
    default_dbc_path,
    default_signal_map_path,
    load_bus_description,
    load_dbc,
    load_signal_map,
)
from hilbench.bus.roles import ROLES
from hilbench.errors import ConfigError

NO_DUT = frozenset({"bms", "vcu", "obc"})


@pytest.fixture(scope="module")
def db():
    return load_bus_description().db


@pytest.fixture(scope="module")
def default_text() -> str:
    """The default map, its DBC list made absolute so a copy in tmp_path finds the bench's DBCs."""
    text = default_signal_map_path().read_text(encoding="utf-8")
    listed = 'dbc = ["hilbench.dbc", "compute_unit.dbc"]'
    assert listed in text
    return text.replace(listed, f'dbc = ["{default_dbc_path()}", "{compute_unit_dbc_path()}"]')


def _write(tmp_path: Path, text: str, name: str = "map.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"test setup: {old!r} is not unique in the default map"
    return text.replace(old, new)


def test_default_map_loads_and_binds_every_required_role(db) -> None:
    sm = load_signal_map(default_signal_map_path(), db)
    required = {name for name, role in ROLES.items() if role.required}
    assert required <= set(sm.roles)
    assert sm.roles["soc_pct"].message == "BMS_PackStatus"
    assert sm.roles["soc_pct"].signal == "SOC"
    assert sm.roles["gear"].raw_by_state == {"P": 0, "R": 1, "N": 2, "D": 3}
    assert set(sm.cells) == {"voltage", "temperature", "voltage_fd"}
    assert sm.e2e_data_id_base["BMS_PackStatus"] == 0x10
    assert sm.cycle_time_s["BMS_PackStatus"] == pytest.approx(0.02)
    assert sm.messages_of("bms")[:4] == ["BMS_PackStatus", "BMS_CellExtremes", "BMS_Limits", "BMS_Faults"]


@pytest.mark.parametrize(("old", "new", "entry", "reason"), [
    pytest.param('signal = "SOC" }', 'signal = "SCO" }', "roles.soc_pct.signal",
                 'signal "SCO" is not in message "BMS_PackStatus"', id="misspelled-signal"),
    pytest.param('soc_pct                   = { message = "BMS_PackStatus"',
                 'soc_pct                   = { message = "BMS_PackStatu"', "roles.soc_pct.message",
                 'message "BMS_PackStatu" is not in the DBC', id="unknown-message"),
    pytest.param("[roles]\n", '[roles]\nstate_of_health_pct = { message = "BMS_PackStatus", signal = "SOC" }\n',
                 "roles.state_of_health_pct", 'unknown role "state_of_health_pct"', id="unknown-role"),
    pytest.param('soc_pct                   = { message = "BMS_PackStatus", signal = "SOC" }\n', "",
                 "roles", "required role(s) not mapped: soc_pct", id="missing-required-role"),
    pytest.param('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                 'gear = { message = "VCU_VehicleStatus", signal = "Gear", states = { P = "PARK" } }',
                 "roles.gear.states", 'state "P" of role "gear" has no value "PARK"', id="state-not-in-value-table"),
    pytest.param('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                 'gear = { message = "VCU_VehicleStatus", signal = "AmbientTemp" }',
                 "roles.gear.signal", "factor 0.5", id="enum-role-on-scaled-signal"),
    pytest.param('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                 'gear = { message = "VCU_VehicleStatus", signal = "DriveRequested" }',
                 "roles.gear.states", "no value table", id="enum-role-on-signal-without-value-table"),
    pytest.param('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                 'gear = { message = "VCU_VehicleStatus", signal = "Gear", states = { N = "P" } }',
                 "roles.gear.states", "map to the same DBC value", id="two-states-one-value"),
    pytest.param('[cells.voltage]', '[e2e]\nVCU_VehicleStatus = 16\n\n[cells.voltage]',
                 "e2e.VCU_VehicleStatus", "masquerade", id="e2e-data-ids-shared"),
    pytest.param('[cells.voltage]', '[e2e]\nCU_Energy = 200\n\n[cells.voltage]',
                 "e2e.CU_Energy", "alive counter", id="e2e-over-data-signals"),
    pytest.param('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                 'gear = { message = "VCU_VehicleStatus", signal = "Gear", states = { PARKED = "P" } }',
                 "roles.gear.states.PARKED", "unknown state", id="unknown-state-alias"),
    pytest.param('signal = "SOC" }', 'signal = "SOC", scale = 0 }', "roles.soc_pct.scale",
                 "scale must not be 0", id="zero-scale"),
    pytest.param('signal = "SOC" }', 'signal = "SOC", unit = "%" }', "roles.soc_pct",
                 "unknown key", id="unknown-key"),
    pytest.param('signal = "CellVoltage{index:03d}"', 'signal = "CellVoltag{index:03d}"',
                 "cells.voltage.signal", 'signal "CellVoltag001" is not in message', id="bad-cell-pattern"),
    pytest.param("[cells.voltage]\n", '[cycle_ms]\nBMS_Limit = 100\n\n[cells.voltage]\n',
                 "cycle_ms.BMS_Limit", 'message "BMS_Limit" is not in the DBC', id="cycle-override-unknown-message"),
])
def test_broken_map_is_refused_naming_file_and_entry(tmp_path, db, default_text, old, new, entry, reason) -> None:
    path = _write(tmp_path, _edit(default_text, old, new))
    with pytest.raises(ConfigError) as info:
        load_signal_map(path, db)
    err = info.value
    assert err.file == str(path)
    assert err.entry == entry
    assert reason in err.reason
    message = str(err)
    assert re.match(rf"{re.escape(str(path))}: {re.escape(entry)} \(line \d+\): ", message), message
    assert reason in message


def test_not_toml_is_refused(tmp_path, db) -> None:
    path = _write(tmp_path, "[roles\nsoc_pct = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_signal_map(path, db)
    assert str(path) in str(info.value)


def test_bench_with_a_broken_map_never_starts(tmp_path, default_text) -> None:
    path = _write(tmp_path, _edit(default_text, 'signal = "SOC" }', 'signal = "SCO" }'))
    with pytest.raises(ConfigError, match=re.escape("roles.soc_pct.signal")):
        Bench(BenchConfig(emulate=NO_DUT, signal_map=path))


# ---------------------------------------------------------------- a DBC nobody here wrote

FOREIGN_DBC = '''VERSION "lab 7"


NS_ :
	CM_
	BA_DEF_
	BA_
	VAL_

BS_:

BU_: LabBMS LabVCU LabOBC LabCU

BO_ 2566869221 BMS_Main_Ext: 8 LabBMS
 SG_ Pack_U : 0|16@1+ (0.05,0) [0|3276.75] "V" LabVCU
 SG_ Pack_I : 16|16@1+ (0.1,-3200) [-3200|3353.5] "A" LabVCU
 SG_ SocFrac : 32|10@1+ (0.001,0) [0|1] "" LabVCU
 SG_ BmsState : 42|3@1+ (1,0) [0|7] "" LabVCU
BO_ 1601 BMS_Cells: 8 LabBMS
 SG_ U_Min_mV : 0|16@1+ (1,0) [0|5000] "mV" LabVCU
 SG_ U_Max_mV : 16|16@1+ (1,0) [0|5000] "mV" LabVCU
 SG_ T_Min : 32|8@1- (1,0) [-128|127] "degC" LabVCU
 SG_ T_Max : 40|8@1- (1,0) [-128|127] "degC" LabVCU
BO_ 1602 BMS_Lim: 8 LabBMS
 SG_ DCL_kA : 0|16@1+ (0.0001,0) [0|6.5535] "kA" LabVCU
 SG_ CCL_kA : 16|16@1+ (0.0001,0) [0|6.5535] "kA" LabVCU
BO_ 1700 VCU_State: 8 LabVCU
 SG_ GearSel : 0|3@1+ (1,0) [0|7] "" LabBMS
 SG_ Ign : 3|1@1+ (1,0) [0|1] "" LabBMS
 SG_ Reserve : 8|8@1+ (1,0) [0|100] "%" LabBMS
BO_ 1800 OBC_State: 8 LabOBC
 SG_ CP : 0|3@1+ (1,0) [0|7] "" LabBMS
 SG_ Plug : 3|1@1+ (1,0) [0|1] "" LabBMS
BO_ 1900 CU_State: 8 LabCU
 SG_ St : 0|4@1+ (1,0) [0|15] "" LabBMS
 SG_ Lvl : 4|4@1+ (1,0) [0|15] "" LabBMS
 SG_ P_W : 8|16@1+ (1,0) [0|65535] "W" LabBMS

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 2566869221 50;
BA_ "GenMsgCycleTime" BO_ 1602 200;

VAL_ 2566869221 BmsState 0 "OK" 1 "WARN" 2 "STOP" 3 "TRIP" ;
VAL_ 1700 GearSel 0 "PARK" 1 "REVERSE" 2 "NEUTRAL" 4 "DRIVE" ;
VAL_ 1800 CP 0 "A" 1 "B" 2 "C" 3 "D" 4 "E" 5 "F" ;
VAL_ 1900 St 0 "OFF" 1 "STANDBY" 2 "RUNNING" 3 "DERATED" 4 "SAFE_STOP" 5 "FAULT" ;
VAL_ 1900 Lvl 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;
'''

FOREIGN_MAP = '''[roles]
pack_voltage_v            = { message = "BMS_Main_Ext", signal = "Pack_U" }
pack_current_a            = { message = "BMS_Main_Ext", signal = "Pack_I" }
soc_pct                   = { message = "BMS_Main_Ext", signal = "SocFrac", scale = 100 }
min_cell_voltage_v        = { message = "BMS_Cells", signal = "U_Min_mV", scale = 0.001 }
max_cell_voltage_v        = { message = "BMS_Cells", signal = "U_Max_mV", scale = 0.001 }
min_cell_temp_c           = { message = "BMS_Cells", signal = "T_Min" }
max_cell_temp_c           = { message = "BMS_Cells", signal = "T_Max" }
discharge_current_limit_a = { message = "BMS_Lim", signal = "DCL_kA", scale = 1000 }
charge_current_limit_a    = { message = "BMS_Lim", signal = "CCL_kA", scale = 1000 }
ignition_on               = { message = "VCU_State", signal = "Ign" }
range_reserve_soc_pct     = { message = "VCU_State", signal = "Reserve" }
cp_state                  = { message = "OBC_State", signal = "CP" }
plug_present              = { message = "OBC_State", signal = "Plug" }
cu_state                  = { message = "CU_State", signal = "St" }
cu_power_level            = { message = "CU_State", signal = "Lvl" }
compute_power_w           = { message = "CU_State", signal = "P_W" }

[roles.bms_fault_level]
message = "BMS_Main_Ext"
signal = "BmsState"
states = { NONE = "OK", WARNING = "WARN", STOP_REQUEST = "STOP", HARD_LIMIT = "TRIP" }

[roles.gear]
message = "VCU_State"
signal = "GearSel"
states = { P = "PARK", R = "REVERSE", N = "NEUTRAL", D = "DRIVE" }

[cycle_ms]
BMS_Cells = 100
VCU_State = 100
OBC_State = 100
CU_State = 100
'''


@pytest.fixture
def foreign(tmp_path: Path) -> tuple[Path, Path]:
    dbc = tmp_path / "lab_bms.dbc"
    dbc.write_text(FOREIGN_DBC, encoding="ascii")
    smap = tmp_path / "lab_bms.signals.toml"
    smap.write_text(FOREIGN_MAP, encoding="utf-8")
    return dbc, smap


def test_foreign_map_binds_with_scaling_states_and_cycle_overrides(foreign) -> None:
    dbc, smap = foreign
    db = load_dbc(dbc)
    sm = load_signal_map(smap, db)
    assert sm.roles["soc_pct"].scale == 100.0
    assert sm.roles["gear"].raw_by_state == {"P": 0, "R": 1, "N": 2, "D": 4}
    assert sm.cycle_time_s == {"BMS_Main_Ext": 0.05, "BMS_Cells": 0.1, "BMS_Lim": 0.2,
                               "VCU_State": 0.1, "OBC_State": 0.1, "CU_State": 0.1}
    assert sm.e2e_data_id_base == {}
    assert sm.cells == {}


def test_foreign_codec_round_trip_gives_bench_values(foreign) -> None:
    dbc, smap = foreign
    db = load_dbc(dbc)
    codec = BenchCodec(db, load_signal_map(smap, db))

    sender = codec.fresh_sender("BMS_Main_Ext")
    frame = sender.encode({"pack_voltage_v": 351.25, "pack_current_a": -12.3, "soc_pct": 55.0,
                           "bms_fault_level": "STOP_REQUEST"})
    assert frame.is_extended_id and frame.arbitration_id == 0x18FF50E5
    raw = cantools.database.load_file(dbc).decode_message(frame.arbitration_id, frame.data,
                                                          decode_choices=False)
    assert raw["SocFrac"] == pytest.approx(0.55, abs=0.0005)       # the DBC sees a fraction ...
    assert raw["BmsState"] == 2
    roles = codec.for_frame(frame).decode_roles(frame.data)
    assert roles["soc_pct"] == pytest.approx(55.0, abs=0.05)       # ... the bench sees percent
    assert roles["pack_voltage_v"] == pytest.approx(351.25, abs=0.025)
    assert roles["pack_current_a"] == pytest.approx(-12.3, abs=0.05)
    assert roles["bms_fault_level"] == "STOP_REQUEST"

    cells = codec.fresh_sender("BMS_Cells").encode({"min_cell_voltage_v": 3.456, "max_cell_voltage_v": 3.5,
                                                    "min_cell_temp_c": -7, "max_cell_temp_c": 31})
    roles = codec.for_frame(cells).decode_roles(cells.data)
    assert roles["min_cell_voltage_v"] == pytest.approx(3.456, abs=0.0005)
    assert roles["min_cell_temp_c"] == -7

    vcu = codec.fresh_sender("VCU_State").encode({"gear": "D", "ignition_on": 1, "range_reserve_soc_pct": 30})
    assert cantools.database.load_file(dbc).decode_message(vcu.arbitration_id, vcu.data)["GearSel"] == "DRIVE"
    assert codec.for_frame(vcu).decode_roles(vcu.data)["gear"] == "D"


def test_bench_runs_on_a_foreign_dbc(foreign) -> None:
    """The same nodes and monitor work unchanged on a DBC with other names, IDs and units."""
    dbc, smap = foreign
    with Bench(BenchConfig(emulate=NO_DUT, dbc=dbc, signal_map=smap, soc_pct=63.0)) as bench:
        bench.run_for(3.0)
        latest = bench.monitor.latest
        assert bench.monitor.unknown_frames == 0 and bench.monitor.decode_errors == 0
        assert latest["soc_pct"] == pytest.approx(bench.pack.soc * 100, abs=0.3)
        assert latest["pack_voltage_v"] == pytest.approx(bench.pack.pack_voltage_v, abs=0.5)
        assert latest["gear"] == "P"
        assert latest["bms_fault_level"] == "NONE"
        assert latest["discharge_current_limit_a"] > 0
        assert bench.monitor.stats["BMS_Main_Ext"].mean_period_s == pytest.approx(0.05, rel=0.01)
        assert bench.monitor.stats["BMS_Lim"].mean_period_s == pytest.approx(0.2, rel=0.01)


def test_foreign_message_without_cycle_time_needs_an_override(foreign, tmp_path) -> None:
    dbc, smap = foreign
    text = smap.read_text(encoding="utf-8").replace("VCU_State = 100\n", "")
    path = _write(tmp_path, text, "no_cycle.toml")
    with pytest.raises(ConfigError) as info:
        load_signal_map(path, load_dbc(dbc))
    assert info.value.entry == "cycle_ms.VCU_State"
    assert "GenMsgCycleTime" in str(info.value)


def test_every_problem_of_a_map_is_reported_at_once(tmp_path, db, default_text) -> None:
    text = (default_text.replace('signal = "SOC" }', 'signal = "PackVoltage" }')
                        .replace('gear                      = { message = "VCU_VehicleStatus", signal = "Gear" }',
                                 'gear = { message = "VCU_VehicleStatus", signal = "Gearr" }')
                        .replace("[cells.voltage]", "[timing]\nstale_cycles = 0.5\n\n[cells.voltage]"))
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_signal_map(path, db)
    got = [(p.entry, p.line) for p in info.value.problems]
    lines = text.splitlines()
    assert got == [("roles.soc_pct.signal", next(n for n, x in enumerate(lines, 1) if "PackVoltage\" }" in x
                                                  and x.startswith("soc_pct"))),
                   ("roles.gear.signal", next(n for n, x in enumerate(lines, 1) if '"Gearr"' in x)),
                   ("timing.stale_cycles", next(n for n, x in enumerate(lines, 1) if x.startswith("stale_cycles")))]
    assert 'is in "V" but role "soc_pct" is in "%"' in str(info.value)
