"""Encode bench values into CAN frames and decode frames back, through cantools.

Role values (``soc_pct``, ``gear``) are translated through the signal map;
values outside a signal's DBC range saturate as a real ECU's would instead
of stopping the run (and the first clip of each signal is reported as a
warning, since the meaning changed), and protected messages get their alive
counter and checksum here -- AUTOSAR E2E or the car's own scheme -- so every
sender is protected the same way.  Roles in a multiplexed message are sent
page by page: each frame carries the multiplexer value of the next page that
holds mapped roles, as a real ECU cycles through its pages.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import can
from cantools.database.can import Database, Message

from . import e2e
from .protection import AutosarP2, Protection
from .signal_map import RoleBinding, SignalMap

CACHE_SIZE = 4096


def _remember(cache: dict, key, value):
    """Store ``value`` under ``key`` in a bounded memo (emptied when full) and return it."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


def _representable(signal) -> tuple[float, float]:
    """Physical range the signal's bits can carry (a DBC may leave min/max at 0|0: none given)."""
    if signal.is_float:
        return float("-inf"), float("inf")
    if signal.is_signed:
        raw_lo, raw_hi = -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    else:
        raw_lo, raw_hi = 0, (1 << signal.length) - 1
    scale = signal.scale or 1.0
    a, b = raw_lo * scale + signal.offset, raw_hi * scale + signal.offset
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class _RoleSlot:
    role: str
    signal: str
    scale: float
    offset: float
    raw_by_state: dict[str, int]
    state_by_raw: dict[int, str]
    mux: int | None = None
    true_raw: frozenset[int] = frozenset()
    send_true: int | None = None
    send_false: int | None = None


