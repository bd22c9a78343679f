"""The car and its charging: gear, plug, control pilot, charge power, climate."""

from __future__ import annotations

from hilbench.bench import BenchSnapshot

from .format import flag, number, state
from .readout import ReadoutPanel, Row

GEAR_STYLES = {"P": "green", "D": "bold yellow", "R": "bold yellow", "N": "yellow"}
CP_STYLES = {"A": "dim", "B": "cyan", "C": "bold green", "D": "bold green", "E": "bold red", "F": "bold red"}


class VehiclePanel(ReadoutPanel):
    """Gear, ignition, plug, CP state, charge power, EVSE current, ambient, coolant and reserve."""

    TITLE = "vehicle / charging"
    HEADERS = ("plant", "bus")
    VALUE_WIDTH = 9

    def rows(self, snapshot: BenchSnapshot) -> list[Row]:
        """The plant's vehicle and charging state beside what the VCU and OBC frames say."""
        s, bus = snapshot, snapshot.bus
        plug_bus = bus.get("plug_present")
        return [
            ("gear", state(s.gear, GEAR_STYLES), state(bus.get("gear"), GEAR_STYLES)),
            ("ignition", flag(s.ignition_on, "on", "off"), flag(bus.get("ignition_on"), "on", "off")),
            ("plug", flag(s.plugged_in, "in", "out"), flag(plug_bus, "in", "out")),
            ("CP state", state(s.cp_state, CP_STYLES), state(bus.get("cp_state"), CP_STYLES)),
            ("charge power", number(s.charge_power_w / 1000.0, ".2f", "kW"),
             number(_kw(bus.get("charge_power_w")), ".2f", "kW")),
            ("EVSE max current", number(s.evse_available_a, ".0f", "A"),
             number(bus.get("evse_max_current_a"), ".0f", "A")),
            ("ambient", number(s.ambient_c, ".1f", "C"), number(bus.get("ambient_temp_c"), ".1f", "C")),
            ("coolant", number(s.coolant_c if s.coolant_c is not None else s.ambient_c, ".1f", "C"),
             number(bus.get("coolant_temp_c"), ".1f", "C")),
            ("range reserve", number(s.reserve_soc_pct, ".0f", "%"),
             number(bus.get("range_reserve_soc_pct"), ".0f", "%")),
        ]


def _kw(watts: object) -> object:
    return watts / 1000.0 if isinstance(watts, (int, float)) and not isinstance(watts, bool) else watts
