"""A lab's DBC through the signal map alone: overlays, lenient loading, multiplexed roles,
cells from 0, raw enum values, units, the car's own checksums, and refusals with file, entry and reason."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.bus import BenchCodec, compute_unit_dbc_path, load_bus_description
from hilbench.bus.protection import AutosarP5, BitField, OemChecksum
from hilbench.errors import ConfigError

from lab_car import CAR_DBC, CAR_MAP, NO_DUT
from lab_car import write_car as _write


@pytest.fixture
def car(tmp_path: Path) -> Path:
    return _write(tmp_path)


def _refusal(path: Path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_bus_description(signal_map=path, **kwargs)
    return info.value


# -- overlays and lenient loading --------------------------------------------------------------
def test_the_maps_dbcs_are_overlaid_in_order(car: Path) -> None:
    description = load_bus_description(signal_map=car)
    names = [m.name for m in description.db.messages]
    assert names[:5] == ["BMS_Mux", "BMS_Cells", "VCU_Slow", "OBC_State", "Radio"]
    assert names[5:] == ["CU_Status", "CU_PowerRequest", "CU_InputHealth", "CU_Energy"]
    assert description.overlay.where("CU_Status").startswith(str(compute_unit_dbc_path()))


def test_an_id_collision_between_overlaid_dbcs_names_both_files_messages_and_the_id(tmp_path: Path) -> None:
    path = _write(tmp_path, CAR_DBC.replace("BO_ 1792 Radio", "BO_ 1024 Radio"))
    err = _refusal(path)
    assert err.file == str(path) and err.entry == "dbc"
    assert "0x400" in err.reason and '"CU_Status"' in err.reason and '"Radio"' in err.reason
    assert str(tmp_path / "car.dbc") in err.reason and str(compute_unit_dbc_path()) in err.reason


def test_a_colliding_message_can_be_moved_by_the_map(tmp_path: Path) -> None:
    text = CAR_MAP.format(cu=compute_unit_dbc_path()) + "\n[frame_id]\nCU_Status = 0x6F0\n"
    path = _write(tmp_path, CAR_DBC.replace("BO_ 1792 Radio", "BO_ 1024 Radio"), text)
    db = load_bus_description(signal_map=path).db
    assert db.get_message_by_name("CU_Status").frame_id == 0x6F0
    assert db.get_message_by_name("Radio").frame_id == 0x400


def test_strict_offenders_outside_the_mapped_messages_are_warnings_naming_every_one(tmp_path: Path) -> None:
    broken = CAR_DBC.replace(' SG_ Station : 8|16@1+', ' SG_ Station : 8|16@1+').replace(
        'BO_ 1792 Radio: 8 GW\n', 'BO_ 1792 Radio: 8 GW\n SG_ Bass : 60|8@1+ (1,0) [0|100] "" BMS\n')
    description = load_bus_description(signal_map=_write(tmp_path, broken))
    text = "\n".join(description.warnings)
    assert 'message "Radio"' in text
    assert "overlapping" in text and "does not fit" in text        # both offenders, not the first only
    assert str(tmp_path / "car.dbc") in text and "line " in text


def test_the_same_fault_inside_a_mapped_message_refuses_the_run_listing_all(tmp_path: Path) -> None:
    broken = CAR_DBC.replace(' SG_ Ign : 3|1@1+', ' SG_ Ign : 2|1@1+').replace(
        ' SG_ Plugged : 3|1@1+', ' SG_ Plugged : 63|2@1+')
    err = _refusal(_write(tmp_path, broken))
    assert '"VCU_Slow"' in err.reason and '"OBC_State"' in err.reason
    assert "2 problem(s)" in err.reason


def test_long_ids_without_the_extended_flag_are_read_as_extended(tmp_path: Path) -> None:
    path = _write(tmp_path, CAR_DBC.replace("BO_ 1792 Radio", f"BO_ {0x18FF0000} Radio"))
    description = load_bus_description(signal_map=path)
    radio = description.db.get_message_by_name("Radio")
    assert radio.is_extended_frame and radio.frame_id == 0x18FF0000
    assert any("0x18FF0000" in w and "extended" in w for w in description.warnings)


def test_a_value_table_naming_no_signal_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, CAR_DBC + 'VAL_ 1792 Treble 0 "LOW" 1 "HIGH" ;\n')
    assert any("Treble" in w for w in load_bus_description(signal_map=path).warnings)


def test_a_dbc_from_an_installed_package_is_found_by_package_path(tmp_path: Path) -> None:
    pytest.importorskip("opendbc", reason="opendbc (the test extra) ships real car DBCs")
    text = CAR_MAP.format(cu=compute_unit_dbc_path()).replace(
        'dbc = ["car.dbc", "', 'dbc = ["car.dbc", { package = "opendbc", path = "dbc/tesla_powertrain.dbc" }, "')
    description = load_bus_description(signal_map=_write(tmp_path, smap=text))
    assert "opendbc:dbc/tesla_powertrain.dbc" in [str(p) for p in description.overlay.paths]


def test_a_package_that_is_not_installed_is_named(tmp_path: Path) -> None:
    text = CAR_MAP.format(cu=compute_unit_dbc_path()).replace(
        'dbc = ["car.dbc", "', 'dbc = [{ package = "no_such_dbc_package", path = "x.dbc" }, "')
    err = _refusal(_write(tmp_path, smap=text))
    assert err.entry == "dbc[0]" and "pip install no_such_dbc_package" in err.reason


# -- roles wherever the car puts them ------------------------------------------------------------
def test_roles_in_a_multiplexed_message_are_sent_page_by_page_and_decoded(car: Path) -> None:
    description = load_bus_description(signal_map=car)
    codec = BenchCodec(description.db, description.signal_map)
    sender = codec.fresh_sender("BMS_Mux")
    values = {"pack_voltage_v": 351.2, "pack_current_a": -20.0, "soc_pct": 55.5, "min_cell_voltage_v": 3.301,
              "max_cell_voltage_v": 3.342, "min_cell_temp_c": 12, "max_cell_temp_c": 15,
              "discharge_current_limit_a": 250.0, "charge_current_limit_a": 80.0, "bms_fault_level": "WARNING"}
    seen: dict[str, object] = {}
    raw = cantools.database.load_file(car.parent / "car.dbc", strict=False)
    pages = []
    for _ in range(3):
        frame = sender.encode(values)
        pages.append(raw.decode_message(frame.arbitration_id, frame.data)["Page"])
        seen.update(codec.for_frame(frame).decode_roles(frame.data))
    assert pages == [0, 1, 2]
    assert seen["min_cell_voltage_v"] == pytest.approx(3.301)
    assert seen["soc_pct"] == pytest.approx(55.5)
    assert seen["bms_fault_level"] == "WARNING"


def test_a_bench_runs_end_to_end_on_multiplexed_roles_and_cells_from_zero(car: Path) -> None:
    config = BenchConfig(dbc=None, signal_map=car, series=4, parallel=1, soc_pct=60.0, chemistry="lfp")
    with Bench(config) as bench:
        bench.run_for(6.0)
        latest = bench.monitor.latest
        assert bench.monitor.decode_errors == 0 and bench.monitor.e2e_errors == 0
        assert latest["min_cell_voltage_v"] == pytest.approx(float(bench.pack.cell_voltages_v.min()), abs=0.01)
        assert latest["soc_pct"] == pytest.approx(60.0, abs=1.0)
        assert latest["discharge_current_limit_a"] > 0
        assert latest["gear"] == "P" and latest["cu_state"] is not None
        assert set(latest) >= {"soc_pct", "min_cell_voltage_v", "discharge_current_limit_a"}
        cells = bench.monitor.stats["BMS_Cells"]
        assert cells.count >= 50
        # The per-cell frames carry cell 0 .. 3 under Grp 0 and 1, as the DBC numbers them.
        decoded = cantools.database.load_file(car.parent / "car.dbc", strict=False)
        frame = bench.codec.fresh_sender("BMS_Cells").encode_detail(
            (1, (3.3, 3.31)), lambda key: {"Grp": key[0], "Cell_2": key[1][0], "Cell_3": key[1][1]})
        assert decoded.decode_message(frame.arbitration_id, frame.data)["Cell_2"] == pytest.approx(3.3)
        trace_t, trace_v = bench.monitor.trace("min_cell_voltage_v")
        assert len(trace_t) > 100 and not any(v != v for v in trace_v[5:])


def test_cells_beyond_what_the_dbc_carries_are_a_warning_not_a_crash(car: Path) -> None:
    with Bench(BenchConfig(signal_map=car, series=9, parallel=1, emulate=NO_DUT)) as bench:
        bench.run_for(2.0)
        assert any("BMS_Cells carries 4" in w for w in bench.warnings)
        assert bench.monitor.decode_errors == 0


@pytest.mark.parametrize(("old", "new", "entry", "reason"), [
    pytest.param('signal = "CellTmin", mux = 1', 'signal = "CellTmin", mux = 7', "roles.min_cell_temp_c.mux",
                 "mux value 7 does not exist", id="missing-mux-value"),
    pytest.param('signal = "CellTmin", mux = 1', 'signal = "CellTmin"', "roles.min_cell_temp_c.mux",
                 'multiplexed by "Page"', id="mux-not-given"),
    pytest.param('signal = "Ign" }', 'signal = "Ign", mux = 0 }', "roles.ignition_on.mux",
                 "is not multiplexed", id="mux-on-plain-signal"),
    pytest.param('signal = "Soc", mux = 0 }', 'signal = "PackVolt", mux = 0 }', "roles.soc_pct.signal",
                 'is in "V" but role "soc_pct" is in "%"', id="volts-as-soc"),
    pytest.param('signal = "CellVmin", mux = 1, scale = 0.001', 'signal = "CellVmin", mux = 1, scale = 0.01',
                 "roles.min_cell_voltage_v.signal", "scale = 0.001", id="wrong-conversion-scale"),
    pytest.param('signal = "Soc", mux = 0 }', 'signal = "Soc", mux = 0, states = { P = 1 } }',
                 "roles.soc_pct.states", "only to enumerated roles", id="states-on-numeric-role"),
    pytest.param('states = { P = 0, R = 1, N = 2, D = 4 }', 'states = { P = 0, R = 1, N = 2 }',
                 "roles.gear.states", "no value table", id="enum-without-table-needs-every-state"),
    pytest.param('scheme = "sum"', 'scheme = "crc9"', "protection.VCU_Slow.scheme",
                 "unknown protection scheme 'crc9'", id="unknown-checksum-scheme"),
    pytest.param('checksum = "Checksum"', 'checksum = "Chksum"', "protection.VCU_Slow.checksum",
                 'signal "Chksum" is not in message "VCU_Slow"', id="checksum-signal-missing"),
    pytest.param('signal = "Cell_{index}"', 'signal = "Cell_{index}x"', "cells.voltage.signal",
                 'signal "Cell_0x" is not in message', id="cell-pattern-missing"),
    pytest.param('ignore_ids = [0x7DF, "0x7E0-0x7EF"]', 'ignore_ids = ["0x7EF-0x7E0"]', "bus.ignore_ids[0]",
                 "LOW <= HIGH", id="bad-ignore-range"),
])
def test_bad_map_entries_are_refused_with_file_entry_and_reason(tmp_path: Path, old: str, new: str, entry: str,
                                                                 reason: str) -> None:
    text = CAR_MAP.format(cu=compute_unit_dbc_path())
    assert text.count(old) == 1, old
    path = _write(tmp_path, smap=text.replace(old, new))
    err = _refusal(path)
    assert (err.file, err.entry) == (str(path), entry)
    assert reason in err.reason


def test_an_e2e_profile_the_bench_cannot_honour_is_refused(tmp_path: Path) -> None:
    dbc = CAR_DBC.replace('BA_DEF_DEF_ "GenMsgCycleTime" 0;',
                          'BA_DEF_ BO_ "E2EProfile" STRING ;\nBA_DEF_DEF_ "GenMsgCycleTime" 0;\n'
                          'BA_DEF_DEF_ "E2EProfile" "";') + 'BA_ "E2EProfile" BO_ 1536 "P99";\n'
    err = _refusal(_write(tmp_path, dbc))
    # The DBC is named (file and the attribute's line), not the map: the DBC is what to fix.
    assert err.entry == 'message "OBC_State" E2EProfile' and '"P99"' in err.reason
    assert err.file.endswith(".dbc") and err.line == dbc.count("\n")


def test_roles_are_required_only_where_used(tmp_path: Path) -> None:
    text = "\n".join(line for line in CAR_MAP.format(cu=compute_unit_dbc_path()).splitlines()
                     if not line.startswith(("cu_", "compute_power_w")))
    path = _write(tmp_path, smap=text)
    err = _refusal(path)
    assert "cu_state" in err.reason and err.entry == "roles"
    description = load_bus_description(signal_map=path, require=())
    assert not description.signal_map.is_mapped("cu_state")
    with Bench(BenchConfig(signal_map=path, emulate=NO_DUT)) as bench:
        bench.run_for(1.0)


# -- the car's own protection ---------------------------------------------------------------------
def test_the_cars_sum_checksum_and_counter_are_sent_and_checked(car: Path) -> None:
    description = load_bus_description(signal_map=car)
    codec = BenchCodec(description.db, description.signal_map)
    sender = codec.fresh_sender("VCU_Slow")
    receiver = codec.message("VCU_Slow").new_receiver()
    assert receiver is not None
    for n in range(20):
        frame = sender.encode({"gear": "P", "ignition_on": 0, "range_reserve_soc_pct": 20.0})
        data = bytes(frame.data)
        # Tesla-style: the sum of the other bytes and of the frame ID's bytes, low 8 bits.
        assert data[7] == (sum(data[:7]) + (0x500 & 0xFF) + (0x500 >> 8)) & 0xFF
        assert (data[6] >> 4) == n % 16
        assert receiver.check(data) is None
    bad = bytearray(data)
    bad[1] ^= 0x01
    assert receiver.check(bad) is not None
    repeated = bytes(sender.encode({}).data)
    assert receiver.check(repeated) is None
    assert receiver.check(repeated) is not None       # the same counter twice


def test_oem_schemes_against_independent_formulas() -> None:
    checksum, counter = BitField.byte_range("C", 7, 8), BitField.byte_range("N", 6, 4)
    payload = bytearray(b"\x11\x22\x33\x44\x55\x66\x00\x00")
    xor = OemChecksum("xor", checksum, counter, covered=range(7), frame_id=0x123, frame_id_bytes=None, add=0x5A)
    xor.protect(payload, 3)
    expect = 0x5A
    for byte in payload[:7]:
        expect ^= byte
    assert payload[6] & 0x0F == 3 and payload[7] == expect
    crc = OemChecksum("crc8", checksum, None, covered=range(7), frame_id=0x123, frame_id_bytes="be",
                      poly=0x1D, init=0xFF, xor_out=0xFF)
    # cantools has no generic CRC-8: the reference is the textbook bitwise form.
    data = bytes(payload[:7]) + b"\x01\x23"
    value = 0xFF
    for byte in data:
        value ^= byte
        for _ in range(8):
            value = ((value << 1) ^ 0x1D) & 0xFF if value & 0x80 else (value << 1) & 0xFF
    assert crc.compute(payload) == value ^ 0xFF
    assert crc.checksum_ok(crc.protect(bytearray(payload), 0))


def test_profile5_through_cantools() -> None:
    from cantools.autosar.end_to_end import check_profile5_crc

    p5 = AutosarP5(0x1234)
    payload = p5.protect(bytearray(8), 7)
    assert payload[2] == 7
    assert check_profile5_crc(bytes(payload), 0x1234)
    assert not p5.checksum_ok(p5.corrupt_checksum(bytearray(payload)))


# -- loud, not silent -------------------------------------------------------------------------------
def test_a_value_clipped_to_the_dbc_range_is_a_warning(car: Path) -> None:
    with Bench(BenchConfig(signal_map=car, reserve_soc_pct=5.0, emulate=NO_DUT)) as bench:
        bench.run_for(2.5)
        clipped = [w for w in bench.warnings if "VCU_Slow.Reserve" in w]
        assert clipped and "sent as 10" in clipped[0] and 'role "range_reserve_soc_pct" value 5' in clipped[0]
        assert bench.monitor.latest["range_reserve_soc_pct"] == pytest.approx(10.0)


def test_ids_the_map_ignores_are_counted_apart_from_unknown_ones(car: Path) -> None:
    import can

    with Bench(BenchConfig(signal_map=car, emulate=NO_DUT)) as bench:
        for frame_id in (0x7DF, 0x7E8, 0x123):
            bench.monitor(can.Message(arbitration_id=frame_id, data=b"\x02\x01\x00", is_extended_id=False))
        assert bench.monitor.ignored_frames == 2
        assert bench.monitor.unknown_frames == 1 and bench.monitor.unknown_ids == {0x123: 1}


def test_a_role_outside_the_multiplexed_part_of_a_multiplexed_message_encodes(tmp_path: Path) -> None:
    """cantools needs a whole page to encode: the lowest multiplexer value's page is sent."""
    dbc = CAR_DBC.replace("BO_ 1536 OBC_State", 'BO_ 1300 VCU_Body: 8 VCU\n SG_ BodyPage M : 0|2@1+ (1,0) [0|3] "" GW\n'
                          ' SG_ Door m1 : 8|8@1+ (1,0) [0|255] "" GW\n SG_ Window m2 : 8|8@1+ (1,0) [0|255] "" GW\n'
                          ' SG_ Allowed : 63|1@1+ (1,0) [0|1] "" GW\n\nBO_ 1536 OBC_State')
    text = CAR_MAP.format(cu=compute_unit_dbc_path()).replace(
        "[cells.voltage]", 'compute_allowed = { message = "VCU_Body", signal = "Allowed" }\n\n'
                           '[cycle_ms]\nVCU_Body = 100\n\n[cells.voltage]')
    description = load_bus_description(signal_map=_write(tmp_path, dbc, text))
    codec = BenchCodec(description.db, description.signal_map)
    frame = codec.fresh_sender("VCU_Body").encode({"compute_allowed": 1})
    raw = cantools.database.load_file(tmp_path / "car.dbc", strict=False).decode_message(frame.arbitration_id,
                                                                                       frame.data)
    assert raw["BodyPage"] == 1 and raw["Allowed"] == 1
    assert codec.for_frame(frame).decode_roles(frame.data)["compute_allowed"] == 1


