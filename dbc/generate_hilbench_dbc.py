"""Write ``dbc/hilbench.dbc`` and ``dbc/compute_unit.dbc``, the bench's own DBCs.

``hilbench.dbc`` holds the vehicle side (BMS, VCU, OBC); ``compute_unit.dbc``
holds only the compute unit's own messages, so a lab overlays it on a car's
DBC (``dbc = ["car.dbc", "compute_unit.dbc"]`` in a signal map) without
editing either file.

The DBC is hand-designed; this script only spells out the repetitive parts
(multiplexed per-cell signals, the CAN FD module message) so that a change of
layout is made in one place.  Run it from the repository root; the DBC it
writes is committed and is the contract, this script is a convenience.

Layout conventions (see docs/dbc.md):
- Safety-relevant messages carry AUTOSAR E2E profile 2 protection: CRC-8H2F in
  byte 0 and a 4-bit alive counter in bits 8..11.  The data ID list of each
  message is ``[(E2EDataIdBase + counter) & 0xFF for counter in 0..15]``.
- Current is positive when it leaves the pack (discharge).
- Temperatures are 8-bit with offset -40 degC.
"""

from __future__ import annotations

import re
from pathlib import Path

CELLS_PER_MUX_FRAME = 4
CELL_GROUPS = 64          # 256 cells at most
TEMPS_PER_MUX_FRAME = 7
TEMP_GROUPS = 16          # 112 sensors at most
CELLS_PER_FD_MODULE = 24
FD_MODULES = 16           # 384 cells at most

NODES = ["BMS", "VCU", "OBC", "CU", "BENCH"]

HEADER = '''VERSION "hilbench 1"


NS_ :
	NS_DESC_
	CM_
	BA_DEF_
	BA_
	VAL_
	BA_DEF_DEF_
	SIG_GROUP_
	SG_MUL_VAL_

BS_:

BU_: {nodes}

'''


def e2e_header(receivers: str) -> list[str]:
    return [
        f' SG_ CRC : 0|8@1+ (1,0) [0|255] "" {receivers}',
        f' SG_ AliveCounter : 8|4@1+ (1,0) [0|15] "" {receivers}',
    ]


def message(frame_id: int, name: str, dlc: int, sender: str, signals: list[str]) -> str:
    return "\n".join([f"BO_ {frame_id} {name}: {dlc} {sender}", *signals]) + "\n"


#: Frame IDs of the compute unit's own messages, written to ``compute_unit.dbc``.
COMPUTE_UNIT_IDS = frozenset({0x400, 0x401, 0x402, 0x403})
_REFERENCE = re.compile(r"^(?:BO_|VAL_|CM_ BO_|CM_ SG_|BA_ \"\w+\" BO_) (\d+)")


def build(part: str = "vehicle") -> str:
    """The text of one of the bench's DBCs: ``"vehicle"`` (hilbench.dbc) or ``"compute_unit"``."""
    keep_cu = {"vehicle": False, "compute_unit": True}[part]
    pieces = _build_all()
    out = [pieces[0]]
    for piece in pieces[1:]:
        match = _REFERENCE.match(piece.lstrip("\n"))
        if match is None or (int(match.group(1)) in COMPUTE_UNIT_IDS) == keep_cu:
            if match is None and keep_cu and piece.startswith('\nCM_ "hilbench bench DBC'):
                piece = ('\nCM_ "hilbench compute unit DBC: the status, power request and energy messages of a compute '
                         'unit running inference on a parked EV. Overlay it on a car\'s DBC through a signal map.";\n')
            out.append(piece)
    return "".join(out)


