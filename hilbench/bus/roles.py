"""The roles the bench needs from a DBC, independent of any DBC's names.

A signal map binds each role to a message and signal of a concrete DBC.
Numeric roles carry SI-ish units in their names; enumerated roles carry
bench state names that the map translates to the DBC's value table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    """One quantity the bench needs, in the bench's unit and sign, whatever a DBC calls it.

    ``required`` roles are the ones the bundled compute unit cannot decide
    without (its inputs) or be judged without (its outputs); they must be
    mapped when that compute unit runs, and need not be when a real one does.
    """

    name: str
    producer: str            # "bms", "vcu", "obc", "cu": which node sends it
    unit: str = ""
    states: tuple[str, ...] = ()   # non-empty for enumerated roles
    required: bool = True
    meaning: str = ""        # what the value means, with its sign convention

    @property
    def is_enum(self) -> bool:
        """Whether the role takes named states (gear, contactor state, ...) rather than a number."""
        return bool(self.states)


GEARS = ("P", "R", "N", "D")
CP_STATES = ("A", "B", "C", "D", "E", "F")
CONTACTOR_STATES = ("OPEN", "PRECHARGE", "CLOSED", "WELDED")
FAULT_LEVELS = ("NONE", "WARNING", "STOP_REQUEST", "HARD_LIMIT")
SUPERVISOR_STATES = ("OFF", "STANDBY", "RUNNING", "DERATED", "SAFE_STOP", "FAULT")
POWER_LEVELS = ("OFF", "IDLE", "P25", "P50", "P75", "P100")
REASONS = (
    "NONE", "NOT_REQUESTED", "GEAR_NOT_PARK", "DRIVE_REQUESTED", "SOC_RESERVE", "DCL_LIMIT",
    "CELL_VOLTAGE_LOW", "CELL_TEMP_WINDOW", "JUNCTION_THROTTLE", "JUNCTION_CRITICAL",
    "BMS_STALE", "VCU_STALE", "OBC_STALE", "E2E_ERROR", "BMS_FAULT", "CHARGE_ONLY",
    "IGNITION_ON", "RESUMED", "NO_DATA",
)
CHEMISTRIES = ("LFP", "NMC", "SODIUM_ION", "SOLID_STATE")
#: An input's E2E receiver state as the compute unit reports it (STALE: VALID, but its data too old).
INPUT_STATES = ("NONE", "NODATA", "INIT", "VALID", "INVALID", "STALE")

_ROLES = [
    # BMS
    Role("pack_voltage_v", "bms", "V", meaning="pack terminal voltage"),
    Role("pack_current_a", "bms", "A",
         meaning="pack current, positive when current leaves the pack (discharge), negative while charging"),
    Role("soc_pct", "bms", "%", meaning="state of charge as the BMS estimates it, 0-100 % of usable capacity"),
    Role("min_cell_voltage_v", "bms", "V", meaning="lowest cell (or parallel group) voltage in the pack"),
    Role("max_cell_voltage_v", "bms", "V", required=False, meaning="highest cell voltage in the pack"),
    Role("min_cell_temp_c", "bms", "degC", required=False, meaning="coldest cell temperature sensor"),
    Role("max_cell_temp_c", "bms", "degC", required=False, meaning="hottest cell temperature sensor"),
    Role("discharge_current_limit_a", "bms", "A",
         meaning="discharge current limit (DCL) the BMS grants now, >= 0; consumers must stay within it"),
    Role("charge_current_limit_a", "bms", "A", required=False,
         meaning="charge current limit (CCL) the BMS grants now, >= 0"),
    Role("max_charge_voltage_v", "bms", "V", required=False, meaning="pack voltage the charger must not exceed"),
    Role("contactor_state", "bms", states=CONTACTOR_STATES, required=False,
         meaning="main contactors: OPEN, PRECHARGE, CLOSED or WELDED"),
    Role("bms_fault_level", "bms", states=FAULT_LEVELS,
         meaning="worst safe-operating-area level: NONE, WARNING (derate), STOP_REQUEST, HARD_LIMIT (contactors open)"),
    Role("cell_over_voltage", "bms", states=FAULT_LEVELS, required=False, meaning="over-voltage check level"),
    Role("cell_under_voltage", "bms", states=FAULT_LEVELS, required=False, meaning="under-voltage check level"),
    Role("over_temp_discharge", "bms", states=FAULT_LEVELS, required=False, meaning="discharge over-temperature level"),
    Role("under_temp_discharge", "bms", states=FAULT_LEVELS, required=False,
         meaning="discharge under-temperature level"),
    Role("over_temp_charge", "bms", states=FAULT_LEVELS, required=False, meaning="charge over-temperature level"),
    Role("under_temp_charge", "bms", states=FAULT_LEVELS, required=False, meaning="charge under-temperature level"),
    Role("over_current", "bms", states=FAULT_LEVELS, required=False, meaning="over-current level"),
    Role("chemistry", "bms", states=CHEMISTRIES, required=False, meaning="cell chemistry the BMS is configured for"),
    Role("cells_in_series", "bms", required=False, meaning="number of cells (parallel groups) in series"),
    Role("cell_voltage_min_limit_v", "bms", "V", required=False,
         meaning="the chemistry's cut-off voltage per cell, which the compute unit keeps a margin above"),
    # VCU
    Role("gear", "vcu", states=GEARS, meaning="selected gear: P, R, N or D; compute is allowed only in P"),
    Role("ignition_on", "vcu", required=False, meaning="1 while the ignition (ready/run) is on"),
    Role("drive_requested", "vcu", required=False,
         meaning="1 when the driver or a schedule asks for the car to be ready to drive"),
    Role("compute_allowed", "vcu", required=False,
         meaning="1 when the owner or the orchestration layer allows compute"),
    Role("ambient_temp_c", "vcu", "degC", required=False, meaning="outside air temperature"),
    Role("coolant_temp_c", "vcu", "degC", required=False,
         meaning="coolant temperature at the compute unit's cold plate"),
    Role("range_reserve_soc_pct", "vcu", "%",
         meaning="SOC the driver wants kept for driving, in % SOC (the same scale as soc_pct); "
                 "compute must never take the pack below it"),
    # OBC / EVSE
    Role("cp_state", "obc", states=CP_STATES, required=False, meaning="IEC 61851-1 control-pilot state A-F"),
    Role("plug_present", "obc", required=False, meaning="1 while a charging cable is plugged in (proximity)"),
    Role("pilot_duty_pct", "obc", "%", required=False,
         meaning="control-pilot PWM duty cycle, % (amps = duty x 0.6 between 10 and 85 %)"),
    Role("evse_max_current_a", "obc", "A", required=False, meaning="current the EVSE offers per phase"),
    Role("charge_current_a", "obc", "A", required=False,
         meaning="current the on-board charger delivers into the pack, >= 0"),
    Role("cable_rating", "obc", required=False, meaning="cable current rating coded by the proximity resistor"),
    Role("charge_power_w", "obc", "W", required=False, meaning="DC power the charger delivers into the pack, >= 0"),
    # compute unit
    Role("cu_state", "cu", states=SUPERVISOR_STATES, meaning="compute unit supervisor state"),
    Role("cu_power_level", "cu", states=POWER_LEVELS, meaning="compute unit power level the governor runs at"),
    Role("cu_reason", "cu", states=REASONS, required=False,
         meaning="why the supervisor is in its state (the first rule that applied)"),
    Role("compute_power_w", "cu", "W", meaning="power the compute unit draws, >= 0"),
    Role("junction_temp_c", "cu", "degC", required=False, meaning="compute unit junction temperature"),
    Role("tokens_per_s", "cu", "tok/s", required=False, meaning="tokens generated per second over the last second"),
    Role("cu_requested_level", "cu", states=POWER_LEVELS, required=False,
         meaning="power level the compute unit asks for"),
    Role("cu_requested_pack_current_a", "cu", "A", required=False,
         meaning="pack current the compute unit asks for, >= 0 (discharge)"),
    Role("cu_keep_awake", "cu", required=False, meaning="1 while the compute unit asks the car to stay awake"),
    Role("cu_reason_frame_id", "cu", required=False,
         meaning="frame ID of the input message the compute unit stopped for (stale or failing E2E), 0 for none"),
    Role("cu_reason_input_state", "cu", states=INPUT_STATES, required=False,
         meaning="that input's E2E receiver state: NODATA, INIT, INVALID, or STALE (valid but too old)"),
    Role("tokens_total", "cu", "tok", required=False, meaning="tokens generated since start"),
    Role("energy_from_pack_wh", "cu", "Wh", required=False, meaning="energy the compute unit took from the pack"),
    Role("energy_from_grid_wh", "cu", "Wh", required=False,
         meaning="energy the compute unit took from the grid while charging"),
]

ROLES: dict[str, Role] = {role.name: role for role in _ROLES}
assert all(role.meaning for role in _ROLES), "every role says what it means (docs/foreign-dbc.md lists them)"
