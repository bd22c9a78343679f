"""The pack's power path while the car is parked or charging, and the energy it carries.

Per plant step the vehicle's 12 V auxiliaries and the compute unit draw from the
pack through the DC-DC converter, the on-board charger pushes current in within
the limit the OBC read from the BMS, and open contactors carry nothing.  The
energy counted here (compute, out of the pack, from the charger) is what a run's
economics are made of.  Plain arithmetic over the plant's objects: no CAN, no clock.
"""

from __future__ import annotations

from .evse import OnBoardCharger
from .pack import Pack
from .vehicle import Vehicle


class ParkedPowertrain:
    """What draws on the pack and what charges it, one plant step at a time.

    Args:
        pack: the traction pack it draws on and charges.
        vehicle: its ambient temperature is copied to the pack each step (scenarios set the weather there).
        charger: the on-board charger (its output is 0 A when nothing is plugged in).
        aux_load_w: the vehicle's own parked load on the 12 V side (W), through the DC-DC.
        dcdc_efficiency: of the HV -> 12 V DC-DC converter the compute unit and the auxiliaries sit behind.
    """

    def __init__(self, pack: Pack, vehicle: Vehicle, charger: OnBoardCharger, *, aux_load_w: float,
                 dcdc_efficiency: float) -> None:
        self.pack = pack
        self.vehicle = vehicle
        self.charger = charger
        self.aux_load_w = aux_load_w
        self.dcdc_efficiency = dcdc_efficiency
        #: Energy the compute unit drew (J), on its side of the DC-DC.
        self.compute_energy_j = 0.0
        #: Energy that left the pack (J): discharge only, at the pack's terminals.
        self.energy_from_pack_j = 0.0
        #: Energy the charger delivered on its DC side (J).
        self.charge_energy_j = 0.0

    def step(self, dt_s: float, compute_w: float, *, contactors_closed: bool, max_charge_voltage_v: float | None,
             granted_ccl_a: float) -> float:
        """Advance the pack ``dt_s`` seconds under the compute unit's ``compute_w`` and the charger.

        Args:
            dt_s: the plant step (s).
            compute_w: what the compute unit draws (W).
            contactors_closed: the BMS's contactors; open, the pack carries no current.
            max_charge_voltage_v: the charge voltage limit the OBC read from the BMS (V); None
                until it has, when the chemistry's maximum cell voltage times the cells in series applies.
            granted_ccl_a: the charge current limit the OBC obeys (A).

        Returns:
            The pack current of the step (A, discharge positive).
        """
        pack = self.pack
        pack_v = pack.pack_voltage_v
        load_w = self.aux_load_w + compute_w / self.dcdc_efficiency
        charge_a = self.charger.step(dt_s, pack_v, max_charge_voltage_v or pack.chemistry.max_voltage_v * pack.series,
                                     granted_ccl_a)
        current_a = load_w / pack_v - charge_a if pack_v > 0 else 0.0
        if not contactors_closed:
            current_a = 0.0
        pack.ambient_c = self.vehicle.ambient_c
        pack.step(dt_s, current_a)
        self.compute_energy_j += compute_w * dt_s
        if current_a > 0:
            self.energy_from_pack_j += current_a * pack_v * dt_s
        self.charge_energy_j += self.charger.dc_power_w * dt_s
        return current_a


__all__ = ["ParkedPowertrain"]
