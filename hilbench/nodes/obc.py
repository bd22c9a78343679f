"""Emulated on-board charger / EVSE interface: reports the pilot and plug, obeys the BMS.

It sends what the vehicle reads off the control pilot and proximity pilot,
and the charger's DC output; it reads the BMS's charge current limit from the
bus and passes it to the charger plant, and drops the limit to zero if the
BMS goes quiet, as a real OBC must.
"""

from __future__ import annotations

from ..bus.codec import BenchCodec, quantize
from ..bus.e2e import E2EStatus
from ..bus.frames import Frame
from ..bus.port import BusPort
from ..clock import Clock
from ..plant.evse import Evse, OnBoardCharger
from .base import EmulatedNode

CABLE_CODES = {13.0: 1, 20.0: 2, 32.0: 3, 63.0: 4}
BMS_TIMEOUT_S = 1.0   # 10 cycles of BMS_Limits (100 ms); DOMAIN.md: lost after 3-10 missed cycles


class ObcNode(EmulatedNode):
    """Emulated OBC: publishes the pilot, plug, cable rating and the charger's DC output every 100 ms.

    It takes the BMS's charge current limit (and maximum charge voltage) only from frames
    that pass E2E, and grants the charger plant nothing once the BMS has been silent for
    :data:`BMS_TIMEOUT_S`.  ``charge_wanted`` False keeps switch S2 open while plugged in.
    """

    producer = "obc"
    #: The roles ``sample`` publishes, in the order of its readings.
    ROLES = ("charge_current_a", "charge_power_w", "evse_max_current_a", "pilot_duty_pct", "cp_state",
             "plug_present", "cable_rating")

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, evse: Evse,
                 charger: OnBoardCharger) -> None:
        super().__init__(codec, port, clock)
        self.evse = evse
        self.charger = charger
        self.ccl_a = 0.0
        self.max_charge_voltage_v = 0.0
        self._bms_seen_s: float | None = None
        self.charge_wanted = True
        self._lsb = codec.resolutions(("pilot_duty_pct", "evse_max_current_a", "charge_current_a", "charge_power_w"))
        ccl = codec.signal_map.binding("charge_current_limit_a")
        self._limits_codec = codec.message(ccl.message) if ccl else None
        # Like any receiver of a protected message, the charger uses only frames that pass E2E.
        self._limits_e2e = self._limits_codec.new_receiver() if self._limits_codec is not None else None
        if self._limits_codec is not None:
            port.subscribe(self._limits_codec.frame_id, self._on_limits,
                           extended=self._limits_codec.is_extended_id)
        self.sample()

    def _on_limits(self, msg: Frame) -> None:
        try:
            roles, crc_ok = self._limits_codec.receive(msg.data)  # type: ignore[union-attr]
        except Exception:
            return  # counted by the bus monitor; a charger ignores a frame it cannot read
        e2e = self._limits_e2e
        if e2e is not None and (e2e.check(msg.data, crc_ok) is not None or e2e.status is not E2EStatus.VALID):
            return  # corrupted, repeated, out of sequence or still INVALID: keep the last good limits
        self.ccl_a = float(roles.get("charge_current_limit_a", 0.0))  # type: ignore[arg-type]
        if "max_charge_voltage_v" in roles:
            self.max_charge_voltage_v = float(roles["max_charge_voltage_v"])  # type: ignore[arg-type]
        self._bms_seen_s = self.clock.now

    @property
    def bms_alive(self) -> bool:
        """A good limits frame came within the last :data:`BMS_TIMEOUT_S` (never before the first one)."""
        return self._bms_seen_s is not None and self.clock.now - self._bms_seen_s <= BMS_TIMEOUT_S

    @property
    def granted_ccl_a(self) -> float:
        """The limit the charger plant may use now: the BMS's, or zero if the BMS is silent."""
        return self.ccl_a if self.bms_alive else 0.0

    def sample(self) -> None:
        """Set the vehicle's readiness on the EVSE (S2 closed while plugged in and ``charge_wanted``) and
        publish what the charger and the pilot show now; unchanged readings send cached frames."""
        evse = self.evse
        if evse.plugged_in and self.charge_wanted:
            evse.set_vehicle_ready(True)
        elif evse.plugged_in:
            evse.set_vehicle_ready(False)
        rating = evse.cable_rating_a
        charger = self.charger
        # What moves while charging comes first: comparing a changed set stops at its first reading.
        if self._publish(self.ROLES, (
                charger.dc_current_a, charger.dc_power_w, evse.available_current_a, evse.pwm_duty_pct or 0.0,
                evse.cp_state.name, 1 if evse.plugged_in else 0, CABLE_CODES.get(rating, 0) if rating else 0)):
            quantize(self.values, self._lsb)

    def start(self) -> None:
        """Sample every 100 ms and start sending (a no-op if disabled or already started)."""
        if self.enabled and not self._started:
            self.clock.call_every(0.1, self.sample)
        super().start()