class MessageCodec:
    """One DBC message: its role slots, E2E settings and a per-sender alive counter."""

    def __init__(self, message: Message, bindings: list[RoleBinding], e2e_base: int | None,
                 cycle_time_s: float | None, protection: Protection | None = None,
                 warnings: dict[str, str] | None = None) -> None:
        self.message = message
        self.name = message.name
        self.frame_id = message.frame_id
        self.is_extended_id = message.is_extended_frame
        self.is_fd = message.is_fd
        self.length = message.length
        self.e2e_base = e2e_base
        #: How the message's counter and checksum are written and checked (None: unprotected).
        #: The bench DBC's profile-2 messages keep a faster path of their own (``e2e_base``).
        self.protection: Protection | None = (
            protection if protection is not None
            else AutosarP2([e2e.profile2_data_id(e2e_base, c) for c in range(16)]) if e2e_base is not None
            else None)
        self._generic = self.protection if e2e_base is None else None
        self.cycle_time_s = cycle_time_s
        self.counter = 0
        self.slots = [
            _RoleSlot(b.role.name, b.signal, b.scale, b.offset, b.raw_by_state, b.state_by_raw, b.mux,
                      b.true_raw, b.send_true, b.send_false)
            for b in bindings
        ]
        self._warnings = warnings
        self._bounds: dict[str, tuple[float, float]] = {}
        self._template: dict[str, float] = {}
        for signal in message.signals:
            lo, hi = _representable(signal)
            # A DBC range with its ends swapped or outside what the bits carry means nothing
            # (community DBCs have them); only a range inside the representable one clips.
            minimum, maximum = signal.minimum, signal.maximum
            if minimum is not None and maximum is not None and minimum > maximum:
                minimum = maximum = None
            if minimum is not None and minimum <= hi:
                lo = max(lo, minimum)
            if maximum is not None and maximum >= lo:
                hi = min(hi, maximum)
            self._bounds[signal.name] = (lo, hi)
            if signal.multiplexer_ids is None:
                self._template[signal.name] = min(max(0.0, lo), hi)
        #: Multiplexer values whose pages carry mapped roles, in the order they are sent.
        self.pages: tuple[int, ...] = tuple(sorted({slot.mux for slot in self.slots if slot.mux is not None}))
        if not self.pages and self.slots and message.is_multiplexed():
            # Roles only outside the multiplexed part: send the lowest multiplexer value's page
            # (cantools needs every signal of the page being encoded).
            first = min(i for s in message.signals if s.multiplexer_ids for i in s.multiplexer_ids)
            for signal in message.signals:
                if signal.multiplexer_ids is not None and first in signal.multiplexer_ids:
                    lo, hi = self._bounds[signal.name]
                    self._template[signal.name] = min(max(0.0, lo), hi)
                elif signal.is_multiplexer:
                    self._template[signal.name] = first
        self._page = 0
        self._page_templates: dict[int, dict[str, float]] = {}
        if self.pages:
            mux_name = message.get_signal_by_name(
                next(b.signal for b in bindings if b.mux is not None)).multiplexer_signal
            assert mux_name is not None   # the signal sits under a multiplexer, so it names it
            for page in self.pages:
                template = dict(self._template)
                template[mux_name] = page
                for signal in message.signals:
                    if signal.multiplexer_ids is not None and page in signal.multiplexer_ids:
                        lo, hi = self._bounds[signal.name]
                        template[signal.name] = min(max(0.0, lo), hi)
                self._page_templates[page] = template
        # Role registers: a value not given to encode() keeps its last value.
        self._registers: dict[str, object] = {slot.role: None for slot in self.slots}
        self._role_names = tuple(self._registers)
        self._good_key: tuple = tuple(self._registers.values())   # the last value set that encoded
        # The value set last encoded, by its sender's number, and its payload.
        self._version: int | None = None
        self._payload = b""
        # Encoding and decoding are pure functions of their inputs; parked-car
        # traffic repeats itself a lot, so both are memoised (bounded).
        self._encoded: dict[tuple, bytes] = {}
        self._detail: dict[tuple, bytes] = {}
        self._decoded: dict[bytes, dict[str, object]] = {}
        self._received: dict[bytes, tuple[dict[str, object], bool]] = {}
        self._protected: dict[bytes, list[bytes | None]] = {}

    # -- sending -----------------------------------------------------------
    def encode(self, roles: Mapping[str, object], signals: Mapping[str, float] | None = None, *,
               version: int | None = None) -> can.Message:
        """Build one frame from role values (and raw DBC signals, for mux/detail messages).

        Role values not given keep their last value (a sender's registers);
        values outside a signal's range saturate at its limits.  A sender that
        numbers its value sets (``version``) lets a repeat of the same set skip
        reading them again: a BMS samples at 10 Hz but sends some messages at 50 Hz.
        """
        page = None
        if self.pages:
            page = self.pages[self._page % len(self.pages)]
            self._page += 1
            version = None      # each page is its own frame: nothing to repeat
        if version is not None and version == self._version and not signals:
            return self._frame(self._payload)
        registers = self._registers
        for name in self._role_names:
            if name in roles:
                registers[name] = roles[name]
        key = tuple(registers.values()) if not signals else (*registers.values(), *signals.items())
        if page is not None:
            key = (*key, ("page", page))
        self._version = None
        payload = self._encoded.get(key)
        if payload is None:
            try:
                payload = self._encode_uncached(signals, page)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                good = dict(zip(self._role_names, self._good_key))
                bad = {k: v for k, v in registers.items() if good.get(k, v) != v}
                registers.update(good)   # a rejected value must not poison later frames
                self._version = None
                raise ValueError(f'cannot encode message "{self.name}" from {bad or dict(signals or {})}: '
                                 f"{exc!r}") from None
            _remember(self._encoded, key, payload)
        self._good_key = key
        self._payload = payload
        self._version = version
        return self._frame(payload)

    def encode_detail(self, key: Hashable, make_signals: Callable[[Hashable], Mapping[str, float]]) -> can.Message:
        """Build a detail frame (per-cell, multiplexed) whose raw signals ``key`` identifies.

        ``make_signals(key)`` is called only for a key not seen before: a BMS sends the
        same cell readings in several frames between two samples, and building the
        signal dict costs more than the frame.
        """
        full_key = (*self._registers.values(), key)
        payload = self._detail.get(full_key)
        if payload is None:
            signals = make_signals(key)
            try:
                payload = self._encode_uncached(signals)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                raise ValueError(f'cannot encode message "{self.name}" from {dict(signals)}: {exc!r}') from None
            _remember(self._detail, full_key, payload)
        return self._frame(payload)

    def _frame(self, payload: bytes) -> can.Message:
        """The frame for ``payload``, with alive counter and CRC if the message is protected."""
        generic = self._generic
        if generic is not None:
            counter = self.counter
            self.counter = (counter + 1) % generic.counter_modulus
            variants = self._protected.get(payload)
            if variants is None:
                variants = _remember(self._protected, payload, [None] * generic.counter_modulus)
            data = variants[counter]
            if data is None:
                data = variants[counter] = bytes(generic.protect(bytearray(payload), counter))
        elif self.e2e_base is not None:
            counter = self.counter
            self.counter = (counter + 1) & 0x0F
            variants = self._protected.get(payload)
            if variants is None:
                variants = _remember(self._protected, payload, [None] * 16)
            data = variants[counter]
            if data is None:
                data = variants[counter] = bytes(e2e.protect(bytearray(payload), self.e2e_base, counter))
        else:
            data = payload
        # Positional arguments (timestamp, arbitration_id, is_extended_id, is_remote_frame,
        # is_error_frame, channel, dlc, data, is_fd, is_rx, bitrate_switch): this runs once
        # per frame and keyword passing costs a third of the constructor.  The data goes in
        # as the bytearray the message keeps (it would copy bytes into one, more slowly).
        fd = self.is_fd
        return can.Message(0.0, self.frame_id, self.is_extended_id, False, False, None, None, bytearray(data),
                           fd, False, fd)

    def _encode_uncached(self, signals: Mapping[str, float] | None, page: int | None = None) -> bytes:
        values = dict(self._template if page is None else self._page_templates[page])
        bounds = self._bounds
        registers = self._registers
        for slot in self.slots:
            if slot.mux is not None and slot.mux != page:
                continue
            role_value = registers[slot.role]
            if role_value is None:
                continue
            # The DBC signal's value (scaled, not raw bits): a state's number, a flag's, or the role converted.
            value: float
            if slot.raw_by_state:
                value = slot.raw_by_state[role_value]  # type: ignore[index]   # a state name: checked when set
            elif slot.true_raw:
                # send_true and send_false are both set wherever true_raw is (the map loader's rule)
                value = slot.send_true if role_value else slot.send_false  # type: ignore[assignment]
            else:
                value = (float(role_value) - slot.offset) / slot.scale  # type: ignore[arg-type]   # a number
            lo, hi = bounds[slot.signal]
            if value < lo or value > hi:
                self._clipped(slot, value, lo, hi)
                value = lo if value < lo else hi
            values[slot.signal] = value
        if signals:
            for name, value in signals.items():
                lo, hi = bounds[name]
                values[name] = lo if value < lo else hi if value > hi else value
        return self.message.encode(values, scaling=True, padding=False, strict=False)

    def _clipped(self, slot: _RoleSlot, value: float, lo: float, hi: float) -> None:
        """Report the first value of a role its DBC signal could not carry (the meaning changed)."""
        sink = self._warnings
        key = f"{self.name}.{slot.signal}"
        if sink is None or key in sink or value != value:
            return
        role_value = value * slot.scale + slot.offset
        bound = lo if value < lo else hi
        sink[key] = (f'role "{slot.role}" value {role_value:g} is outside {key}\'s DBC range '
                     f"[{lo * slot.scale + slot.offset:g}, {hi * slot.scale + slot.offset:g}]; "
                     f"sent as {bound * slot.scale + slot.offset:g}")

    def new_receiver(self) -> e2e.E2EReceiver | None:
        """A receiver that checks this message's counter and checksum, or None when unprotected."""
        if self.e2e_base is not None:
            return e2e.E2EReceiver(self.e2e_base)
        if self.protection is not None and (self.protection.has_counter or self.protection.has_checksum):
            return e2e.E2EReceiver(protection=self.protection)
        return None

    # -- receiving ---------------------------------------------------------
    def receive(self, data: bytes | bytearray) -> tuple[dict[str, object], bool]:
        """Role values of a frame and whether its E2E CRC is right (True when unprotected).

        Raises whatever cantools raises for a payload it cannot decode.  The
        returned dict is shared with a cache: read it, do not change it.
        """
        key = bytes(data)
        cached = self._received.get(key)
        if cached is not None:
            return cached
        crc_ok = True
        generic = self._generic
        if generic is not None:
            crc_ok = generic.checksum_ok(key)
            roles = self.decode_roles(generic.blank(key))
        elif self.e2e_base is not None and len(key) >= 2:
            crc_ok = e2e.profile2_crc(key, self.e2e_base) == key[0]
            # The roles never include the CRC or the alive counter: decode the payload with
            # both cleared, so the 16 counter variants of one value set share one decode.
            roles = self.decode_roles(b"\x00" + bytes((key[1] & 0xF0,)) + key[2:])
        else:
            roles = self.decode_roles(key)
        return _remember(self._received, key, (roles, crc_ok))

    def decode_signals(self, data: bytes | bytearray) -> dict[str, float]:
        """Every DBC signal of a frame by its DBC name, scaled, enumerations as raw numbers (not cached).

        Unlike :meth:`receive` it ignores the signal map and the E2E fields: for tools that show a whole frame.
        """
        # Numbers only (decode_choices=False), one frame (containers are not decoded).
        return cast("dict[str, float]", self.message.decode(bytes(data), decode_choices=False, scaling=True))

    def decode_roles(self, data: bytes | bytearray) -> dict[str, object]:
        """Role values of one frame; enumerated roles as bench state names (None if unknown).

        The returned dict is shared with a cache: read it, do not change it.
        """
        key = bytes(data)
        cached = self._decoded.get(key)
        if cached is not None:
            return cached
        # Numbers only (decode_choices=False), one frame (containers are not decoded).
        decoded = cast("dict[str, float]", self.message.decode(key, decode_choices=False, scaling=True))
        out: dict[str, object] = {}
        for slot in self.slots:
            if slot.mux is not None and slot.signal not in decoded:
                continue    # another page of a multiplexed message: its roles are not in this frame
            value = decoded[slot.signal]
            if slot.state_by_raw:
                out[slot.role] = slot.state_by_raw.get(int(value))
            elif slot.true_raw:
                out[slot.role] = 1.0 if int(value) in slot.true_raw else 0.0
            else:
                out[slot.role] = value * slot.scale + slot.offset
        _remember(self._decoded, key, out)
        return out


