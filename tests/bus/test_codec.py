"""BenchCodec: role values <-> frames through the DBC and signal map, with E2E and memo caches."""

from __future__ import annotations

import functools
import math

import pytest
from cantools.autosar.end_to_end import compute_profile2_crc
from hypothesis import given, settings
from hypothesis import strategies as st

from hilbench.bus import BenchCodec, load_bus_description
from hilbench.bus.e2e import E2EReceiver, E2EStatus, profile2_crc, protect


@functools.cache
def _codec() -> BenchCodec:
    description = load_bus_description()
    return BenchCodec(description.db, description.signal_map)


ROLE_MESSAGES = sorted({b.message for b in _codec().signal_map.roles.values()})
E2E_MESSAGES = sorted(_codec().signal_map.e2e_data_id_base)


def _slot_info(name: str):
    """(role, signal, binding, lo_role, hi_role, resolution_role) for each role slot of a message."""
    codec = _codec()
    message = codec.db.get_message_by_name(name)
    out = []
    for slot in codec.message(name).slots:
        binding = codec.signal_map.roles[slot.role]
        signal = message.get_signal_by_name(slot.signal)
        ends = sorted((signal.minimum * binding.scale + binding.offset,
                       signal.maximum * binding.scale + binding.offset))
        out.append((slot.role, signal, binding, ends[0], ends[1], abs(signal.scale * binding.scale)))
    return out