def test_flag_roles_from_a_state_signal_and_states_with_several_raw_values(tmp_path: Path) -> None:
    """GM reads ignition as SystemPowerMode Run or Crank; VW's gear D comes as 8 or 9."""
    dbc = CAR_DBC.replace(' SG_ Ign : 3|1@1+ (1,0) [0|1] "" GW', ' SG_ Ign : 3|2@1+ (1,0) [0|3] "" GW') + \
        'VAL_ 1280 Ign 0 "Off" 1 "Accessory" 2 "Run" 3 "Crank" ;\n'
    text = CAR_MAP.format(cu=compute_unit_dbc_path()).replace(
        'ignition_on               = { message = "VCU_Slow", signal = "Ign" }',
        'ignition_on = { message = "VCU_Slow", signal = "Ign", true_values = ["Run", 3], false_value = "Off" }'
    ).replace("states = { P = 0, R = 1, N = 2, D = 4 }", "states = { P = 0, R = 1, N = 2, D = [4, 5] }")
    description = load_bus_description(signal_map=_write(tmp_path, dbc, text))
    codec = BenchCodec(description.db, description.signal_map)
    raw = cantools.database.load_file(tmp_path / "car.dbc", strict=False)
    sender = codec.fresh_sender("VCU_Slow")
    frame = sender.encode({"gear": "D", "ignition_on": 1, "range_reserve_soc_pct": 20.0})
    assert raw.decode_message(frame.arbitration_id, frame.data, decode_choices=False)["Prndl"] == 4
    assert raw.decode_message(frame.arbitration_id, frame.data)["Ign"] == "Run"
    assert codec.for_frame(frame).decode_roles(frame.data)["ignition_on"] == 1.0
    frame = sender.encode({"ignition_on": 0})
    assert raw.decode_message(frame.arbitration_id, frame.data)["Ign"] == "Off"
    message = raw.get_message_by_name("VCU_Slow")
    for ign, expect in (("Accessory", 0.0), ("Crank", 1.0)):
        data = bytearray(message.encode({"Prndl": 5, "Ign": ign, "Reserve": 20, "Counter": 0, "Checksum": 0}))
        roles = codec.message("VCU_Slow").decode_roles(data)
        assert roles["ignition_on"] == expect and roles["gear"] == "D"


