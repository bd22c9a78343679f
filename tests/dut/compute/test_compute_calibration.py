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


def test_lower_levels_run_less_work_and_calibrate_to_fewer_tokens_per_s(
    engine: InferenceEngine, table: PowerTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level changes how the engine runs (batch and duty), and calibration turns that into rates.

    No wall-clock comparison here (flaky on a shared machine; the inference
    benchmark measures the real ordering): the measurement is replaced by one
    whose throughput is proportional to the batch the level asks the engine for.
    """
    batches = [table.profile(lv).batch_size for lv in (P.P25, P.P50, P.P75, P.P100)]
    duties = [table.profile(lv).duty for lv in (P.P25, P.P50, P.P75, P.P100)]
    assert batches == sorted(batches) and batches[0] < batches[-1]
    assert duties[0] < 1.0 and duties == sorted(duties)

    seen: list[int] = []

    def fake_measure(engine_, batch_size, threads=1, **kwargs):
        seen.append(batch_size)
        return 1000.0 * batch_size

    monkeypatch.setattr(calibration_module, "measure_tokens_per_s", fake_measure)
    performance = calibrate(engine, table, cache_dir=tmp_path, use_cache=False)
    assert set(seen) == set(batches)
    for level in (P.P25, P.P50, P.P75, P.P100):
        prof = table.profile(level)
        assert performance.busy_tokens_per_s[level] == 1000.0 * prof.batch_size
        assert performance.rate(level) == pytest.approx(1000.0 * prof.batch_size * prof.duty)
    assert performance.rate(P.P25) < performance.rate(P.P50) < performance.rate(P.P100)
    assert performance.rate(P.OFF) == performance.rate(P.IDLE) == 0.0


def test_a_real_calibration_measures_every_computing_level(performance: PerformanceModel) -> None:
    assert all(v > 0 for v in performance.busy_tokens_per_s.values())
    assert performance.rate(P.OFF) == performance.rate(P.IDLE) == 0.0


def test_a_level_runs_its_batch_through_the_engine(engine: InferenceEngine, table: PowerTable) -> None:
    for level in (P.P25, P.P100):
        batch = table.profile(level).batch_size
        state = engine.start([list(b"parked")] * batch)
        assert len(engine.step(state)) == batch


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


def test_measurement_serves_requests_like_the_unit_and_reports_the_median(
    engine: InferenceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole sampled requests with prefill, timed one by one; the median request, not the best."""
    import types

    from hilbench.dut.compute.calibration import DEFAULT_PROMPT

    starts, advances = [], []
    real_start, real_advance = engine.start, engine.advance

    def start(prompts, **kwargs):
        starts.append((prompts, kwargs))
        return real_start(prompts, **kwargs)

    def advance(state, steps):
        advances.append(steps)
        return real_advance(state, steps)

    monkeypatch.setattr(engine, "start", start)
    monkeypatch.setattr(engine, "advance", advance)
    durations = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # requests of 1 s, 3 s and 2 s
    monkeypatch.setattr(calibration_module, "time", types.SimpleNamespace(perf_counter=lambda: next(durations)))

    rate = calibration_module.measure_tokens_per_s(engine, batch_size=2, steps=6, repeats=3)
    assert rate == pytest.approx(12 / 2.0)  # 6 steps x batch 2 per request; the 2 s request is the median
    assert len(starts) == 4 and advances == [6, 6, 6, 6]  # one warm-up request, then three timed ones
    for prompts, kwargs in starts:
        assert prompts == [list(DEFAULT_PROMPT)] * 2
        assert kwargs["greedy"] is False and kwargs["temperature"] == 1.0


def test_cache_key_follows_what_is_measured(engine: InferenceEngine) -> None:
    from hilbench.dut.compute.calibration import CACHE_FORMAT, DEFAULT_PROMPT, cache_key

    machine = {"machine": "x86_64", "cpu_count": "2", "onnxruntime": "1"}
    table = PowerTable()
    base = cache_key(engine.spec.sha256, machine, table, 256, DEFAULT_PROMPT)
    assert CACHE_FORMAT >= 2  # best-of-bursts calibrations (format 1) are never reused
    assert cache_key(engine.spec.sha256, machine, table, 128, DEFAULT_PROMPT) != base
    assert cache_key(engine.spec.sha256, machine, table, 256, list(b"another prompt")) != base
    assert cache_key(engine.spec.sha256, machine, table, 256, list(DEFAULT_PROMPT)) == base
