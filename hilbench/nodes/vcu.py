"""Emulated VCU: publishes gear, ignition, climate and the driver's range reserve."""

from __future__ import annotations

from ..bus.codec import BenchCodec
from ..bus.port import BusPort
from ..clock import Clock
from ..plant.vehicle import Vehicle
from .base import EmulatedNode


class VcuNode(EmulatedNode):
    """Emulated VCU: publishes the :class:`Vehicle`'s gear, ignition, climate and range reserve every 100 ms."""

    producer = "vcu"
    #: The roles ``sample`` publishes, in the order of its readings.
    ROLES = ("gear", "ignition_on", "drive_requested", "compute_allowed", "ambient_temp_c", "coolant_temp_c",
             "range_reserve_soc_pct")

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, vehicle: Vehicle) -> None:
        super().__init__(codec, port, clock)
        self.vehicle = vehicle
        #: The driver pressed start / selected a drive mode (the car wants to move).
        self.drive_requested = False
        #: The owner's consent to run the token factory while parked.
        self.compute_allowed = True
        self.sample()

    def sample(self) -> None:
        """Publish the vehicle state now; coolant falls back to ambient when no coolant loop runs."""
        vehicle = self.vehicle
        coolant = vehicle.coolant_c if vehicle.coolant_c is not None else vehicle.ambient_c
        self._publish(self.ROLES, (
            vehicle.gear.value, 1 if vehicle.ignition_on else 0, 1 if self.drive_requested else 0,
            1 if self.compute_allowed else 0, vehicle.ambient_c, coolant, vehicle.reserve_soc_pct))

    def start(self) -> None:
        """Sample the vehicle every 100 ms and start sending (a no-op if disabled or already started)."""
        if self.enabled and not self._started:
            self.clock.call_every(0.1, self.sample)
        super().start()