class BenchCodec:
    """All messages of a DBC as seen through one signal map."""

    def __init__(self, db: Database, signal_map: SignalMap) -> None:
        self.db = db
        self.signal_map = signal_map
        by_message: dict[str, list[RoleBinding]] = {}
        for binding in signal_map.roles.values():
            by_message.setdefault(binding.message, []).append(binding)
        self.by_name: dict[str, MessageCodec] = {}
        self.by_id: dict[tuple[int, bool], MessageCodec] = {}
        #: Values a role's signal could not carry, by "Message.Signal" (first clip of each).
        self.warnings: dict[str, str] = {}
        self._protections = {name: spec.build(db.get_message_by_name(name))
                             for name, spec in signal_map.protection.items()}
        for message in db.messages:
            codec = MessageCodec(
                message, by_message.get(message.name, []),
                signal_map.e2e_data_id_base.get(message.name),
                signal_map.cycle_time_s.get(message.name)
                or ((message.cycle_time or 0) / 1000.0 or None),
                self._protections.get(message.name), self.warnings,
            )
            self.by_name[message.name] = codec
            self.by_id[(message.frame_id, message.is_extended_frame)] = codec

    def message(self, name: str) -> MessageCodec:
        """The codec of the message DBC-named ``name``; raises KeyError if no loaded DBC defines it."""
        return self.by_name[name]

    def resolutions(self, roles: Iterable[str]) -> dict[str, float]:
        """Bus resolution (role units per bit) of each numeric role in ``roles`` that is mapped."""
        out: dict[str, float] = {}
        for role in roles:
            binding = self.signal_map.binding(role)
            if binding is None or binding.role.is_enum:
                continue
            signal = self.by_name[binding.message].message.get_signal_by_name(binding.signal)
            lsb = abs(signal.scale * binding.scale)
            if lsb > 0 and not signal.is_float:
                out[role] = lsb
        return out

    def for_frame(self, msg: can.Message) -> MessageCodec | None:
        """The codec of a received frame by ID and ID width, or None for an ID no loaded DBC defines."""
        return self.by_id.get((msg.arbitration_id, msg.is_extended_id))

    def fresh_sender(self, name: str) -> MessageCodec:
        """A codec with its own alive counter and registers, for one sending node."""
        base = self.by_name[name]
        bindings = [b for b in self.signal_map.roles.values() if b.message == name]
        return MessageCodec(base.message, bindings, base.e2e_base, base.cycle_time_s,
                            self._protections.get(name), self.warnings)


def quantize(values: dict[str, object], resolutions: Mapping[str, float]) -> None:
    """Round numeric role values to their bus resolution, in place.

    A sender's transmit buffer holds what the wire can carry; publishing that
    (rather than every last bit of a measurement) lets repeated frames encode
    from cache.  Non-numbers are left alone.
    """
    for role, lsb in resolutions.items():
        value = values.get(role)
        if isinstance(value, float):
            values[role] = round(value / lsb) * lsb