def test_a_counter_that_wraps_early_is_sent_and_checked_that_way(tmp_path: Path) -> None:
    """Rivian counts 0..14 in a 4-bit field: 15 never appears, and 14 -> 0 is in sequence."""
    text = CAR_MAP.format(cu=compute_unit_dbc_path()).replace('frame_id_bytes = "le"',
                                                              'frame_id_bytes = "le"\ncounter_modulus = 15')
    description = load_bus_description(signal_map=_write(tmp_path, smap=text))
    codec = BenchCodec(description.db, description.signal_map)
    sender, receiver = codec.fresh_sender("VCU_Slow"), codec.message("VCU_Slow").new_receiver()
    counters = []
    for _ in range(32):
        frame = sender.encode({"gear": "P", "ignition_on": 0, "range_reserve_soc_pct": 20.0})
        counters.append(frame.data[6] >> 4)
        assert receiver.check(bytes(frame.data)) is None
    assert max(counters) == 14 and counters[15] == 0


@pytest.mark.parametrize(("old", "new", "entry", "reason"), [
    pytest.param('signal = "Ign" }', 'signal = "Ign", true_values = ["On"] }', "roles.ignition_on.true_values[0]",
                 "'On' is not a value of VCU_Slow.Ign", id="true-value-unknown"),
    pytest.param('signal = "Reserve" }', 'signal = "Reserve", true_values = [1] }',
                 "roles.range_reserve_soc_pct.true_values", "is not a flag", id="true-values-on-number"),
    pytest.param('frame_id_bytes = "le"', 'frame_id_bytes = "le"\ncounter_modulus = 17',
                 "protection.VCU_Slow.counter_modulus", "2..16", id="modulus-beyond-counter-bits"),
])
def test_bad_flag_and_counter_entries_are_refused(tmp_path: Path, old: str, new: str, entry: str, reason: str) -> None:
    text = CAR_MAP.format(cu=compute_unit_dbc_path())
    assert text.count(old) == 1, old
    err = _refusal(_write(tmp_path, smap=text.replace(old, new)))
    assert err.entry == entry and reason in err.reason