def _role_values(draw, name: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for role, _signal, binding, lo, hi, _res in _slot_info(name):
        if binding.role.is_enum:
            values[role] = draw(st.sampled_from(binding.role.states))
        else:
            values[role] = draw(st.floats(lo, hi, allow_nan=False))
    return values


def test_every_role_message_has_slots() -> None:
    assert "BMS_PackStatus" in ROLE_MESSAGES and "CU_Status" in ROLE_MESSAGES
    for name in ROLE_MESSAGES:
        assert _codec().message(name).slots


@pytest.mark.parametrize("name", ROLE_MESSAGES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_within_dbc_resolution(name: str, data) -> None:
    codec = _codec()
    sender = codec.fresh_sender(name)
    values = _role_values(data.draw, name)
    frame = sender.encode(values)
    assert frame.arbitration_id == codec.message(name).frame_id
    assert len(frame.data) == codec.message(name).length
    decoded = codec.for_frame(frame).decode_roles(frame.data)
    for role, _signal, binding, _lo, _hi, res in _slot_info(name):
        if binding.role.is_enum:
            assert decoded[role] == values[role], role       # state names, not raw numbers
        else:
            assert decoded[role] == pytest.approx(values[role], abs=res / 2 + 1e-9), role


@pytest.mark.parametrize("name", ROLE_MESSAGES)
def test_out_of_range_values_saturate_to_the_dbc_range(name: str) -> None:
    codec = _codec()
    numeric = [(role, lo, hi) for role, _s, b, lo, hi, _r in _slot_info(name) if not b.role.is_enum]
    if not numeric:
        pytest.skip(f"{name} carries only enumerated roles")
    high = {role: hi + 10 * (hi - lo) + 1 for role, lo, hi in numeric}
    low = {role: lo - 10 * (hi - lo) - 1 for role, lo, hi in numeric}
    for values, pick in ((high, 2), (low, 1)):
        frame = codec.fresh_sender(name).encode(values)
        decoded = codec.for_frame(frame).decode_roles(frame.data)
        for role, lo, hi in numeric:
            assert decoded[role] == pytest.approx((None, lo, hi)[pick], abs=1e-6), role


def test_saturation_of_raw_detail_signals() -> None:
    codec = _codec()
    sender = codec.fresh_sender("BMS_CellVoltages")
    frame = sender.encode({}, {"CellGroup": 1, "CellVoltage005": 99.0, "CellVoltage006": -3.0,
                               "CellVoltage007": 3.7, "CellVoltage008": 3.8})
    decoded = sender.decode_signals(frame.data)
    assert decoded["CellVoltage005"] == pytest.approx(16.383)
    assert decoded["CellVoltage006"] == 0.0


def test_enum_roles_are_encoded_as_their_value_table_entries() -> None:
    codec = _codec()
    frame = codec.fresh_sender("VCU_VehicleStatus").encode({"gear": "D"})
    message = codec.db.get_message_by_name("VCU_VehicleStatus")
    assert message.decode(frame.data)["Gear"] == "D"
    frame = codec.fresh_sender("BMS_Faults").encode({"bms_fault_level": "HARD_LIMIT"})
    assert codec.db.get_message_by_name("BMS_Faults").decode(frame.data, decode_choices=False)["FaultLevel"] == 3


def test_unset_roles_keep_their_last_value() -> None:
    codec = _codec()
    sender = codec.fresh_sender("BMS_PackStatus")
    sender.encode({"soc_pct": 42.0, "pack_voltage_v": 380.0})
    frame = sender.encode({"pack_voltage_v": 390.0})
    decoded = codec.for_frame(frame).decode_roles(frame.data)
    assert decoded["soc_pct"] == pytest.approx(42.0)
    assert decoded["pack_voltage_v"] == pytest.approx(390.0)


def test_unknown_state_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r'VCU_VehicleStatus.*gear.*PARK'):
        _codec().fresh_sender("VCU_VehicleStatus").encode({"gear": "PARK"})


def test_a_refused_value_does_not_poison_the_sender() -> None:
    codec = _codec()
    sender = codec.fresh_sender("VCU_VehicleStatus")
    sender.encode({"gear": "D"})
    with pytest.raises(ValueError):
        sender.encode({"gear": "PARK"})
    frame = sender.encode({"ignition_on": 1})
    decoded = codec.for_frame(frame).decode_roles(frame.data)
    assert decoded["gear"] == "D" and decoded["ignition_on"] == 1


@pytest.mark.parametrize("name", E2E_MESSAGES)
def test_alive_counter_increments_mod_16_and_crc_checks(name: str) -> None:
    codec = _codec()
    base = codec.message(name).e2e_base
    assert base is not None
    sender = codec.fresh_sender(name)
    rx = E2EReceiver(base)
    for i in range(40):
        frame = sender.encode({})       # the same values every time: only counter and CRC move
        data = bytes(frame.data)
        assert data[1] & 0x0F == i % 16
        assert data[0] == profile2_crc(data, base)
        assert data[0] == compute_profile2_crc(data, (base + i % 16) & 0xFF)
        assert rx.check(data) is None
    assert rx.status is E2EStatus.VALID


def test_each_sender_has_its_own_alive_counter() -> None:
    codec = _codec()
    a = codec.fresh_sender("BMS_Limits")
    b = codec.fresh_sender("BMS_Limits")
    for _ in range(5):
        a.encode({})
    assert b.encode({}).data[1] & 0x0F == 0
    assert a.encode({}).data[1] & 0x0F == 5


def test_unprotected_messages_are_not_touched_by_e2e() -> None:
    codec = _codec()
    sender = codec.fresh_sender("CU_Energy")
    assert sender.e2e_base is None
    first = sender.encode({"tokens_total": 1234})
    second = sender.encode({"tokens_total": 1234})
    assert first.data == second.data


def test_frames_carry_the_dbc_frame_format() -> None:
    codec = _codec()
    fd = codec.fresh_sender("BMS_ModuleCellsFD")
    signals = {"ModuleIndex": 0, "ModuleCellCount": 24, **{f"M00Cell{k:02d}Voltage": 3.6 for k in range(1, 25)}}
    frame = fd.encode({}, signals)
    assert frame.is_fd and frame.bitrate_switch and len(frame.data) == 64 and frame.dlc == 64
    classic = codec.fresh_sender("BMS_PackStatus").encode({})
    assert not classic.is_fd and len(classic.data) == 8 and not classic.is_extended_id


# ---------------------------------------------------------------- memo caches vs plain cantools

def _expected_payload(name: str, registers: dict[str, float], values: dict[str, object]) -> bytes:
    """What an uncached encoder must produce: registers updated, saturated, cantools-encoded."""
    codec = _codec()
    message = codec.db.get_message_by_name(name)
    for role, signal, binding, _lo, _hi, _res in _slot_info(name):
        if role not in values:
            continue
        value = values[role]
        raw = binding.raw_by_state[value] if binding.role.is_enum else (value - binding.offset) / binding.scale
        registers[signal.name] = min(max(raw, signal.minimum), signal.maximum)
    return message.encode(dict(registers), scaling=True, padding=False, strict=False)


def _initial_registers(name: str) -> dict[str, float]:
    message = _codec().db.get_message_by_name(name)
    return {s.name: min(max(0.0, s.minimum), s.maximum) for s in message.signals if s.multiplexer_ids is None}


@pytest.mark.parametrize("name", ROLE_MESSAGES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_encode_cache_matches_uncached_cantools(name: str, data) -> None:
    codec = _codec()
    sender = codec.fresh_sender(name)
    base = sender.e2e_base
    registers = _initial_registers(name)
    # a few distinct value sets, replayed in a random order so that most encodes hit the cache
    pool = [_role_values(data.draw, name) for _ in range(data.draw(st.integers(1, 4)))]
    for i, index in enumerate(data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=12))):
        values = pool[index]
        # roles given as a subset sometimes: the rest keep their register values
        subset = {k: v for k, v in values.items() if data.draw(st.booleans())} if i % 3 == 2 else values
        frame = sender.encode(subset)
        expected = bytearray(_expected_payload(name, registers, subset))
        if base is not None:
            protect(expected, base, i % 16)
        assert bytes(frame.data) == bytes(expected)


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.integers(0, 3), min_size=1, max_size=10),
       volts=st.lists(st.sampled_from([2.5, 3.0, 3.7, 4.2]), min_size=4, max_size=4),
       orders=st.lists(st.permutations(range(4)), min_size=10, max_size=10))
