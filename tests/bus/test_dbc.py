"""The bench's own DBC (``dbc/hilbench.dbc``): the contract every node and DUT builds on."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cantools
import pytest

from hilbench.bus import default_dbc_path, load_dbc
from hilbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DBC_FILE = REPO / "dbc" / "hilbench.dbc"
CU_DBC_FILE = REPO / "dbc" / "compute_unit.dbc"
GENERATOR = REPO / "dbc" / "generate_hilbench_dbc.py"

SAFETY_MESSAGES = (
    "BMS_PackStatus", "BMS_CellExtremes", "BMS_Limits", "BMS_Faults",
    "VCU_VehicleStatus", "OBC_ChargerStatus", "CU_Status", "CU_PowerRequest",
)


@pytest.fixture(scope="module")
def db():
    """The bench's two DBCs as one database (each loads strictly on its own)."""
    both = cantools.database.load_file(DBC_FILE, database_format="dbc", strict=True)
    both.add_dbc_file(CU_DBC_FILE)
    return both


def test_default_dbc_path_is_the_committed_file() -> None:
    assert default_dbc_path().resolve() == DBC_FILE.resolve()


def test_loads_strictly_through_load_dbc(db) -> None:
    loaded = [*load_dbc(DBC_FILE).messages, *load_dbc(CU_DBC_FILE).messages]
    assert [m.name for m in loaded] == [m.name for m in db.messages]
    assert len(db.messages) >= 12


def test_the_compute_unit_dbc_holds_only_the_compute_units_messages() -> None:
    """A lab overlays compute_unit.dbc on a car's DBC: it must bring nothing of the vehicle side."""
    cu = load_dbc(CU_DBC_FILE)
    assert {m.name for m in cu.messages} == {"CU_Status", "CU_PowerRequest", "CU_Energy", "CU_InputHealth"}
    assert all(m.senders == ["CU"] for m in cu.messages)
    assert not {m.name for m in load_dbc(DBC_FILE).messages} & {m.name for m in cu.messages}


def test_every_message_has_a_cycle_time(db) -> None:
    missing = [m.name for m in db.messages if not m.cycle_time or m.cycle_time <= 0]
    assert missing == []
    # and it is spelled as the GenMsgCycleTime attribute, which other tools read too
    for m in db.messages:
        assert m.dbc.attributes["GenMsgCycleTime"].value == m.cycle_time


@pytest.mark.parametrize("name", SAFETY_MESSAGES)
def test_safety_message_is_e2e_protected(db, name: str) -> None:
    m = db.get_message_by_name(name)
    crc = m.get_signal_by_name("CRC")
    counter = m.get_signal_by_name("AliveCounter")
    # profile 2 layout: CRC in byte 0, 4-bit counter in the low nibble of byte 1
    assert (crc.start, crc.length, crc.byte_order) == (0, 8, "little_endian")
    assert (counter.start, counter.length, counter.byte_order) == (8, 4, "little_endian")
    assert not crc.is_signed and not counter.is_signed
    attrs = m.dbc.attributes
    assert attrs["E2EProfile"].value == "P02"
    assert 0 <= int(attrs["E2EDataIdBase"].value) <= 255


def test_e2e_data_ids_of_different_messages_never_overlap(db) -> None:
    """Profile 2 uses data ID base + counter; overlapping sets would hide a masquerade."""
    seen: dict[int, str] = {}
    for m in db.messages:
        if m.dbc.attributes.get("E2EProfile") is None:
            continue
        base = int(m.dbc.attributes["E2EDataIdBase"].value)
        for counter in range(16):
            data_id = (base + counter) & 0xFF
            assert data_id not in seen, f"{m.name} and {seen[data_id]} share data ID {data_id:#x}"
            seen[data_id] = m.name
    assert set(seen.values()) == set(SAFETY_MESSAGES)