def test_the_foreign_dbc_guide_lists_every_role_with_its_meaning() -> None:
    from hilbench.bus.roles import ROLES

    guide = (Path(__file__).resolve().parents[2] / "docs" / "foreign-dbc.md").read_text(encoding="utf-8")
    for role in ROLES.values():
        assert f"| `{role.name}` |" in guide and role.meaning in guide, role.name


@pytest.mark.parametrize("scenario",
                         ["vehicle/shift_to_drive_lfp_-20c.toml", "battery/reserve_hysteresis_nmc_25c.toml"])
def test_bundled_scenarios_pass_on_multiplexed_roles_and_cells_from_zero(car: Path, tmp_path: Path,
                                                                          scenario: str) -> None:
    """End to end through a scenario: the pack values, cell extremes and limits come from three pages
    of one multiplexed message, and the per-cell frames number their cells from 0."""
    import can

    from hilbench.resources import scenarios_dir
    from hilbench.scenarios import RunOptions, load_scenario, run_scenario

    record = tmp_path / "run.log"
    result = run_scenario(load_scenario(scenarios_dir() / scenario),
                          RunOptions(signal_map=car, record=record, keep_traces=False))
    assert result.passed, [(c.check.name, c.verdict, c.detail) for c in result.checks]
    db = load_bus_description(signal_map=car).db
    pages, cells = set(), set()
    for frame in can.LogReader(record):
        decoded = db.decode_message(frame.arbitration_id, frame.data)
        if frame.arbitration_id == 832:
            pages.add(decoded["Page"])
        elif frame.arbitration_id == 833:
            cells.update(name for name in decoded if name.startswith("Cell_"))
    assert pages == {0, 1, 2}
    assert "Cell_0" in cells


def test_the_compute_units_e2e_receiver_is_set_per_message_in_the_map(tmp_path: Path) -> None:
    text = CAR_MAP.format(cu=compute_unit_dbc_path()) + "\n[receiver.VCU_Slow]\nwindow_init = 2\nmin_ok_init = 2\n"
    path = _write(tmp_path, smap=text)
    with Bench(BenchConfig(signal_map=path)) as bench:
        config = bench.dut.receivers["VCU_Slow"].config
        assert (config.window_init, config.min_ok_init) == (2, 2)
        assert config.window_valid == 8          # what the map does not set keeps its default
    bad = _write(tmp_path, smap=CAR_MAP.format(cu=compute_unit_dbc_path()) + "\n[receiver.VCU_Slow]\nmin_ok_init = 9\n")
    err = _refusal(bad)
    assert err.entry == "receiver.VCU_Slow.min_ok_init" and "window_init" in err.reason
