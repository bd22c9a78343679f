"""The pack: the plant's truth beside what the BMS says on the bus."""

from __future__ import annotations

from hilbench.bench import BenchSnapshot

from .format import MISSING, number, state
from .readout import ReadoutPanel, Row

FAULT_STYLES = {"NONE": "green", "WARNING": "yellow", "STOP_REQUEST": "bold red", "HARD_LIMIT": "bold red"}


class PackPanel(ReadoutPanel):
    """SOC (bus vs true), pack voltage and current, cell extremes, limits and faults."""

    DEFAULT_CSS = """
    PackPanel {
        border: round $accent;
    }
    """

    TITLE = "pack"
    HEADERS = ("plant", "bus")
    VALUE_WIDTH = 12

    def rows(self, snapshot: BenchSnapshot) -> list[Row]:
        """The plant's true pack and cell values beside what the BMS frames say (limits and faults: bus only)."""
        s, bus = snapshot, snapshot.bus
        return [
            ("SOC", number(s.soc_true_pct, ".2f", "%"), number(bus.get("soc_pct"), ".1f", "%")),
            ("pack voltage", number(s.pack_voltage_v, ".1f", "V"), number(bus.get("pack_voltage_v"), ".1f", "V")),
            ("pack current (+ = out)", number(s.pack_current_a, ".1f", "A"),
             number(bus.get("pack_current_a"), ".1f", "A")),
            ("min cell voltage", number(s.min_cell_voltage_v, ".3f", "V"),
             number(bus.get("min_cell_voltage_v"), ".3f", "V")),
            ("max cell voltage", number(s.max_cell_voltage_v, ".3f", "V"),
             number(bus.get("max_cell_voltage_v"), ".3f", "V")),
            ("min cell temp", number(s.min_cell_temp_c, ".1f", "C"), number(bus.get("min_cell_temp_c"), ".1f", "C")),
            ("max cell temp", number(s.max_cell_temp_c, ".1f", "C"), number(bus.get("max_cell_temp_c"), ".1f", "C")),
            ("discharge limit", MISSING, number(bus.get("discharge_current_limit_a"), ".0f", "A")),
            ("charge limit", MISSING, number(bus.get("charge_current_limit_a"), ".0f", "A")),
            ("chemistry", s.chemistry.upper(), number(bus.get("chemistry"))),
            ("BMS fault", MISSING, state(bus.get("bms_fault_level"), FAULT_STYLES)),
        ]