def test_has_a_multiplexed_per_cell_message(db) -> None:
    muxed = [m for m in db.messages if m.is_multiplexed()]
    names = {m.name for m in muxed}
    assert "BMS_CellVoltages" in names
    cells = db.get_message_by_name("BMS_CellVoltages")
    mux = [s for s in cells.signals if s.is_multiplexer]
    assert len(mux) == 1
    groups = {mid for s in cells.signals if s.multiplexer_ids for mid in s.multiplexer_ids}
    assert len(groups) * 4 >= 192        # room for an 800 V pack


def test_has_a_64_byte_can_fd_message(db) -> None:
    fd = [m for m in db.messages if m.is_fd and m.length == 64]
    assert fd, "expected at least one CAN FD message with 64 data bytes"
    for m in fd:
        m.encode({s.name: 0 for s in m.signals if not s.multiplexer_ids or 0 in s.multiplexer_ids},
                 strict=False)


def test_generator_output_equals_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("_generate_hilbench_dbc", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.build("vehicle") + module.build("compute_unit")
    committed = DBC_FILE.read_text(encoding="ascii") + CU_DBC_FILE.read_text(encoding="ascii")
    assert generated == committed, (
        "dbc/hilbench.dbc and dbc/generate_hilbench_dbc.py have drifted apart: "
        "run `python dbc/generate_hilbench_dbc.py` and commit the result"
    )


# ---------------------------------------------------------------- bad input

def test_syntax_error_is_refused_with_file_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "broken.dbc"
    bad.write_text(
        'VERSION ""\n\nBS_:\n\nBU_: A\n\n'
        'BO_ 100 Foo: 8 A\n'
        ' SG_ Bar : 0|8@1+ (1,0) [0|255 "" A\n',   # missing "]"
        encoding="ascii",
    )
    with pytest.raises(ConfigError) as info:
        load_dbc(bad)
    err = info.value
    assert err.file == str(bad)
    assert str(bad) in str(err)
    assert "not a valid DBC" in str(err)
    assert err.line == 8 and "line 8" in str(err)
    assert isinstance(err, ValueError)


def test_overlapping_signals_are_refused_in_strict_mode(tmp_path: Path) -> None:
    bad = tmp_path / "overlap.dbc"
    bad.write_text(
        'VERSION ""\n\nBS_:\n\nBU_: A\n\n'
        'BO_ 100 Foo: 8 A\n'
        ' SG_ Bar : 0|16@1+ (1,0) [0|65535] "" A\n'
        ' SG_ Baz : 8|16@1+ (1,0) [0|65535] "" A\n',
        encoding="ascii",
    )
    with pytest.raises(ConfigError) as info:
        load_dbc(bad)
    assert str(bad) in str(info.value)
    assert "overlap" in str(info.value).lower()


def test_missing_file_and_empty_dbc_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such DBC file") as info:
        load_dbc(tmp_path / "nope.dbc")
    assert str(tmp_path / "nope.dbc") in str(info.value)
    empty = tmp_path / "empty.dbc"
    empty.write_text('VERSION ""\n\nBS_:\n\nBU_: A\n', encoding="ascii")
    with pytest.raises(ConfigError, match="no messages") as info:
        load_dbc(empty)
    assert str(empty) in str(info.value)


def test_a_dbc_is_parsed_once_until_the_file_changes(tmp_path) -> None:
    from hilbench.bus.dbc import default_dbc_path, load_dbc

    copy = tmp_path / "bench.dbc"
    text = default_dbc_path().read_text()
    copy.write_text(text)
    first = load_dbc(copy)
    assert load_dbc(copy) is first
    before = copy.stat()
    copy.write_text(text.replace("BMS_PackStatus", "BMS_PackStatuz"))    # same size,
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))           # same mtime (cp -p, rsync -t)
    changed = load_dbc(copy)
    assert changed is not first
    assert changed.get_message_by_name("BMS_PackStatuz") is not None


