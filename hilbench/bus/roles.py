"""The roles the bench needs from a DBC, independent of any DBC's names.

A signal map binds each role to a message and signal of a concrete DBC.
Numeric roles carry SI-ish units in their names; enumerated roles carry
bench state names that the map translates to the DBC's value table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    producer: str            # "bms", "vcu", "obc", "cu": which node sends it
    unit: str = ""
    states: tuple[str, ...] = ()   # non-empty for enumerated roles
    required: bool = True

    @property
    def is_enum(self) -> bool:
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

_ROLES = [
    # BMS
    Role("pack_voltage_v", "bms", "V"),
    Role("pack_current_a", "bms", "A"),
    Role("soc_pct", "bms", "%"),
    Role("min_cell_voltage_v", "bms", "V"),
    Role("max_cell_voltage_v", "bms", "V"),
    Role("min_cell_temp_c", "bms", "degC"),
    Role("max_cell_temp_c", "bms", "degC"),
    Role("discharge_current_limit_a", "bms", "A"),
    Role("charge_current_limit_a", "bms", "A"),
    Role("max_charge_voltage_v", "bms", "V", required=False),
    Role("contactor_state", "bms", states=CONTACTOR_STATES, required=False),
    Role("bms_fault_level", "bms", states=FAULT_LEVELS),
    Role("cell_over_voltage", "bms", states=FAULT_LEVELS, required=False),
    Role("cell_under_voltage", "bms", states=FAULT_LEVELS, required=False),
    Role("over_temp_discharge", "bms", states=FAULT_LEVELS, required=False),
    Role("under_temp_discharge", "bms", states=FAULT_LEVELS, required=False),
    Role("over_temp_charge", "bms", states=FAULT_LEVELS, required=False),
    Role("under_temp_charge", "bms", states=FAULT_LEVELS, required=False),
    Role("over_current", "bms", states=FAULT_LEVELS, required=False),
    Role("chemistry", "bms", states=CHEMISTRIES, required=False),
    Role("cells_in_series", "bms", required=False),
    Role("cell_voltage_min_limit_v", "bms", "V", required=False),
    # VCU
    Role("gear", "vcu", states=GEARS),
    Role("ignition_on", "vcu"),
    Role("drive_requested", "vcu", required=False),
    Role("compute_allowed", "vcu", required=False),
    Role("ambient_temp_c", "vcu", "degC", required=False),
    Role("coolant_temp_c", "vcu", "degC", required=False),
    Role("range_reserve_soc_pct", "vcu", "%"),
    # OBC / EVSE
    Role("cp_state", "obc", states=CP_STATES),
    Role("plug_present", "obc"),
    Role("pilot_duty_pct", "obc", "%", required=False),
    Role("evse_max_current_a", "obc", "A", required=False),
    Role("charge_current_a", "obc", "A", required=False),
    Role("cable_rating", "obc", required=False),
    Role("charge_power_w", "obc", "W", required=False),
    # compute unit
    Role("cu_state", "cu", states=SUPERVISOR_STATES),
    Role("cu_power_level", "cu", states=POWER_LEVELS),
    Role("cu_reason", "cu", states=REASONS, required=False),
    Role("compute_power_w", "cu", "W"),
    Role("junction_temp_c", "cu", "degC", required=False),
    Role("tokens_per_s", "cu", "tok/s", required=False),
    Role("cu_requested_level", "cu", states=POWER_LEVELS, required=False),
    Role("cu_requested_pack_current_a", "cu", "A", required=False),
    Role("cu_keep_awake", "cu", required=False),
    Role("tokens_total", "cu", "tok", required=False),
    Role("energy_from_pack_wh", "cu", "Wh", required=False),
    Role("energy_from_grid_wh", "cu", "Wh", required=False),
]

ROLES: dict[str, Role] = {role.name: role for role in _ROLES}