def test_mux_encode_cache_matches_uncached_cantools(groups: list[int], volts: list[float],
                                                    orders: list[list[int]]) -> None:
    """Few distinct values, few groups, signals given in any order: the cache is hit, never wrong."""
    codec = _codec()
    sender = codec.fresh_sender("BMS_CellVoltages")
    message = codec.db.get_message_by_name("BMS_CellVoltages")
    for group, order in zip(groups, orders, strict=False):
        # the i-th value goes to the order[i]-th cell: same values, other cells
        signals = {"CellGroup": group,
                   **{f"CellVoltage{group * 4 + k + 1:03d}": volts[i] for i, k in enumerate(order)}}
        frame = sender.encode({}, signals)
        assert bytes(frame.data) == message.encode(signals, scaling=True, padding=False, strict=False)


def test_encode_cache_key_includes_signal_names() -> None:
    """Regression: the encode cache was keyed on values only, so other signals with the same values hit it."""
    codec = _codec()
    sender = codec.fresh_sender("BMS_CellVoltages")
    message = codec.db.get_message_by_name("BMS_CellVoltages")
    rest = {"CellVoltage003": 3.6, "CellVoltage004": 3.7}
    first = {"CellGroup": 0, "CellVoltage001": 3.0, "CellVoltage002": 3.5, **rest}
    second = {"CellGroup": 0, "CellVoltage002": 3.0, "CellVoltage001": 3.5, **rest}   # same values, other cells
    sender.encode({}, first)
    frame = sender.encode({}, second)
    assert message.decode(frame.data)["CellVoltage001"] == pytest.approx(3.5)


@pytest.mark.parametrize("name", ROLE_MESSAGES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_decode_cache_matches_uncached_cantools(name: str, data) -> None:
    codec = _codec()
    reader = codec.message(name)
    message = codec.db.get_message_by_name(name)
    frames = [bytes(codec.fresh_sender(name).encode(_role_values(data.draw, name)).data)
              for _ in range(data.draw(st.integers(1, 3)))]
    for index in data.draw(st.lists(st.integers(0, len(frames) - 1), min_size=1, max_size=8)):
        payload = frames[index]
        got = reader.decode_roles(payload)
        raw = message.decode(payload, decode_choices=False, scaling=True)
        for role, signal, binding, _lo, _hi, _res in _slot_info(name):
            if binding.role.is_enum:
                assert got[role] == binding.state_by_raw.get(int(raw[signal.name]))
            else:
                expected = raw[signal.name] * binding.scale + binding.offset
                assert math.isclose(got[role], expected, rel_tol=0, abs_tol=1e-12), role
        assert reader.decode_signals(payload) == raw


def test_decode_of_a_value_outside_the_value_table_gives_none() -> None:
    codec = _codec()
    reader = codec.message("VCU_VehicleStatus")
    payload = bytearray(codec.fresh_sender("VCU_VehicleStatus").encode({"gear": "P"}).data)
    payload[1] = (payload[1] & 0x8F) | (6 << 4)      # Gear = 6: not in the value table
    assert reader.decode_roles(bytes(payload))["gear"] is None


def test_detail_frames_encode_once_per_key_and_match_a_full_encode() -> None:
    codec = _codec()
    sender = codec.fresh_sender("BMS_CellVoltages")
    signals = {"CellGroup": 1, "CellVoltage005": 3.3, "CellVoltage006": 3.301,
               "CellVoltage007": 3.302, "CellVoltage008": 3.303}
    built = []

    def make(key):
        built.append(key)
        return signals

    first = sender.encode_detail((1, (3.3, 3.301, 3.302, 3.303)), make)
    again = sender.encode_detail((1, (3.3, 3.301, 3.302, 3.303)), make)
    assert built == [(1, (3.3, 3.301, 3.302, 3.303))]
    fresh = codec.fresh_sender("BMS_CellVoltages").encode({}, signals)
    assert bytes(first.data) == bytes(again.data) == bytes(fresh.data)