# -- what a lenient load must still refuse, naming the DBC and the line --------------------------------
def _bench_with(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    """The bench DBCs and map in ``tmp_path``, hilbench.dbc edited (``old`` -> ``new``)."""
    from hilbench.bus import compute_unit_dbc_path, default_signal_map_path

    text = default_dbc_path().read_text(encoding="cp1252")
    assert old in text
    text = text.replace(old, new, 1)
    (tmp_path / "hilbench.dbc").write_text(text, encoding="cp1252")
    (tmp_path / "compute_unit.dbc").write_bytes(compute_unit_dbc_path().read_bytes())
    smap = tmp_path / "hilbench.signals.toml"
    smap.write_bytes(default_signal_map_path().read_bytes())
    return smap, text


def _refusal(smap: Path) -> ConfigError:
    from hilbench.bus import load_bus_description

    with pytest.raises(ConfigError) as info:
        load_bus_description(signal_map=smap)
    return info.value


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_duplicate_frame_id_is_reported_as_one_naming_both_lines(tmp_path: Path) -> None:
    smap, text = _bench_with(tmp_path, "BO_ 257 BMS_CellExtremes", "BO_ 256 BMS_CellExtremes")
    err = _refusal(smap)
    assert err.file == str(tmp_path / "hilbench.dbc") and err.line == _line(text, "BO_ 256 BMS_CellExtremes")
    first = _line(text, "BO_ 256 BMS_P")
    assert err.reason == f'duplicate frame ID 0x100: also used by "BMS_PackStatus" (line {first})'
    assert "data ID" not in str(err)


def test_a_dbc_cut_short_is_refused_not_read_in_part(tmp_path: Path) -> None:
    text = default_dbc_path().read_text(encoding="cp1252")
    cut = text.index(" SG_ CellVoltage010 ") + 12
    (tmp_path / "short.dbc").write_text(text[:cut], encoding="cp1252")
    with pytest.raises(ConfigError) as info:
        load_dbc(tmp_path / "short.dbc", strict=False)
    assert info.value.line == _line(text, " SG_ CellVoltage010 ")
    assert "not read by the DBC parser" in info.value.reason


@pytest.mark.parametrize(("old", "new", "entry", "reason"), [
    ('BA_ "E2EProfile" BO_ 256 "P02";', 'BA_ "E2EProfile" BO_ 256 "P99";', 'message "BMS_PackStatus" E2EProfile',
     'unknown E2E profile "P99"'),
    ('BA_ "E2EProfile" BO_ 256 "P02";', 'BA_ "E2EProfile" BO_ 256 "P05";', 'message "BMS_PackStatus" E2EProfile',
     "cannot honour"),
    ('BA_ "E2EDataIdBase" BO_ 256 16;', 'BA_ "E2EDataIdBase" BO_ 256 300;', 'message "BMS_PackStatus" E2EDataIdBase',
     "expected a data ID base 0..255, got 300"),
    ('BA_ "GenMsgCycleTime" BO_ 256 20;', 'BA_ "GenMsgCycleTime" BO_ 256 0;',
     'message "BMS_PackStatus" GenMsgCycleTime', "a cycle time must be > 0 ms, got 0"),
    ('BA_ "GenMsgCycleTime" BO_ 256 20;', 'BA_ "GenMsgCycleTime" BO_ 256 -20;',
     'message "BMS_PackStatus" GenMsgCycleTime', "a cycle time must be > 0 ms, got -20"),
    ("BO_ 256 BMS_PackStatus: 8", "BO_ 256 BMS_PackStatus: 99", 'message "BMS_PackStatus"',
     "a length of 99 bytes fits no CAN or CAN FD frame"),
], ids=["unknown-profile", "profile-not-honoured", "data-id-base", "cycle-0", "cycle-negative", "length"])
def test_a_dbc_declaration_the_bench_cannot_honour_is_refused_naming_the_dbc_line(
        tmp_path: Path, old: str, new: str, entry: str, reason: str) -> None:
    smap, text = _bench_with(tmp_path, old, new)
    problems = [(p.file, p.entry, p.line, p.reason) for p in _refusal(smap).problems]
    assert any(file == str(tmp_path / "hilbench.dbc") and got == entry and line == _line(text, new)
               and reason in why for file, got, line, why in problems), problems
