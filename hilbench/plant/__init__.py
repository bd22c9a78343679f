"""Plant models: battery pack, chemistries, EVSE/charger and vehicle state.

Plain numpy, no CAN: emulated nodes read these objects and turn them into
frames.  Nothing here reads a clock or sleeps; time moves only by the
``dt_s`` passed to ``step``.
"""

from hilbench.plant.chemistry import Chemistry, available_chemistries, load_chemistry
from hilbench.plant.evse import (
    ChargeMode,
    CpState,
    Evse,
    EvseFault,
    OnBoardCharger,
    current_to_pwm_duty_pct,
    pp_resistor_to_current_a,
    pwm_duty_to_current_a,
)
from hilbench.plant.pack import CellSpread, Pack, PackSnapshot
from hilbench.plant.powertrain import ParkedPowertrain
from hilbench.plant.vehicle import Gear, Vehicle

__all__ = [
    "CellSpread",
    "ChargeMode",
    "Chemistry",
    "CpState",
    "Evse",
    "EvseFault",
    "Gear",
    "OnBoardCharger",
    "Pack",
    "PackSnapshot",
    "ParkedPowertrain",
    "Vehicle",
    "available_chemistries",
    "current_to_pwm_duty_pct",
    "load_chemistry",
    "pp_resistor_to_current_a",
    "pwm_duty_to_current_a",
]
