"""Safety supervisor of the compute unit: decides from what the bus says, nothing else.

It is given an :class:`Observation` (decoded CAN values plus freshness, built
by the CAN side of the emulator) and returns a :class:`Decision`: a state,
the reason, and the power budget the compute unit may use.  Rules, in order
of precedence: stale or corrupted data -> SAFE_STOP; BMS hard fault -> FAULT;
not parked or a drive request -> STANDBY with zero power; not allowed -> OFF;
then the battery rules (SOC reserve when discharging, cell voltage, cell
temperature window, DCL, charge-only while charging), each of which may
derate or stop.  Every rule is one small method so that a seeded defect can
switch exactly one of them off (see :data:`DEFECTS`), which is how the
scenario suite proves its checks can fail.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from hilbench.errors import ConfigError

PARAMS_FILE = Path(__file__).with_name("supervisor.toml")


def _finite(*values: float | None) -> bool:
    # A plain loop: this runs on every decision, where a generator in all() costs more than the checks.
    for v in values:
        if v is None or not math.isfinite(v):
            return False
    return True


class State(enum.IntEnum):
    """Supervisor state as the unit reports it on CAN; the value is the DBC's raw value.

    RUNNING and DERATED compute; OFF (not allowed) and STANDBY (not parked, driving asked for, no
    data yet) wait for the car; SAFE_STOP stops for stale or failing inputs, a BMS stop request or a
    battery rule, and holds until the inputs look good again; FAULT is a BMS hard limit or open contactors.
    """

    OFF = 0
    STANDBY = 1
    RUNNING = 2
    DERATED = 3
    SAFE_STOP = 4
    FAULT = 5


_COMPUTING_STATES = (State.RUNNING, State.DERATED)
#: ``State(i).name`` by value: ``report`` runs every tick, where the enum's ``name`` property costs more.
_STATE_NAMES: tuple[str, ...] = tuple(s.name for s in State)


#: Seeded defects: each disables one safety rule.  ``wrong_hysteresis``
#: resumes from a SOC, cell-voltage or thermal stop without any hysteresis.
DEFECTS: dict[str, str] = {
    "ignore_reserve": "keeps computing below the driver's SOC reserve",
    "ignore_thermal": "ignores junction and cell temperature limits",
    "ignore_stale": "keeps using BMS/VCU/OBC data that has gone stale or fails E2E",
    "ignore_gear": "computes while not in P or while driving is requested",
    "ignore_dcl": "draws more than the BMS discharge current limit allows",
    "wrong_hysteresis": "resumes straight after a SOC, cell-voltage or thermal stop, with no hysteresis",
    "ignore_charge_only": "discharges the pack while it should run on charger power only",
}


@dataclass(slots=True)
class Observation:
    """What the compute unit knows, all of it decoded from CAN (None: never received).

    Named fields on the safety path: the emulator keeps one and updates it in place as
    frames arrive, so no field can be passed in the wrong place.  Slotted, so a misspelt
    field is an error rather than a new attribute the supervisor never reads.
    """

    now_s: float
    bms_fresh: bool = False
    vcu_fresh: bool = False
    obc_fresh: bool = False
    e2e_ok: bool = True
    #: Every input the unit needs has been received at least once (until then it waits: NO_DATA).
    inputs_seen: bool = True
    gear: str | None = None
    drive_requested: bool = False
    compute_allowed: bool = True
    coolant_c: float | None = None
    soc_pct: float | None = None
    reserve_soc_pct: float | None = None
    pack_voltage_v: float | None = None
    pack_current_a: float | None = None
    dcl_a: float | None = None
    min_cell_voltage_v: float | None = None
    cell_voltage_min_limit_v: float | None = None
    bms_fault_level: str | None = None
    temp_fault_level: int = 0           # worst of the BMS's discharge temperature levels, 0..3
    contactor_closed: bool = True
    plug_present: bool = False
    cp_state: str | None = None
    charge_power_w: float = 0.0
    junction_c: float = 25.0
    compute_power_w: float = 0.0        # what the unit drew in the last tick


def _computes(decision: Decision) -> bool:
    # Decision.computes, as a plain function under property(): mutmut 3 does not mutate decorated
    # functions, and this is decision logic (docs/mutation.md).  No extra call per access.
    return decision.state in _COMPUTING_STATES and decision.budget_w > 0


class _DecisionFields(NamedTuple):
    state: State
    reason: str
    budget_w: float


class Decision(_DecisionFields):
    """What the supervisor allows: a state, its reason and the power budget (W).

    A named tuple rather than a frozen dataclass: one is made on most ticks, and a frozen
    dataclass's ``__init__`` costs several times as much.  The fields are declared on a base
    class because a ``NamedTuple`` body takes no plain assignment such as ``computes`` below
    (type checkers refuse it); construction and field access cost the same.
    """

    __slots__ = ()

    computes = property(_computes, doc="Whether the unit may compute: a computing state and a budget above zero.")


@dataclass
class SupervisorParams:
    """Thresholds and margins of the supervisor's rules (``supervisor.toml``); percent SOC, volts, watts, seconds."""

    #: An input message is stale after ``max(stale_cycles x its cycle time, min_stale_s)``
    #: (applied per message by the CAN side, which knows the cycle times).
    stale_cycles: float
    min_stale_s: float
    resume_hold_s: float
    soc_stop_margin_pct: float
    soc_derate_band_pct: float
    soc_resume_hysteresis_pct: float
    min_cell_voltage_margin_v: float
    resume_cell_voltage_margin_v: float
    dcl_usage: float
    dcdc_efficiency: float
    charge_margin_w: float
    charge_stop_w: float
    charge_resume_w: float

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> SupervisorParams:
        """Read the parameters from ``path`` (by default the bundled ``supervisor.toml``).

        Raises:
            ConfigError: the file cannot be read or parsed, or an entry is missing (named).
        """
        try:
            with path.open("rb") as fh:
                d = tomllib.load(fh)
            return cls(
                d["timeouts"]["stale_cycles"], d["timeouts"]["min_stale_s"], d["timeouts"]["resume_hold_s"],
                d["soc"]["stop_margin_pct"], d["soc"]["derate_band_pct"], d["soc"]["resume_hysteresis_pct"],
                d["cells"]["min_cell_voltage_margin_v"], d["cells"]["resume_cell_voltage_margin_v"],
                d["current"]["dcl_usage"], d["current"]["dcdc_efficiency"], d["charging"]["charge_margin_w"],
                d["charging"]["stop_below_w"], d["charging"]["resume_above_w"],
            )
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(path, None, str(exc)) from None
        except KeyError as exc:
            raise ConfigError(path, str(exc.args[0]), "missing entry") from None