def _build_all() -> list[str]:
    out: list[str] = [HEADER.format(nodes=" ".join(NODES))]
    all_rx = "CU,VCU,OBC,BENCH"

    # ---------------------------------------------------------------- BMS
    out.append(message(0x100, "BMS_PackStatus", 8, "BMS", [
        *e2e_header(all_rx),
        f' SG_ ContactorState : 12|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ BalancingActive : 14|1@1+ (1,0) [0|1] "" {all_rx}',
        f' SG_ PackVoltage : 16|16@1+ (0.1,0) [0|1000] "V" {all_rx}',
        f' SG_ PackCurrent : 32|16@1- (0.1,0) [-3000|3000] "A" {all_rx}',
        f' SG_ SOC : 48|10@1+ (0.1,0) [0|100] "%" {all_rx}',
    ]))
    out.append(message(0x101, "BMS_CellExtremes", 8, "BMS", [
        *e2e_header(all_rx),
        f' SG_ MinCellVoltage : 16|16@1+ (0.001,0) [0|5] "V" {all_rx}',
        f' SG_ MaxCellVoltage : 32|16@1+ (0.001,0) [0|5] "V" {all_rx}',
        f' SG_ MinCellTemp : 48|8@1+ (1,-40) [-40|215] "degC" {all_rx}',
        f' SG_ MaxCellTemp : 56|8@1+ (1,-40) [-40|215] "degC" {all_rx}',
    ]))
    out.append(message(0x102, "BMS_Limits", 8, "BMS", [
        *e2e_header(all_rx),
        f' SG_ DischargeCurrentLimit : 16|16@1+ (0.1,0) [0|3000] "A" {all_rx}',
        f' SG_ ChargeCurrentLimit : 32|16@1+ (0.1,0) [0|3000] "A" {all_rx}',
        f' SG_ MaxChargeVoltage : 48|16@1+ (0.1,0) [0|1000] "V" {all_rx}',
    ]))
    out.append(message(0x103, "BMS_Faults", 8, "BMS", [
        *e2e_header(all_rx),
        f' SG_ FaultLevel : 12|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ CellOverVoltage : 16|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ CellUnderVoltage : 18|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ OverTempDischarge : 20|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ UnderTempDischarge : 22|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ OverTempCharge : 24|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ UnderTempCharge : 26|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ OverCurrent : 28|2@1+ (1,0) [0|3] "" {all_rx}',
        f' SG_ Chemistry : 32|4@1+ (1,0) [0|15] "" {all_rx}',
        f' SG_ CellsInSeries : 40|10@1+ (1,0) [0|1023] "" {all_rx}',
        f' SG_ CellVoltageMinLimit : 50|14@1+ (0.001,0) [0|16.383] "V" {all_rx}',
    ]))

    cell_signals = [' SG_ CellGroup M : 0|8@1+ (1,0) [0|255] "" BENCH']
    for group in range(CELL_GROUPS):
        for k in range(CELLS_PER_MUX_FRAME):
            cell = group * CELLS_PER_MUX_FRAME + k + 1
            start = 8 + 14 * k
            cell_signals.append(
                f' SG_ CellVoltage{cell:03d} m{group} : {start}|14@1+ (0.001,0) [0|16.383] "V" BENCH'
            )
    out.append(message(0x110, "BMS_CellVoltages", 8, "BMS", cell_signals))

    temp_signals = [' SG_ TempGroup M : 0|8@1+ (1,0) [0|255] "" BENCH']
    for group in range(TEMP_GROUPS):
        for k in range(TEMPS_PER_MUX_FRAME):
            sensor = group * TEMPS_PER_MUX_FRAME + k + 1
            start = 8 + 8 * k
            temp_signals.append(
                f' SG_ CellTemp{sensor:03d} m{group} : {start}|8@1+ (1,-40) [-40|215] "degC" BENCH'
            )
    out.append(message(0x111, "BMS_CellTemps", 8, "BMS", temp_signals))

    fd_signals = [
        ' SG_ ModuleIndex M : 0|8@1+ (1,0) [0|255] "" BENCH',
        ' SG_ ModuleCellCount : 8|8@1+ (1,0) [0|255] "" BENCH',
    ]
    for module in range(FD_MODULES):
        for k in range(CELLS_PER_FD_MODULE):
            start = 16 + 16 * k
            fd_signals.append(
                f' SG_ M{module:02d}Cell{k + 1:02d}Voltage m{module} : {start}|16@1+ (0.001,0) [0|65.535] "V" BENCH'
            )
    out.append(message(0x118, "BMS_ModuleCellsFD", 64, "BMS", fd_signals))

    # ---------------------------------------------------------------- VCU
    out.append(message(0x200, "VCU_VehicleStatus", 8, "VCU", [
        *e2e_header("BMS,OBC,CU,BENCH"),
        ' SG_ Gear : 12|3@1+ (1,0) [0|7] "" BMS,OBC,CU,BENCH',
        ' SG_ Ignition : 15|1@1+ (1,0) [0|1] "" BMS,OBC,CU,BENCH',
        ' SG_ DriveRequested : 16|1@1+ (1,0) [0|1] "" BMS,OBC,CU,BENCH',
        ' SG_ ComputeAllowed : 17|1@1+ (1,0) [0|1] "" CU,BENCH',
        ' SG_ AmbientTemp : 24|8@1+ (0.5,-40) [-40|87.5] "degC" BMS,OBC,CU,BENCH',
        ' SG_ CoolantTemp : 32|8@1+ (1,-40) [-40|215] "degC" CU,BENCH',
        ' SG_ RangeReserveSOC : 40|8@1+ (0.5,0) [0|100] "%" BMS,CU,BENCH',
    ]))

    # ---------------------------------------------------------------- OBC / EVSE
    out.append(message(0x300, "OBC_ChargerStatus", 8, "OBC", [
        *e2e_header("BMS,VCU,CU,BENCH"),
        ' SG_ ControlPilotState : 12|3@1+ (1,0) [0|7] "" BMS,VCU,CU,BENCH',
        ' SG_ PlugPresent : 15|1@1+ (1,0) [0|1] "" BMS,VCU,CU,BENCH',
        ' SG_ PilotDutyCycle : 16|8@1+ (0.5,0) [0|100] "%" BMS,VCU,CU,BENCH',
        ' SG_ EvseMaxCurrent : 24|8@1+ (0.5,0) [0|127.5] "A" BMS,VCU,CU,BENCH',
        ' SG_ ChargeCurrent : 32|12@1+ (0.1,0) [0|409.5] "A" BMS,VCU,CU,BENCH',
        ' SG_ CableRating : 44|3@1+ (1,0) [0|7] "" BMS,VCU,CU,BENCH',
        ' SG_ ChargePower : 48|16@1+ (1,0) [0|65535] "W" BMS,VCU,CU,BENCH',
    ]))

    # ---------------------------------------------------------------- compute unit
    out.append(message(0x400, "CU_Status", 8, "CU", [
        *e2e_header("BMS,VCU,OBC,BENCH"),
        ' SG_ SupervisorState : 12|4@1+ (1,0) [0|15] "" BMS,VCU,OBC,BENCH',
        ' SG_ PowerLevel : 16|4@1+ (1,0) [0|15] "" BMS,VCU,OBC,BENCH',
        ' SG_ SupervisorReason : 20|8@1+ (1,0) [0|255] "" BMS,VCU,OBC,BENCH',
        ' SG_ ComputePower : 28|12@1+ (0.1,0) [0|409.5] "W" BMS,VCU,OBC,BENCH',
        ' SG_ JunctionTemp : 40|8@1+ (1,-40) [-40|215] "degC" BMS,VCU,OBC,BENCH',
        ' SG_ TokensPerSecond : 48|16@1+ (0.01,0) [0|655.35] "tok/s" BMS,VCU,OBC,BENCH',
    ]))
    out.append(message(0x401, "CU_PowerRequest", 8, "CU", [
        *e2e_header("BMS,VCU,BENCH"),
        ' SG_ RequestedLevel : 12|4@1+ (1,0) [0|15] "" BMS,VCU,BENCH',
        ' SG_ RequestedPackCurrent : 16|16@1+ (0.01,0) [0|655.35] "A" BMS,VCU,BENCH',
        ' SG_ KeepAwake : 32|1@1+ (1,0) [0|1] "" BMS,VCU,BENCH',
    ]))
    out.append(message(0x403, "CU_InputHealth", 8, "CU", [
        ' SG_ ReasonFrameId : 0|29@1+ (1,0) [0|536870911] "" BMS,VCU,OBC,BENCH',
        ' SG_ ReasonInputState : 29|3@1+ (1,0) [0|7] "" BMS,VCU,OBC,BENCH',
    ]))
    out.append(message(0x402, "CU_Energy", 8, "CU", [
        ' SG_ TokensTotal : 0|32@1+ (1,0) [0|4294967295] "tok" BENCH',
        ' SG_ EnergyFromPack : 32|16@1+ (1,0) [0|65535] "Wh" BENCH',
        ' SG_ EnergyFromGrid : 48|16@1+ (1,0) [0|65535] "Wh" BENCH',
    ]))

    cycle_ms = {
        0x100: 20, 0x101: 100, 0x102: 100, 0x103: 100, 0x110: 20, 0x111: 50,
        0x118: 100, 0x200: 100, 0x300: 100, 0x400: 100, 0x401: 100, 0x402: 1000, 0x403: 1000,
    }
    e2e_base = {0x100: 0x10, 0x101: 0x20, 0x102: 0x30, 0x103: 0x40, 0x200: 0x50,
                0x300: 0x60, 0x400: 0x70, 0x401: 0x80}

    comments = {
        0x100: "Pack values, sampled every cycle. Current positive = discharge.",
        0x101: "Extremes over all cells and sensors.",
        0x102: "Discharge/charge current limits derated by the BMS with temperature and SOC; "
               "consumers must stay within them.",
        0x103: "Safe-operating-area levels per check: 0 none, 1 warning/derate, 2 request to stop, "
               "3 hard limit (contactors open).",
        0x110: "Cell voltages, 4 cells per frame, groups sent round robin (one frame per cycle).",
        0x111: "Cell temperature sensors, 7 per frame, groups sent round robin.",
        0x118: "CAN FD: all cell voltages of one module (up to 24) per frame, modules round robin.",
        0x200: "Vehicle state as the VCU sees it, and the driver's range reserve.",
        0x300: "IEC 61851-1 control pilot and proximity, and the on-board charger output.",
        0x400: "Compute unit status: supervisor state and reason, power level, power, junction temperature, tokens/s.",
        0x401: "Compute unit request for HV power.",
        0x402: "Compute unit energy and token accounting.",
        0x403: "Which input the compute unit stopped for (stale or failing E2E): its frame ID (0: none) "
               "and its E2E receiver state.",
    }

    out.append('\nCM_ "hilbench bench DBC: BMS, VCU and OBC/EVSE of a parked EV whose compute unit runs inference '
               '(its messages are in compute_unit.dbc). 500 kbit/s classic CAN, one CAN FD message '
               '(2 Mbit/s data phase).";\n')
    for fid, text in comments.items():
        out.append(f'CM_ BO_ {fid} "{text}";\n')
    out.append('CM_ SG_ 256 PackCurrent "Positive when current leaves the pack (discharge).";\n')
    out.append('CM_ SG_ 512 RangeReserveSOC "SOC the driver wants kept for driving; '
               'compute must never take the pack below it.";\n')

    out.append('\nBA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;\n')
    out.append('BA_DEF_ BO_ "GenMsgSendType" ENUM "Cyclic","Event","IfActive";\n')
    out.append('BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN",'
               + ",".join(['"reserved"'] * 12) + ',"StandardCAN_FD","ExtendedCAN_FD";\n')
    out.append('BA_DEF_ BO_ "E2EProfile" STRING ;\n')
    out.append('BA_DEF_ BO_ "E2EDataIdBase" INT 0 255;\n')
    out.append('BA_DEF_ "BusType" STRING ;\n')
    out.append('BA_DEF_ "Baudrate" INT 0 1000000;\n')
    out.append('BA_DEF_ "BaudrateCANFD" INT 0 8000000;\n')
    out.append('BA_DEF_DEF_ "GenMsgCycleTime" 0;\n')
    out.append('BA_DEF_DEF_ "GenMsgSendType" "Cyclic";\n')
    out.append('BA_DEF_DEF_ "VFrameFormat" "StandardCAN";\n')
    out.append('BA_DEF_DEF_ "E2EProfile" "";\n')
    out.append('BA_DEF_DEF_ "E2EDataIdBase" 0;\n')
    out.append('BA_DEF_DEF_ "BusType" "CAN FD";\n')
    out.append('BA_DEF_DEF_ "Baudrate" 500000;\n')
    out.append('BA_DEF_DEF_ "BaudrateCANFD" 2000000;\n')
    out.append('BA_ "BusType" "CAN FD";\n')
    out.append('BA_ "Baudrate" 500000;\n')
    out.append('BA_ "BaudrateCANFD" 2000000;\n')
    for fid, ms in cycle_ms.items():
        out.append(f'BA_ "GenMsgCycleTime" BO_ {fid} {ms};\n')
    out.append('BA_ "VFrameFormat" BO_ 280 14;\n')
    for fid, base in e2e_base.items():
        out.append(f'BA_ "E2EProfile" BO_ {fid} "P02";\n')
        out.append(f'BA_ "E2EDataIdBase" BO_ {fid} {base};\n')

    out.append("\n")
    out.append('VAL_ 256 ContactorState 0 "OPEN" 1 "PRECHARGE" 2 "CLOSED" 3 "WELDED" ;\n')
    levels = '0 "NONE" 1 "WARNING" 2 "STOP_REQUEST" 3 "HARD_LIMIT"'
    for sig in ["FaultLevel", "CellOverVoltage", "CellUnderVoltage", "OverTempDischarge",
                "UnderTempDischarge", "OverTempCharge", "UnderTempCharge", "OverCurrent"]:
        out.append(f"VAL_ 259 {sig} {levels} ;\n")
    out.append('VAL_ 259 Chemistry 0 "LFP" 1 "NMC" 2 "SODIUM_ION" 3 "SOLID_STATE" ;\n')
    out.append('VAL_ 512 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;\n')
    out.append('VAL_ 512 Ignition 0 "OFF" 1 "ON" ;\n')
    out.append('VAL_ 768 ControlPilotState 0 "A" 1 "B" 2 "C" 3 "D" 4 "E" 5 "F" ;\n')
    out.append('VAL_ 768 CableRating 0 "NONE" 1 "13A" 2 "20A" 3 "32A" 4 "63A" ;\n')
    out.append('VAL_ 1024 SupervisorState 0 "OFF" 1 "STANDBY" 2 "RUNNING" 3 "DERATED" 4 "SAFE_STOP" 5 "FAULT" ;\n')
    out.append('VAL_ 1024 PowerLevel 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;\n')
    out.append('VAL_ 1027 ReasonInputState 0 "NONE" 1 "NODATA" 2 "INIT" 3 "VALID" 4 "INVALID" 5 "STALE" ;\n')
    out.append('VAL_ 1025 RequestedLevel 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;\n')
    reasons = [
        "NONE", "NOT_REQUESTED", "GEAR_NOT_PARK", "DRIVE_REQUESTED", "SOC_RESERVE", "DCL_LIMIT",
        "CELL_VOLTAGE_LOW", "CELL_TEMP_WINDOW", "JUNCTION_THROTTLE", "JUNCTION_CRITICAL",
        "BMS_STALE", "VCU_STALE", "OBC_STALE", "E2E_ERROR", "BMS_FAULT", "CHARGE_ONLY",
        "IGNITION_ON", "RESUMED", "NO_DATA",
    ]
    out.append("VAL_ 1024 SupervisorReason " + " ".join(f'{i} "{r}"' for i, r in enumerate(reasons)) + " ;\n")
    return out


if __name__ == "__main__":
    for name, part in (("hilbench.dbc", "vehicle"), ("compute_unit.dbc", "compute_unit")):
        target = Path(__file__).with_name(name)
        target.write_text(build(part), encoding="ascii")
        print(f"wrote {target}")
