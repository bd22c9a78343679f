"""A small car-like DBC and its signal map, written as a lab would: shared by the foreign-DBC tests."""

from __future__ import annotations

from pathlib import Path

from hilbench.bus import compute_unit_dbc_path

NO_DUT = frozenset({"bms", "vcu", "obc"})

#: A car-like DBC: pack values and cell extremes share one multiplexed message, the gear has
#: no value table, cells are numbered from 0, a message nobody maps has overlapping signals,
#: and the vehicle message comes once a second with a sum checksum and a counter.
CAR_DBC = '''VERSION "car 1"

BS_:

BU_: BMS VCU OBC GW

BO_ 832 BMS_Mux: 8 BMS
 SG_ Page M : 0|2@1+ (1,0) [0|3] "" GW
 SG_ PackVolt m0 : 8|16@1+ (0.1,0) [0|1000] "V" GW
 SG_ PackAmp m0 : 24|16@1- (0.1,0) [-3000|3000] "A" GW
 SG_ Soc m0 : 40|10@1+ (0.1,0) [0|100] "%" GW
 SG_ CellVmin m1 : 8|16@1+ (1,0) [0|5000] "mV" GW
 SG_ CellVmax m1 : 24|16@1+ (1,0) [0|5000] "mV" GW
 SG_ CellTmin m1 : 40|8@1+ (1,-40) [-40|215] "degC" GW
 SG_ CellTmax m1 : 48|8@1+ (1,-40) [-40|215] "degC" GW
 SG_ Dcl m2 : 8|16@1+ (0.1,0) [0|3000] "A" GW
 SG_ Ccl m2 : 24|16@1+ (0.1,0) [0|3000] "A" GW
 SG_ FaultLvl m2 : 40|2@1+ (1,0) [0|3] "" GW

BO_ 833 BMS_Cells: 8 BMS
 SG_ Grp M : 0|8@1+ (1,0) [0|255] "" GW
 SG_ Cell_0 m0 : 8|16@1+ (0.001,0) [0|65.535] "V" GW
 SG_ Cell_1 m0 : 24|16@1+ (0.001,0) [0|65.535] "V" GW
 SG_ Cell_2 m1 : 8|16@1+ (0.001,0) [0|65.535] "V" GW
 SG_ Cell_3 m1 : 24|16@1+ (0.001,0) [0|65.535] "V" GW

BO_ 1280 VCU_Slow: 8 VCU
 SG_ Prndl : 0|3@1+ (1,0) [0|7] "" GW
 SG_ Ign : 3|1@1+ (1,0) [0|1] "" GW
 SG_ Reserve : 8|8@1+ (0.5,0) [10|100] "%" GW
 SG_ Counter : 52|4@1+ (1,0) [0|15] "" GW
 SG_ Checksum : 56|8@1+ (1,0) [0|255] "" GW

BO_ 1536 OBC_State: 8 OBC
 SG_ Pilot : 0|3@1+ (1,0) [0|7] "" GW
 SG_ Plugged : 3|1@1+ (1,0) [0|1] "" GW

BO_ 1792 Radio: 8 GW
 SG_ Volume : 0|16@1+ (1,0) [0|100] "" BMS
 SG_ Station : 8|16@1+ (1,0) [0|100] "" BMS

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 832 20;
BA_ "GenMsgCycleTime" BO_ 833 100;
BA_ "GenMsgCycleTime" BO_ 1280 500;
BA_ "GenMsgCycleTime" BO_ 1536 100;

VAL_ 1536 Pilot 0 "A" 1 "B" 2 "C" 3 "D" 4 "E" 5 "F" ;
VAL_ 832 FaultLvl 0 "OK" 1 "WARN" 2 "STOP" 3 "TRIP" ;
'''

CAR_MAP = '''dbc = ["car.dbc", "{cu}"]

[roles]
pack_voltage_v            = {{ message = "BMS_Mux", signal = "PackVolt", mux = 0 }}
pack_current_a            = {{ message = "BMS_Mux", signal = "PackAmp", mux = 0 }}
soc_pct                   = {{ message = "BMS_Mux", signal = "Soc", mux = 0 }}
min_cell_voltage_v        = {{ message = "BMS_Mux", signal = "CellVmin", mux = 1, scale = 0.001 }}
max_cell_voltage_v        = {{ message = "BMS_Mux", signal = "CellVmax", mux = 1, dbc_unit = "mV", scale = 0.001 }}
min_cell_temp_c           = {{ message = "BMS_Mux", signal = "CellTmin", mux = 1 }}
max_cell_temp_c           = {{ message = "BMS_Mux", signal = "CellTmax", mux = 1 }}
discharge_current_limit_a = {{ message = "BMS_Mux", signal = "Dcl", mux = 2 }}
charge_current_limit_a    = {{ message = "BMS_Mux", signal = "Ccl", mux = 2 }}
bms_fault_level = {{ message = "BMS_Mux", signal = "FaultLvl", mux = 2, \
states = {{ NONE = "OK", WARNING = "WARN", STOP_REQUEST = "STOP", HARD_LIMIT = "TRIP" }} }}
gear                      = {{ message = "VCU_Slow", signal = "Prndl", states = {{ P = 0, R = 1, N = 2, D = 4 }} }}
ignition_on               = {{ message = "VCU_Slow", signal = "Ign" }}
range_reserve_soc_pct     = {{ message = "VCU_Slow", signal = "Reserve" }}
cp_state                  = {{ message = "OBC_State", signal = "Pilot" }}
plug_present              = {{ message = "OBC_State", signal = "Plugged" }}
cu_state                  = {{ message = "CU_Status", signal = "SupervisorState" }}
cu_power_level            = {{ message = "CU_Status", signal = "PowerLevel" }}
cu_reason                 = {{ message = "CU_Status", signal = "SupervisorReason" }}
compute_power_w           = {{ message = "CU_Status", signal = "ComputePower" }}

[cells.voltage]
message = "BMS_Cells"
multiplexer = "Grp"
signal = "Cell_{{index}}"
per_frame = 2
first_index = 0

[protection.VCU_Slow]
scheme = "sum"
checksum = "Checksum"
counter = "Counter"
frame_id_bytes = "le"

[bus]
ignore_ids = [0x7DF, "0x7E0-0x7EF"]
'''


def write_car(folder: Path, dbc: str = CAR_DBC, smap: str | None = None) -> Path:
    (folder / "car.dbc").write_text(dbc, encoding="ascii")
    path = folder / "car.signals.toml"
    path.write_text(smap if smap is not None else CAR_MAP.format(cu=compute_unit_dbc_path()), encoding="utf-8")
    return path
