"""Signals whose DBC gives no range saturate at what their bits can carry, instead of crashing the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.bus import BenchCodec, compute_unit_dbc_path, default_dbc_path, load_bus_description

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def codec_without_ambient_range(tmp_path: Path) -> BenchCodec:
    text = default_dbc_path().read_text(encoding="ascii")
    old = 'SG_ AmbientTemp : 24|8@1+ (0.5,-40) [-40|87.5] "degC"'
    assert old in text
    dbc = tmp_path / "lab.dbc"
    dbc.write_text(text.replace(old, 'SG_ AmbientTemp : 24|8@1+ (0.5,-40) [0|0] "degC"'), encoding="ascii")
    description = load_bus_description([dbc, compute_unit_dbc_path()])
    db = description.db
    assert db.get_message_by_name("VCU_VehicleStatus").get_signal_by_name("AmbientTemp").maximum is None
    return BenchCodec(db, description.signal_map)


@pytest.mark.parametrize(("sent", "on_wire"), [(100.0, 87.5), (-45.0, -40.0), (20.0, 20.0)])
def test_value_saturates_at_the_bit_range(codec_without_ambient_range: BenchCodec, sent: float,
                                          on_wire: float) -> None:
    sender = codec_without_ambient_range.fresh_sender("VCU_VehicleStatus")
    frame = sender.encode({"ambient_temp_c": sent, "gear": "P"})
    roles = codec_without_ambient_range.for_frame(frame).decode_roles(frame.data)
    assert roles["ambient_temp_c"] == pytest.approx(on_wire)


def test_a_refused_value_rolls_back_to_the_last_set_that_was_sent() -> None:
    description = load_bus_description()
    codec = BenchCodec(description.db, description.signal_map)
    sender = codec.fresh_sender("VCU_VehicleStatus")
    sender.encode({"ambient_temp_c": 20.0, "gear": "P"})
    sender.encode({"ambient_temp_c": 35.0})
    sender.encode({"ambient_temp_c": 20.0})           # a cache hit: still the set last sent
    with pytest.raises(ValueError):
        sender.encode({"gear": "PARK"})
    frame = sender.encode({})
    assert codec.for_frame(frame).decode_roles(frame.data)["ambient_temp_c"] == pytest.approx(20.0)
