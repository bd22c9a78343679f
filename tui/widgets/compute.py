"""The device under test as the bus reports it: supervisor, power, heat, tokens."""

from __future__ import annotations

from hilbench.bench import BenchSnapshot

from .format import number, state
from .readout import ReadoutPanel, Row

STATE_STYLES = {"OFF": "dim", "STANDBY": "yellow", "RUNNING": "bold green", "DERATED": "bold yellow",
                "SAFE_STOP": "bold red", "FAULT": "bold white on red"}
LEVEL_STYLES = {"OFF": "dim", "IDLE": "dim", "P25": "yellow", "P50": "yellow", "P75": "green", "P100": "bold green"}


class ComputePanel(ReadoutPanel):
    """Supervisor state and reason, power level, compute power, junction temperature, tokens.

    Everything here comes off the bus (``CU_*`` frames), whatever the DUT is:
    the bundled emulator or a real compute unit.
    """

    TITLE = "compute unit (bus)"
    HEADERS = ()
    VALUE_WIDTH = 14

    def rows(self, snapshot: BenchSnapshot) -> list[Row]:
        """What the compute unit reports in its ``CU_*`` frames: state, reason, level, power, temperature, tokens."""
        bus = snapshot.bus
        tokens = bus.get("tokens_total")
        return [
            ("supervisor", state(bus.get("cu_state"), STATE_STYLES)),
            ("reason", number(bus.get("cu_reason"))),
            ("power level", state(bus.get("cu_power_level"), LEVEL_STYLES)),
            ("compute power", number(bus.get("compute_power_w"), ".0f", "W")),
            ("junction temp", number(bus.get("junction_temp_c"), ".1f", "C")),
            ("tokens/s", number(bus.get("tokens_per_s"), ".1f")),
            ("tokens total", number(tokens, ",.0f")),
            ("energy pack / grid", (f"{number(bus.get('energy_from_pack_wh'), '.0f')} / "
                                    f"{number(bus.get('energy_from_grid_wh'), '.0f', 'Wh')}")),
        ]
