"""The bundled device under test, CAN side: frames in, supervisor and compute unit, frames out.

It reads BMS, VCU and OBC frames through the signal map, checks their E2E
protection and freshness itself (cantools never checks counters), hands the
CAN-free :class:`~hilbench.dut.compute.supervisor.Supervisor` an
observation, runs the :class:`~hilbench.dut.compute.unit.ComputeUnit` at the
granted budget, and reports state, reason, power, junction temperature and
tokens on its own status frames.  Scenarios only ever see those frames, so a
real car computer can take this emulator's place.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..bus.codec import BenchCodec, MessageCodec, quantize
from ..bus.e2e import E2EStatus
from ..bus.e2e_sm import E2EConfig, E2EStateMachine, FrameStatus
from ..bus.frames import Frame
from ..bus.port import BusPort
from ..bus.sender import FrameSource
from ..bus.signal_map import SignalMap
from ..clock import Clock
from ..errors import ConfigError
from .compute.calibration import DEFAULT_PROMPT, DEFAULT_REQUEST_TOKENS, PerformanceModel
from .compute.governor import Governor, ThermalTrips, TripPoint
from .compute.power import PowerLevel, PowerTable
from .compute.supervisor import (
    Decision,
    Observation,
    State,
    Supervisor,
    SupervisorParams,
    thermal_reason,
)
from .compute.unit import ComputeUnit

# Keyed by the decoded value of a fault-level role, whatever the codec made of it (any other
# value, or none, counts as NONE).
_LEVEL_ORDER: dict[object, int] = {"NONE": 0, "WARNING": 1, "STOP_REQUEST": 2, "HARD_LIMIT": 3}
# The tick runs ten times per simulated second for hours: it reads these module
# constants rather than looking enum members, names and properties up each time.
_RUNNING, _DERATED, _SAFE_STOP = State.RUNNING, State.DERATED, State.SAFE_STOP
_STATE_NAMES: tuple[str, ...] = tuple(s.name for s in State)           # indexed by State
_LEVEL_NAMES: tuple[str, ...] = tuple(lv.name for lv in PowerLevel)    # indexed by PowerLevel
_LEVEL_COMPUTES: tuple[bool, ...] = tuple(lv.computes for lv in PowerLevel)
_P100, _OFF = PowerLevel.P100, PowerLevel.OFF
#: The keys of a bench config's ``dut`` table (the keyword arguments of ``from_config``) and their types.
DUT_CONFIG_KEYS: dict[str, type] = {
    "fidelity": str, "performance": str, "defect": str, "model": str, "model_sha256": str,
    "request_tokens": int, "coolant_c": float, "tick_s": float, "stale_cycles": float, "min_stale_s": float,
    "e2e": dict,
}
REFERENCE_PERFORMANCE = Path(__file__).with_name("compute") / "reference_performance.toml"
TICK_S = 0.1
_INPUT_PRODUCERS = ("bms", "vcu", "obc")
_FRAME_OK, _E2E_VALID, _E2E_INVALID = FrameStatus.OK, E2EStatus.VALID, E2EStatus.INVALID
#: Reasons that name an input message on the bus (CU_InputHealth), and the producer a STALE one means.
_STALE_PRODUCER = {"BMS_STALE": "bms", "VCU_STALE": "vcu", "OBC_STALE": "obc"}
_INPUT_REASONS = frozenset(_STALE_PRODUCER) | {"E2E_ERROR"}

#: Input roles without which the supervisor can never let the unit compute: a map must bind
#: every one of them (``SignalMap.missing_roles`` and the emulator's own check use this).
#: ``gear`` (anything but P stops), SOC and the driver's reserve, pack voltage, the minimum
#: cell voltage and the BMS fault level (the battery rules cannot be judged without them), the
#: discharge current limit and the pack current (the DCL budget is the limit minus what the car
#: itself draws).
REQUIRED_INPUT_ROLES: tuple[str, ...] = (
    "soc_pct", "pack_voltage_v", "pack_current_a", "min_cell_voltage_v", "discharge_current_limit_a",
    "bms_fault_level", "gear", "range_reserve_soc_pct",
)
#: What the unit reports; without these nothing on the bus shows what it does, and a real
#: compute unit in its place could not be judged the same way.
REQUIRED_OUTPUT_ROLES: tuple[str, ...] = ("cu_state", "cu_power_level", "compute_power_w")
#: Every role the emulated compute unit needs mapped (inputs and outputs).
REQUIRED_ROLES: tuple[str, ...] = REQUIRED_INPUT_ROLES + REQUIRED_OUTPUT_ROLES
#: Input roles the unit reads when mapped, and what it assumes when the map does not bind them.
OPTIONAL_INPUT_ROLES: dict[str, str] = {
    "drive_requested": "not requested (the gear alone keeps the unit from computing while driving)",
    "compute_allowed": "allowed (the car has no switch of its own for compute)",
    "coolant_temp_c": "the coolant temperature of the DUT config (dut.coolant_c, 25 C by default)",
    "cell_voltage_min_limit_v": "no cell-voltage rule (SOC reserve, DCL and BMS fault level still stop the unit)",
    "over_temp_discharge": "no warning (the BMS fault level still stops the unit)",
    "under_temp_discharge": "no warning (the BMS fault level still stops the unit)",
    "contactor_state": "closed (a BMS that reports values is taken as connected)",
    "plug_present": "not plugged in: never charging, so every discharge rule applies",
    "cp_state": "no charging state: never charging, so every discharge rule applies",
    "charge_power_w": "0 W: never charging, so every discharge rule applies",
}
#: Every role the unit reads; only messages carrying one of these are watched for staleness.
INPUT_ROLES: frozenset[str] = frozenset(REQUIRED_INPUT_ROLES) | frozenset(OPTIONAL_INPUT_ROLES)


def reference_performance(table: PowerTable | None = None) -> tuple[PerformanceModel, PowerTable]:
    """The bundled unit's figures (``compute/reference_performance.toml``): tokens/s per level, and its power table.

    Simulated runs use these unless calibrated, so they come out the same on every machine.
    ``table`` replaces the file's power figures (maximum and idle W); the rates stay the file's.
    """
    with REFERENCE_PERFORMANCE.open("rb") as fh:
        data = tomllib.load(fh)
    table = table or PowerTable(max_w=float(data["max_power_w"]), idle_w=float(data["idle_power_w"]))
    rates = {PowerLevel[name]: float(v) for name, v in data["tokens_per_s"].items()}
    return PerformanceModel.from_rates(rates, table), table


def stale_timeouts_s(signal_map: SignalMap, names: Iterable[str], params: SupervisorParams, *,
                     frames_per_period: int = 1) -> dict[str, float]:
    """How old each message's data may get before it is stale, in seconds.

    First match wins: the map's explicit ``[timeout_ms]`` for the message; else
    ``max(stale_cycles x cycle time x frames_per_period, min_stale_s)``, each of the
    two figures taken from the map's ``[timing]`` when it sets it, else from
    ``params`` (the DUT config over ``supervisor.toml``).  ``frames_per_period``
    is the number of pages of a multiplexed message, one of which comes per cycle.

    Raises:
        ConfigError: a message has neither an explicit timeout nor a cycle time.
    """
    cycles = signal_map.stale_cycles if signal_map.stale_cycles is not None else params.stale_cycles
    floor_s = signal_map.min_stale_s if signal_map.min_stale_s is not None else params.min_stale_s
    out: dict[str, float] = {}
    for name in names:
        explicit = signal_map.timeout_s(name)
        if explicit is not None:
            out[name] = explicit
            continue
        cycle_s = signal_map.cycle_time_s.get(name)
        if not cycle_s:
            raise ConfigError(signal_map.path, f"cycle_ms.{name}",
                              f'the compute unit reads "{name}" but it has no cycle time (GenMsgCycleTime in '
                              f"the DBC, or [cycle_ms] here) and no [timeout_ms]: it cannot tell when its data "
                              f"goes stale")
        out[name] = max(cycles * cycle_s * frames_per_period, floor_s)
    return out


def _read_pages(msg_codec: MessageCodec) -> tuple[tuple[int, str], ...]:
    """(multiplexer value, freshness key) of each page of ``msg_codec`` that carries a role the unit reads."""
    pages = sorted({slot.mux for slot in msg_codec.slots if slot.mux is not None and slot.role in INPUT_ROLES})
    return tuple((page, f"{msg_codec.name}[{page}]") for page in pages)


def _pages_per_period(msg_codec: MessageCodec) -> int:
    """How many pages the DBC defines for the multiplexer of the message's mapped pages (the sender's round)."""
    message = msg_codec.message
    slot = next(s for s in msg_codec.slots if s.mux is not None)
    mux_name = message.get_signal_by_name(slot.signal).multiplexer_signal
    values = {i for s in message.signals if s.multiplexer_signal == mux_name for i in (s.multiplexer_ids or ())}
    return max(len(values), len(msg_codec.pages), 1)



def _data_time_s(receiver: E2EStateMachine, arrived_s: float, now_s: float) -> float:
    """When the data of a frame the receiver just took was current: its arrival less the
    stream's measured lag, or the receiver's schedule, whichever is older (the unit must not
    time data as younger than its own E2E receiver does)."""
    by_arrival_s = arrived_s - receiver.lag_s
    by_schedule_s = now_s - receiver.data_age_s(now_s)
    return min(by_arrival_s, by_schedule_s)

class ComputeEmulator(FrameSource):
    """The bundled compute unit on CAN.

    Needs the roles in :data:`REQUIRED_ROLES` mapped (refused at construction
    otherwise) and reads those in :data:`OPTIONAL_INPUT_ROLES` when they are,
    assuming what that table says when they are not (no ``drive_requested``:
    never requested).  Every input message that carries a role it reads is
    watched for freshness on its own timeout (:func:`stale_timeouts_s`), each
    page of a multiplexed one on its own; when one goes stale the unit stops
    with its producer's reason (``BMS_STALE``, ``VCU_STALE``, ``OBC_STALE``).
    A producer none of whose messages is mapped (a bus with no charger node)
    cannot go stale.  Until every required input has come once, the unit
    waits in STANDBY (``NO_DATA``) rather than stop: data not yet seen is not
    data lost (AUTOSAR E2E's NODATA), so no resume hold follows.

    Raises:
        ConfigError: a required role is not mapped, or an input message has no cycle time.
    """

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, unit: ComputeUnit,
                 supervisor: Supervisor, *, tick_s: float = TICK_S, e2e_config: E2EConfig | None = None) -> None:
        signal_map = codec.signal_map
        missing = [role for role in REQUIRED_ROLES if signal_map.binding(role) is None]
        if missing:
            raise ConfigError(signal_map.path, "roles",
                              f"the emulated compute unit needs role(s) {', '.join(missing)}; map them, "
                              f"or run without it (--no-dut) when a real compute unit is on the bus")
        super().__init__(port, clock)
        self.codec = codec
        self.unit = unit
        self.supervisor = supervisor
        self.tick_s = tick_s
        self.inputs: dict[str, object] = {}
        self._latest_by_message: dict[str, dict[str, object]] = {}
        self.values: dict[str, object] = {
            "cu_state": "OFF", "cu_power_level": "OFF", "cu_reason": "NO_DATA", "compute_power_w": 0.0,
            "junction_temp_c": unit.thermal.junction_c, "tokens_per_s": 0.0, "cu_requested_level": "OFF",
            "cu_requested_pack_current_a": 0.0, "cu_keep_awake": 0, "tokens_total": 0,
            "cu_reason_frame_id": 0, "cu_reason_input_state": "NONE",
            "energy_from_pack_wh": 0.0, "energy_from_grid_wh": 0.0,
        }
        self.energy_from_pack_j = 0.0
        self.energy_from_grid_j = 0.0
        self.e2e_errors = 0
        self.decode_errors = 0
        self._last_valid_s: dict[str, float] = {}
        #: The E2E receiver of each protected input message (AUTOSAR's state machine, freshness
        #: as data age): only frames it passes are used, and only while it says VALID.
        self.receivers: dict[str, E2EStateMachine] = {}
        e2e_config = e2e_config or E2EConfig.load()
        # Freshness is watched per message, or per page of a multiplexed message whose pages carry
        # the roles the unit reads (a BMS that stops sending its limits page while its pack-values
        # page goes on must not look fresh).  key -> (producer, message, pages per period).
        watched: dict[str, tuple[str, str, int]] = {}
        roles_of_key: dict[str, list[str]] = {}
        for producer in _INPUT_PRODUCERS:
            for name in signal_map.messages_of(producer):
                msg_codec = codec.message(name)
                if not any(slot.role in INPUT_ROLES for slot in msg_codec.slots):
                    continue  # per-cell detail, or only roles the unit does not read
                pages = _read_pages(msg_codec)
                if pages:
                    per_period = _pages_per_period(msg_codec)
                    for page, key in pages:
                        watched[key] = (producer, name, per_period)
                        roles_of_key[key] = [s.role for s in msg_codec.slots if s.mux in (None, page)]
                    # A page the unit reads nothing of is filed under the message's name (see
                    # _paged_frame_handler): it still brings the roles outside the multiplexer.
                    roles_of_key[name] = [s.role for s in msg_codec.slots if s.mux is None]
                else:
                    watched[name] = (producer, name, 1)
                    roles_of_key[name] = [s.role for s in msg_codec.slots]
                # The unit checks whatever the map declares: the bench's AUTOSAR profile 2, or a
                # car's own counter and checksum scheme.
                receiver = self.receivers.get(name)
                protection = msg_codec.protection
                if receiver is None and protection is not None and (protection.has_counter or protection.has_checksum):
                    timeout_s = stale_timeouts_s(signal_map, [name], supervisor.params,
                                                 frames_per_period=_pages_per_period(msg_codec) if pages else 1)[name]
                    overrides = signal_map.receivers.get(name)
                    receiver = self.receivers[name] = E2EStateMachine(
                        protection, signal_map.cycle_time_s[name], timeout_s,
                        e2e_config.with_(**overrides) if overrides else e2e_config,
                        wall_time=not clock.is_simulated)
                port.subscribe(msg_codec.frame_id, self._frame_handler(msg_codec, receiver, pages),
                               extended=msg_codec.is_extended_id)
        self._receivers_list = tuple(self.receivers.values())
        #: Each watched input (a message, or a page of one) -> (producer, message name).
        self._watched: dict[str, tuple[str, str]] = {key: (p, n) for key, (p, n, _k) in watched.items()}
        # The roles dict each message (or page) last brought into ``inputs`` (see observe); None when
        # two of them carry the same role, where the order of every merge matters.
        input_roles = [role for roles in roles_of_key.values() for role in roles]
        self._merged: dict[str, dict[str, object]] | None = {} if len(input_roles) == len(set(input_roles)) else None
        #: Seconds after which the data of each input message (``"NAME[page]"`` for a page of a
        #: multiplexed one, which comes once per round of pages) is stale.
        self.stale_after_s: dict[str, float] = {}
        for key, (_producer, name, per_period) in watched.items():
            self.stale_after_s[key] = stale_timeouts_s(signal_map, [name], supervisor.params,
                                                       frames_per_period=per_period)[name]
        # Per producer, its messages grouped by timeout: (timeout, names) pairs, so a tick
        # computes one cut-off per distinct timeout (one per producer on the bench DBC).
        self._stale_groups: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {}
        for producer in _INPUT_PRODUCERS:
            by_timeout: dict[float, list[str]] = {}
            for key, (group, _name, _per_period) in watched.items():
                if group == producer:
                    by_timeout.setdefault(self.stale_after_s[key], []).append(key)
            self._stale_groups[producer] = tuple((t, tuple(keys)) for t, keys in by_timeout.items())
        # When every input has the same timeout (the bench DBC: 0.5 s for all), observe takes one
        # cut-off for all of them, as cheaply as a single fixed timeout did.
        distinct = set(self.stale_after_s.values())
        self._uniform_stale_s: float | None = distinct.pop() if len(distinct) == 1 else None
        self._keys_by_producer: tuple[tuple[str, ...], ...] = tuple(
            tuple(k for _t, keys in self._stale_groups[producer] for k in keys) for producer in _INPUT_PRODUCERS)
        # Until every required input has been received once the unit waits (NO_DATA), rather than
        # stop on the first role whose message or page has not come round yet.
        self._inputs_seen = False
        self._senders = {name: codec.fresh_sender(name) for name in codec.signal_map.messages_of("cu")}
        self._lsb = codec.resolutions(("compute_power_w", "junction_temp_c", "tokens_per_s",
                                       "cu_requested_pack_current_a", "energy_from_pack_wh", "energy_from_grid_wh"))
        #: The one Observation the supervisor is given, updated in place each tick.  Its input
        #: fields are rewritten only when a merge may have changed ``inputs`` (see observe).
        self.observation = Observation(now_s=clock.now)
        self._write_inputs(self.observation)
        self._started = False
        # The message that names the input behind a stop (role cu_reason_frame_id), sent on change.
        binding = codec.signal_map.binding("cu_reason_frame_id")
        self._naming_message = binding.message if binding is not None and binding.message in self._senders else None
        self._named_sent: tuple[object, object] = (0, "NONE")
        #: The supervisor's decision at the last tick (None before the first).
        self.last_decision: Decision | None = None
        self._token_window: deque[int] = deque(maxlen=max(1, round(1.0 / tick_s)))

    @classmethod
    def from_config(cls, codec: BenchCodec, port: BusPort, clock: Clock, *, seed: int = 0,
                    fidelity: str = "model", performance: str = "reference", defect: str | Iterable[str] | None = None,
                    model: str | None = None, model_sha256: str | None = None,
                    request_tokens: int | None = None, coolant_c: float = 25.0, tick_s: float = TICK_S,
                    stale_cycles: float | None = None, min_stale_s: float | None = None,
                    e2e: dict[str, Any] | None = None, **unknown: Any) -> ComputeEmulator:
        """Build the emulator from the ``dut`` table of a bench config.

        ``stale_cycles`` and ``min_stale_s`` replace ``supervisor.toml``'s
        staleness figures (a signal map's ``[timing]`` still wins over them).
        ``model`` is a bundled model's name or a path (a scenario's is resolved from
        its file); ``model_sha256`` the hash it must have (a manifest.toml beside a
        user's model is checked too); ``request_tokens`` the new tokens per request,
        which with the prompt must fit the model's context (refused at load).

        Raises:
            ConfigError: an unknown key, fidelity, performance source or defect, or a
                staleness figure out of range.
        """
        if unknown:
            raise ConfigError(None, "dut", f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(DUT_CONFIG_KEYS)}")
        params = SupervisorParams.load()
        for key, value, least in (("stale_cycles", stale_cycles, 1.0), ("min_stale_s", min_stale_s, 0.0)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= least:
                raise ConfigError(None, f"dut.{key}", f"expected a number >= {least:g}, got {value!r}")
            params = dataclasses.replace(params, **{key: float(value)})
        defects = frozenset([defect] if isinstance(defect, str) else (defect or ()))
        if performance not in ("reference", "calibrated"):
            raise ConfigError(None, "dut.performance", f"expected 'reference' or 'calibrated', got {performance!r}")
        perf, table = reference_performance()
        # Before any model is loaded: the Supervisor refuses an unknown defect.
        supervisor = Supervisor(max_power_w=table.max_w, params=params, defects=defects)
        engine = None
        runs_a_model = fidelity == "real" or performance == "calibrated"
        named = [key for key, value in (("model", model), ("model_sha256", model_sha256),
                                        ("request_tokens", request_tokens)) if value is not None]
        if named and not runs_a_model:
            raise ConfigError(None, f"dut.{named[0]}", f"{', '.join(named)} set, but no model runs at fidelity "
                                                       f"{fidelity!r} with the reference performance table: set "
                                                       'fidelity = "real" or performance = "calibrated"')
        if request_tokens is None:
            request_tokens = DEFAULT_REQUEST_TOKENS
        if runs_a_model:
            from .compute.calibration import calibrate
            from .compute.engine import BUNDLED_MANIFEST, InferenceEngine, bundled_model

            manifest: str | None
            if not model:
                path, manifest = str(bundled_model()), str(BUNDLED_MANIFEST)
            elif bundled_model(f"{model}.onnx").is_file():
                # A bundled model by name ("tiny-llm-int8"): checked against the shipped manifest.
                path, manifest = str(bundled_model(f"{model}.onnx")), str(BUNDLED_MANIFEST)
            else:
                # A user's model: checked against a manifest beside it when there is one.
                beside = Path(model).parent / "manifest.toml"
                path, manifest = model, (str(beside) if beside.is_file() else None)
            engine = InferenceEngine(path, manifest=manifest, sha256=model_sha256)
            engine.check_request(list(DEFAULT_PROMPT), request_tokens, entry="dut.request_tokens")
            if performance == "calibrated":
                perf = calibrate(engine, table, steps=request_tokens)
        trips = None
        if "ignore_thermal" in defects:
            trips = ThermalTrips(TripPoint(500.0, 5.0), TripPoint(600.0, 2.0), TripPoint(700.0, 15.0))
        elif "wrong_hysteresis" in defects:
            default = ThermalTrips()
            trips = ThermalTrips(TripPoint(default.passive.temp_c, 0.0), TripPoint(default.hot.temp_c, 0.0),
                                 TripPoint(default.critical.temp_c, 0.0))
        unit = ComputeUnit(perf, table=table, fidelity=fidelity, engine=engine,  # type: ignore[arg-type]
                           governor=Governor(trips=trips, levels=table), seed=seed, coolant_c=coolant_c,
                           request_tokens=request_tokens)
        if e2e is not None and not isinstance(e2e, dict):
            raise ConfigError(None, "dut.e2e", f"expected a table of E2E state machine settings, got {e2e!r}")
        e2e_config = E2EConfig.load(**(e2e or {}))
        return cls(codec, port, clock, unit, supervisor, tick_s=tick_s, e2e_config=e2e_config)

    # -- receiving -------------------------------------------------------------
    def _frame_handler(self, msg_codec: MessageCodec, receiver: E2EStateMachine | None,
                       pages: tuple[tuple[int, str], ...] = ()) -> Callable[[Frame], None]:
        """The port handler for one input message.

        Each message gets its own handler with its codec, E2E receiver and name
        bound, so a frame costs no lookups before it is decoded and checked.  A
        multiplexed message's frames are kept and timed per page (``pages``).
        """
        if pages:
            return self._paged_frame_handler(msg_codec, receiver, pages)
        name = msg_codec.name
        clock = self.clock
        latest = self._latest_by_message
        last_valid = self._last_valid_s
        receive = msg_codec.receive
        check = receiver.on_frame if receiver is not None else None

        def on_frame(msg: Frame) -> None:
            data = msg.data
            try:
                roles, crc_ok = receive(data)
            except Exception:
                self.decode_errors += 1
                return
            # Arrival time as the frame says, but never later than now: an adapter whose clock
            # runs ahead must not make stale data look fresh.  This is min(arrived, now) spelled
            # out (same result, NaN included) to save a builtin call on every frame.
            arrived = msg.timestamp - clock.epoch_s
            now = clock.now
            arrived = now if now < arrived else arrived  # noqa: FURB136
            if check is not None:
                if check(data, arrived, crc_ok) is not _FRAME_OK:
                    self.e2e_errors += 1
                    return  # a frame that fails E2E is never used
                if receiver.state is not _E2E_VALID:   # type: ignore[union-attr]
                    return  # INIT: the stream has not proven itself yet
                # The data is as old as the receiver measured it (a delayed stream's lag), and
                # never younger than the sender's schedule says (a frame late within tolerance).
                arrived = _data_time_s(receiver, arrived, now)   # type: ignore[arg-type]
            latest[name] = roles   # merged into inputs at the next tick
            last_valid[name] = arrived

        return on_frame

    def _paged_frame_handler(self, msg_codec: MessageCodec, receiver: E2EStateMachine | None,
                             pages: tuple[tuple[int, str], ...]) -> Callable[[Frame], None]:
        """As :meth:`_frame_handler`, for a multiplexed message: each page is its own input.

        A frame's page is told by a role only that page carries; a frame of a page
        with no role the unit reads still brings the message's unmultiplexed roles.
        """
        name = msg_codec.name
        clock = self.clock
        latest = self._latest_by_message
        last_valid = self._last_valid_s
        receive = msg_codec.receive
        check = receiver.on_frame if receiver is not None else None
        marker_of = tuple((next(s.role for s in msg_codec.slots if s.mux == page), key) for page, key in pages)

        def on_frame(msg: Frame) -> None:
            data = msg.data
            try:
                roles, crc_ok = receive(data)
            except Exception:
                self.decode_errors += 1
                return
            arrived = msg.timestamp - clock.epoch_s
            now = clock.now
            arrived = now if now < arrived else arrived  # noqa: FURB136
            if check is not None:
                if check(data, arrived, crc_ok) is not _FRAME_OK:
                    self.e2e_errors += 1
                    return
                if receiver.state is not _E2E_VALID:   # type: ignore[union-attr]
                    return
                arrived = _data_time_s(receiver, arrived, now)   # type: ignore[arg-type]
            key = name
            for marker, page_key in marker_of:
                if marker in roles:
                    key = page_key
                    break
            # Pages share the roles outside the multiplexer, so the merge must take them in the
            # order they last arrived: a page that comes again moves to the end.
            latest.pop(key, None)
            latest[key] = roles
            last_valid[key] = arrived

        return on_frame

    def _fresh_since(self, keys: tuple[str, ...], oldest: float) -> bool:
        """Every input in ``keys`` (one producer's) was received valid at or after ``oldest``."""
        last = self._last_valid_s
        for key in keys:
            if last.get(key, -1e9) < oldest:
                return False
        return True

    def _fresh(self, groups: tuple[tuple[float, tuple[str, ...]], ...], now: float) -> bool:
        """Every message in ``groups`` (one producer's) was received valid within its timeout of ``now``.

        A producer with no input message mapped has nothing that can go stale.
        """
        last = self._last_valid_s
        for timeout_s, names in groups:
            oldest = now - timeout_s
            for name in names:
                if last.get(name, -1e9) < oldest:
                    return False
        return True

    def observe(self) -> Observation:
        """What the unit knows now, from valid, fresh frames only.

        The same :class:`Observation` each tick, updated in place: the supervisor reads it
        within the tick and keeps nothing of it.
        """
        obs = self.observation
        if self._merge_latest():
            self._write_inputs(obs)
        now = self.clock.now
        obs.now_s = now
        e2e_ok = True
        for receiver in self._receivers_list:
            if receiver.state is _E2E_INVALID:
                e2e_ok = False
                break
        obs.e2e_ok = e2e_ok
        uniform_s = self._uniform_stale_s
        if uniform_s is not None:
            oldest = now - uniform_s
            bms_keys, vcu_keys, obc_keys = self._keys_by_producer
            fresh_since = self._fresh_since
            obs.bms_fresh = fresh_since(bms_keys, oldest)
            obs.vcu_fresh = fresh_since(vcu_keys, oldest)
            obs.obc_fresh = fresh_since(obc_keys, oldest)
        else:
            groups = self._stale_groups
            obs.bms_fresh = self._fresh(groups["bms"], now)
            obs.vcu_fresh = self._fresh(groups["vcu"], now)
            obs.obc_fresh = self._fresh(groups["obc"], now)
        last = self.unit.last
        obs.junction_c = self.unit.thermal.junction_c
        obs.compute_power_w = last.power_w if last else 0.0
        return obs

    def _merge_latest(self) -> bool:
        """Merge the roles each message last brought into ``inputs``; True if ``inputs`` may have changed."""
        latest = self._latest_by_message
        if not latest:
            return False
        i = self.inputs
        merged = self._merged
        changed = False
        for name, roles in latest.items():
            # The codec hands out one shared, read-only dict per distinct payload (counter and
            # CRC aside; tests/dut/test_emulator_inputs.py holds it to that).  When no other
            # message carries the same roles, a message that brings the very dict merged last
            # time would change nothing in ``inputs``: skip the merge.
            if merged is None:
                i.update(roles)
                changed = True
            elif roles is not merged.get(name):
                merged[name] = roles
                i.update(roles)
                changed = True
        latest.clear()
        return changed

    def _write_inputs(self, obs: Observation) -> None:
        """Set the fields of ``obs`` that come from ``inputs`` (the decoded roles), by name.

        They change only when a merge changes ``inputs``; observe calls this only then.
        """
        get = self.inputs.get
        if not self._inputs_seen:
            self._inputs_seen = all(get(role) is not None for role in REQUIRED_INPUT_ROLES)
        obs.inputs_seen = self._inputs_seen
        obs.gear = get("gear")  # type: ignore[assignment]
        obs.drive_requested = bool(get("drive_requested", 0))
        obs.compute_allowed = bool(get("compute_allowed", 1))
        obs.coolant_c = get("coolant_temp_c")  # type: ignore[assignment]
        obs.soc_pct = get("soc_pct")  # type: ignore[assignment]
        obs.reserve_soc_pct = get("range_reserve_soc_pct")  # type: ignore[assignment]
        obs.pack_voltage_v = get("pack_voltage_v")  # type: ignore[assignment]
        obs.pack_current_a = get("pack_current_a")  # type: ignore[assignment]
        obs.dcl_a = get("discharge_current_limit_a")  # type: ignore[assignment]
        obs.min_cell_voltage_v = get("min_cell_voltage_v")  # type: ignore[assignment]
        obs.cell_voltage_min_limit_v = get("cell_voltage_min_limit_v")  # type: ignore[assignment]
        obs.bms_fault_level = get("bms_fault_level")  # type: ignore[assignment]
        obs.temp_fault_level = max(_LEVEL_ORDER.get(get("over_temp_discharge"), 0),
                                   _LEVEL_ORDER.get(get("under_temp_discharge"), 0))
        obs.contactor_closed = get("contactor_state", "CLOSED") == "CLOSED"
        obs.plug_present = bool(get("plug_present", 0))
        obs.cp_state = get("cp_state")  # type: ignore[assignment]
        obs.charge_power_w = get("charge_power_w") or 0.0  # type: ignore[assignment]

    # -- the tick ----------------------------------------------------------------
    def tick(self) -> None:
        """One period of the unit (every ``tick_s``, from :meth:`start`): read, decide, compute, report.

        Drains the port, lets the supervisor decide on the observation, runs the compute unit
        for ``tick_s`` at the granted budget (or off), lets a thermal trip override the state,
        and updates the values the status frames carry (sent on their own cycles; the frame
        that names a stale or E2E input goes out at once when it changes).
        """
        # Like an ECU's periodic CAN task: take every frame that arrived since the last tick
        # (each is still E2E-checked in order), then decide on the freshest values.
        self.port.poll()
        obs = self.observe()
        supervisor = self.supervisor
        unit = self.unit
        decision = supervisor.decide(obs)
        self.last_decision = decision
        computes = decision.computes
        coolant = obs.coolant_c if obs.coolant_c is not None else unit.coolant_c
        if computes:
            result = unit.tick(self.tick_s, _P100, budget_w=decision.budget_w, coolant_c=coolant)
        else:
            result = unit.tick(self.tick_s, _OFF, coolant_c=coolant)
        state, reason = decision.state, decision.reason
        thermal = thermal_reason(result.reason) if computes else None
        if thermal == "JUNCTION_CRITICAL":
            state, reason = _SAFE_STOP, thermal
        elif thermal is not None:
            state, reason = _DERATED, thermal
        energy_j = result.energy_j
        if obs.plug_present and obs.cp_state in ("C", "D") and obs.charge_power_w > 0:
            self.energy_from_grid_j += energy_j
        else:
            self.energy_from_pack_j += energy_j
        level = result.level
        level_computes = _LEVEL_COMPUTES[level]
        if computes and not level_computes and result.reason == "budget" and state in (_RUNNING, _DERATED):
            # The granted budget does not reach the lowest computing level: say the unit
            # stopped, rather than report a derated unit that makes no tokens.
            state = _SAFE_STOP
        supervisor.report(obs.now_s, state, reason)
        if reason in _INPUT_REASONS:
            self._name_the_input(reason, obs.now_s)
        elif self.values["cu_reason_frame_id"]:
            self.values["cu_reason_frame_id"], self.values["cu_reason_input_state"] = 0, "NONE"
        computing = state in (_RUNNING, _DERATED) and level_computes
        v = self.values
        v["cu_state"] = _STATE_NAMES[state]
        v["cu_reason"] = reason
        v["cu_power_level"] = _LEVEL_NAMES[level]
        v["cu_requested_level"] = "P100" if computing else "OFF"
        v["compute_power_w"] = result.power_w
        v["junction_temp_c"] = result.junction_c
        # Tokens come in whole numbers per tick; report the rate over the last second
        # (the window's maxlen is one second of ticks).
        window = self._token_window
        window.append(result.tokens)
        v["tokens_per_s"] = sum(window) / (len(window) * self.tick_s)
        v["tokens_total"] = unit.tokens_total
        v["cu_keep_awake"] = 1 if computing else 0
        pack_v = obs.pack_voltage_v or 0.0
        v["cu_requested_pack_current_a"] = (result.power_w / supervisor.params.dcdc_efficiency / pack_v
                                            if pack_v > 0 else 0.0)
        v["energy_from_pack_wh"] = self.energy_from_pack_j / 3600.0
        v["energy_from_grid_wh"] = self.energy_from_grid_j / 3600.0
        quantize(v, self._lsb)
        named = (v["cu_reason_frame_id"], v["cu_reason_input_state"])
        if named != self._named_sent:
            # The input named for a stop goes out at once, not up to its (1 s) cycle later: a stop
            # shorter than a cycle is still explained on the bus.
            self._named_sent = named
            if self._naming_message is not None and self._started:
                self.send_now(self._naming_message)

    def _name_the_input(self, reason: str, now_s: float) -> None:
        """Put the input behind a stale or E2E reason on the bus: its frame ID and receiver state.

        For E2E_ERROR the first input whose receiver is INVALID; for a producer's STALE the
        first of its inputs whose data is older than its timeout (NODATA or INIT when its
        receiver has not let the data through yet, STALE when the data itself is too old).
        """
        producer = _STALE_PRODUCER.get(reason)
        for key, (group, name) in self._watched.items():
            receiver = self.receivers.get(name)
            if reason == "E2E_ERROR":
                if receiver is None or receiver.state is not _E2E_INVALID:
                    continue
                state = "INVALID"
            elif producer is not None and group == producer:
                if self._last_valid_s.get(key, -1e9) >= now_s - self.stale_after_s[key]:
                    continue
                state = "STALE" if receiver is None or receiver.state is _E2E_VALID else receiver.state.name
            else:
                continue
            self.values["cu_reason_frame_id"] = self.codec.message(name).frame_id
            self.values["cu_reason_input_state"] = state
            return
        self.values["cu_reason_frame_id"], self.values["cu_reason_input_state"] = 0, "NONE"

    def start(self) -> None:
        """Schedule the tick (from 5 ms) and each status message on its DBC cycle (from 6 ms, 1 ms apart).

        A no-op once started.  A status message without a cycle time is not scheduled.
        """
        if self._started:
            return
        self._started = True
        self.clock.call_every(self.tick_s, self.tick, offset_s=0.005)
        values = self.values
        for index, (name, sender) in enumerate(self._senders.items()):
            self.schedule(name, sender, lambda s: s.encode(values), offset_s=0.006 + index * 0.001)

    def snapshot(self) -> dict[str, object]:
        """What the unit reports, its last transitions, and each input's E2E receiver state."""
        now = self.clock.now
        return {**self.values, "transitions": list(self.supervisor.transitions[-20:]),
                "e2e_errors": self.e2e_errors,
                "receivers": {name: (r.state.name, r.data_age_s(now), dict(r.errors))
                              for name, r in self.receivers.items()}}
