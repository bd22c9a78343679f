"""Calibration: lower levels measure fewer tokens/s; results are cached per model, machine and table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hilbench.dut.compute import (
    InferenceEngine,
    LevelProfile,
    PerformanceModel,
    PowerLevel,
    PowerTable,
    calibrate,
    default_cache_dir,
)
from hilbench.dut.compute import calibration as calibration_module

P = PowerLevel


def test_lower_levels_measure_fewer_tokens_per_s(performance: PerformanceModel) -> None:
    """Relative comparisons within one calibration run; no absolute timing."""
    busy = performance.busy_tokens_per_s
    print("busy tokens/s:", {lv.name: round(v) for lv, v in busy.items()})
    print("avg tokens/s:", {lv.name: round(v) for lv, v in performance.tokens_per_s.items()})
    assert busy[P.P50] < busy[P.P100]  # batch 2 vs batch 4, measured
    assert performance.rate(P.P25) < performance.rate(P.P50) < performance.rate(P.P100)
    assert performance.rate(P.OFF) == performance.rate(P.IDLE) == 0.0
    assert all(v > 0 for v in busy.values())


def test_watts_follow_the_level(performance: PerformanceModel, table: PowerTable) -> None:
    assert performance.power_w(P.OFF) == 0.0
    assert performance.power_w(P.IDLE) == table.idle_w
    assert performance.power_w(P.P50) == pytest.approx(table.idle_w + 0.5 * (table.max_w - table.idle_w))
    assert performance.power_w(P.P100) == pytest.approx(table.max_w)
    assert performance.tokens_per_kwh(P.P100) == pytest.approx(
        performance.rate(P.P100) * 3.6e6 / performance.power_w(P.P100)
    )


def _fast_table() -> PowerTable:
    return PowerTable(
        profiles={lv: LevelProfile(batch_size=1, duty=lv.fraction) for lv in (P.P25, P.P50, P.P75, P.P100)}
    )


def test_cache_is_written_and_reused(engine: InferenceEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _fast_table()
    first = calibrate(engine, table, cache_dir=tmp_path, steps=4, repeats=1)
    files = list(tmp_path.glob("calibration-*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert doc["model_sha256"] == engine.spec.sha256
    assert set(doc["machine"]) == {"machine", "cpu_count", "onnxruntime"}

    def must_not_measure(*args, **kwargs):
        raise AssertionError("calibration should have come from the cache")

    monkeypatch.setattr(calibration_module, "measure_tokens_per_s", must_not_measure)
    assert calibrate(engine, table, cache_dir=tmp_path, steps=4, repeats=1) == first
    # Another power table is another calibration.
    other = PowerTable(max_w=30.0, profiles=table.profiles)
    with pytest.raises(AssertionError, match="from the cache"):
        calibrate(engine, other, cache_dir=tmp_path, steps=4, repeats=1)


def test_corrupt_cache_is_replaced(engine: InferenceEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    table = _fast_table()
    calibrate(engine, table, cache_dir=tmp_path, steps=4, repeats=1)
    (cache_file,) = tmp_path.glob("calibration-*.json")
    cache_file.write_text("{not json")
    model = calibrate(engine, table, cache_dir=tmp_path, steps=4, repeats=1)
    assert model.rate(P.P100) > 0
    assert "unreadable" in caplog.text
    json.loads(cache_file.read_text())  # rewritten


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HILBENCH_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HILBENCH_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "hilbench"


def test_json_round_trip(performance: PerformanceModel) -> None:
    assert PerformanceModel.from_json(json.loads(json.dumps(performance.to_json()))) == performance