@dataclass
class Supervisor:
    """The compute unit's safety supervisor: state, reason and power budget from each :class:`Observation`.

    Its latches and hold timers are the only memory between decisions; ``defects`` switch single
    rules off (see :data:`DEFECTS`).  ``transitions`` logs (time s, state, reason) as reported on CAN.

    Raises:
        ConfigError: an unknown defect name.
    """

    max_power_w: float
    params: SupervisorParams = field(default_factory=SupervisorParams.load)
    defects: frozenset[str] = frozenset()
    state: State = State.OFF
    reason: str = "NO_DATA"
    _soc_latched: bool = False
    _cell_latched: bool = False
    _valid_since_s: float | None = None
    _was_safe_stop: bool = False
    transitions: list[tuple[float, str, str]] = field(default_factory=list)
    _recent_compute_w: deque[float] = field(default_factory=lambda: deque(maxlen=4))
    #: The charge-only rule's memory of the present charge: (spare power estimate in W, latched
    #: (stopped until the resume figure), limited (full power only past the top hysteresis)); None
    #: between charges, so that each charge starts afresh.
    _charge: tuple[float, bool, bool] | None = None
    _running: Decision | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.defects) - set(DEFECTS)
        if unknown:
            raise ConfigError(None, "dut.defect", f"unknown defect(s) {sorted(unknown)}; known: {', '.join(DEFECTS)}")
        # The battery rules in order of precedence, bound once rather than on every decision.
        self._battery_rules = (self._cell_temperature, self._cell_voltage, self._soc_reserve, self._dcl,
                               self._charge_only)

    # -- the decision --------------------------------------------------------
    def decide(self, obs: Observation) -> Decision:
        """Apply the rules in precedence order to ``obs``, make the result the current state, and return it."""
        decision = self._decide(obs)
        self.state = decision.state
        self.reason = decision.reason
        return decision

    def report(self, now_s: float, state: State, reason: str) -> None:
        """Log the state and reason the unit reports on CAN (the decision, or a thermal override)."""
        transitions = self.transitions
        name = _STATE_NAMES[state]
        if not transitions or transitions[-1][1] != name or transitions[-1][2] != reason:
            transitions.append((now_s, name, reason))

    def _decide(self, obs: Observation) -> Decision:
        stop = self._data_validity(obs)
        if stop is not None:
            return stop
        if obs.bms_fault_level == "HARD_LIMIT" or not obs.contactor_closed:
            self._hold_after_stop()
            return Decision(State.FAULT, "BMS_FAULT", 0.0)
        standby = self._vehicle_interlock(obs)
        if standby is not None:
            return standby
        if not obs.compute_allowed:
            return Decision(State.OFF, "NOT_REQUESTED", 0.0)
        if obs.bms_fault_level not in ("NONE", "WARNING"):
            # STOP_REQUEST, or a level this unit does not know: stop either way.
            self._hold_after_stop()
            return Decision(State.SAFE_STOP, "BMS_FAULT", 0.0)
        if not _finite(obs.soc_pct, obs.reserve_soc_pct, obs.min_cell_voltage_v, obs.pack_voltage_v,
                       obs.pack_current_a):
            # The battery rules below cannot be judged without these (the DCL budget is the limit
            # less what the car itself draws, which needs the pack current): draw nothing.
            return Decision(State.STANDBY, "NO_DATA", 0.0)

        budget = self.max_power_w
        reason = "NONE"
        for rule in self._battery_rules:
            result = rule(obs)
            if result is None:
                continue
            rule_budget, rule_reason = result
            if rule_budget <= 0:
                state = State.STANDBY if rule_reason == "NO_DATA" else State.SAFE_STOP
                return Decision(state, rule_reason, 0.0)
            if reason == "NONE" or rule_budget < budget:
                budget, reason = min(budget, rule_budget), rule_reason
        if reason != "NONE":   # a rule is limiting (possibly still at full power, inside its hysteresis)
            return Decision(State.DERATED, reason, budget)
        # The usual outcome, tick after tick: a Decision is immutable, so the last one is handed
        # out again while it says the same (budget is max_power_w here, never 0.0 or NaN).
        running = self._running
        if running is None or running.budget_w != budget:
            running = self._running = Decision(State.RUNNING, "NONE", budget)
        return running

    def _hold_after_stop(self) -> None:
        """After this stop, data must look good for ``resume_hold_s`` before computing again.

        (With the ``ignore_stale`` defect the hold is never read: :meth:`_data_validity` returns first.)
        """
        self._was_safe_stop = True
        self._valid_since_s = None

    # -- rules (each one switchable by a seeded defect) ------------------------
    def _data_validity(self, obs: Observation) -> Decision | None:
        if "ignore_stale" in self.defects:
            if obs.gear is None or obs.soc_pct is None:
                return Decision(State.STANDBY, "NO_DATA", 0.0)
            return None
        problem = None
        if not obs.inputs_seen or (obs.gear is None and obs.soc_pct is None):
            problem = "NO_DATA"
        elif not obs.bms_fresh:
            problem = "BMS_STALE"
        elif not obs.vcu_fresh:
            problem = "VCU_STALE"
        elif not obs.obc_fresh:
            problem = "OBC_STALE"
        elif not obs.e2e_ok:
            problem = "E2E_ERROR"
        if problem is not None:
            self._valid_since_s = None
            state = (State.STANDBY if problem == "NO_DATA" and self.state in (State.OFF, State.STANDBY)
                     else State.SAFE_STOP)
            self._was_safe_stop = self._was_safe_stop or state is State.SAFE_STOP
            return Decision(state, problem, 0.0)
        if self._was_safe_stop:
            bms_ok = obs.bms_fault_level in ("NONE", "WARNING") and obs.contactor_closed
            if not bms_ok:
                self._valid_since_s = None   # the BMS still objects: the checks below say why
                return None
            if self._valid_since_s is None:
                self._valid_since_s = obs.now_s
            if obs.now_s - self._valid_since_s < self.params.resume_hold_s:
                reason = self.reason if self.state in (State.SAFE_STOP, State.FAULT) else "RESUMED"
                return Decision(State.SAFE_STOP, reason, 0.0)
            self._was_safe_stop = False
        return None

    def _vehicle_interlock(self, obs: Observation) -> Decision | None:
        if "ignore_gear" in self.defects:
            return None
        if obs.gear != "P":
            return Decision(State.STANDBY, "GEAR_NOT_PARK", 0.0)
        if obs.drive_requested:
            return Decision(State.STANDBY, "DRIVE_REQUESTED", 0.0)
        return None

    def _charging(self, obs: Observation) -> bool:
        return obs.plug_present and obs.cp_state in ("C", "D") and obs.charge_power_w > 0

    def _soc_reserve(self, obs: Observation) -> tuple[float, str] | None:
        # SOC and reserve are finite here: _decide answers NO_DATA before any battery rule otherwise.
        # (So their Optional is ignored below rather than asserted: an assert on the decision path
        # would cost every tick and add mutants no test can kill.)
        if "ignore_reserve" in self.defects:
            return None
        if self._charging(obs):
            return None   # the rule rests while charging; its latch releases only on SOC (hysteresis)
        p = self.params
        stop_at: float = obs.reserve_soc_pct + p.soc_stop_margin_pct  # type: ignore[operator]
        hysteresis = 0.0 if "wrong_hysteresis" in self.defects else p.soc_resume_hysteresis_pct
        # Latched at or below the stop point; released only above it plus the hysteresis.
        soc: float = obs.soc_pct  # type: ignore[assignment]
        self._soc_latched = soc <= stop_at or (self._soc_latched and not soc > stop_at + hysteresis)
        if self._soc_latched:
            return 0.0, "SOC_RESERVE"
        if soc <= stop_at + p.soc_derate_band_pct:
            return self.max_power_w * 0.5, "SOC_RESERVE"
        return None

    def _cell_voltage(self, obs: Observation) -> tuple[float, str] | None:
        if obs.min_cell_voltage_v is None or obs.cell_voltage_min_limit_v is None:
            return None
        if "ignore_reserve" in self.defects:
            return None
        p = self.params
        stop_at = obs.cell_voltage_min_limit_v + p.min_cell_voltage_margin_v
        resume_at = (stop_at if "wrong_hysteresis" in self.defects
                     else obs.cell_voltage_min_limit_v + p.resume_cell_voltage_margin_v)
        v = obs.min_cell_voltage_v
        self._cell_latched = v <= stop_at or (self._cell_latched and not v > resume_at)
        return (0.0, "CELL_VOLTAGE_LOW") if self._cell_latched else None

    def _cell_temperature(self, obs: Observation) -> tuple[float, str] | None:
        if "ignore_thermal" in self.defects:
            return None
        if obs.temp_fault_level >= 2:
            return 0.0, "CELL_TEMP_WINDOW"
        if obs.temp_fault_level == 1:
            return self.max_power_w * 0.5, "CELL_TEMP_WINDOW"
        return None

    def _dcl(self, obs: Observation) -> tuple[float, str] | None:
        if "ignore_dcl" in self.defects:
            return None
        if obs.dcl_a is None or not obs.pack_voltage_v:
            return 0.0, "NO_DATA"   # no limit known yet: draw nothing rather than guess
        if self._charging(obs):
            return None
        p = self.params
        # The BMS's current reading lags the compute draw by up to a sample or two,
        # so attribute to compute only the least it drew recently: the rest of the
        # measured current is counted as the car's own load.
        recent = self._recent_compute_w   # keeps the last four draws (maxlen)
        recent.append(obs.compute_power_w)
        own_a = min(recent) / p.dcdc_efficiency / obs.pack_voltage_v
        # max(0.0, x) spelled out (the same result, NaN and -0.0 included: both give 0.0 unless x > 0.0),
        # to save two builtin calls on every decision.
        others_a = (obs.pack_current_a or 0.0) - own_a
        others_a = others_a if others_a > 0.0 else 0.0  # noqa: FURB136
        headroom_a = obs.dcl_a * p.dcl_usage - others_a
        budget = (headroom_a if headroom_a > 0.0 else 0.0) * obs.pack_voltage_v * p.dcdc_efficiency  # noqa: FURB136
        if budget < self.max_power_w:
            return budget, "DCL_LIMIT"
        return None

    def _charge_only(self, obs: Observation) -> tuple[float, str] | None:
        if not self._charging(obs):
            self._charge = None
            return None
        if "ignore_charge_only" in self.defects or not obs.pack_voltage_v:
            return None
        p = self.params
        # Charge power still flowing into the pack, plus what compute takes now, is what compute may use.
        into_pack_w = -(obs.pack_current_a or 0.0) * obs.pack_voltage_v
        raw = (into_pack_w + obs.compute_power_w / p.dcdc_efficiency - p.charge_margin_w) * p.dcdc_efficiency
        # The BMS current is noisy (+/- tens of watts at pack voltage) and lags compute's
        # own steps by a sample: a fall is taken at once (safe side), a rise only over
        # about a second; the hysteresis below keeps the wobble from flipping states.
        memory = self._charge
        if memory is None:   # the first tick of this charge
            available, latched, limited = raw, False, False
        else:
            previous, latched, limited = memory
            available = raw if raw < previous else previous + 0.1 * (raw - previous)
        # Hysteresis: as a charge tapers, stopping frees charge power, which would let compute
        # start again at once and flap; once stopped, wait for a clear surplus.
        if available < p.charge_stop_w or (latched and available < p.charge_resume_w):
            self._charge = (available, True, limited)
            return 0.0, "CHARGE_ONLY"
        # And the same at the top: once limited, run unlimited only with a clear surplus.
        full_at = self.max_power_w + (p.charge_resume_w - p.charge_stop_w if limited else 0.0)
        limited = available < full_at
        self._charge = (available, False, limited)
        if limited:
            return min(available, self.max_power_w), "CHARGE_ONLY"
        return None

    def snapshot(self) -> dict[str, Any]:
        """State, reason and the number of logged transitions, for bench snapshots and the TUI."""
        return {"state": self.state.name, "reason": self.reason, "transitions": len(self.transitions)}


_THERMAL_REASONS = {"passive": "JUNCTION_THROTTLE", "hot": "JUNCTION_THROTTLE", "critical": "JUNCTION_CRITICAL"}


def thermal_reason(governor_reason: str) -> str | None:
    """Map the governor's reason to the supervisor reason reported on CAN."""
    return _THERMAL_REASONS.get(governor_reason)


__all__ = ["DEFECTS", "Decision", "Observation", "State", "Supervisor", "SupervisorParams", "thermal_reason"]
