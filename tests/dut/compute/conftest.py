"""Shared fixtures for the compute-unit core tests: engines over the bundled models, one calibration."""

from __future__ import annotations

import pytest

from hilbench.dut.compute import (
    BUNDLED_MANIFEST,
    InferenceEngine,
    PerformanceModel,
    PowerTable,
    bundled_model,
    calibrate,
)


@pytest.fixture(scope="session")
def engine() -> InferenceEngine:
    return InferenceEngine(bundled_model("tiny-llm.onnx"), manifest=BUNDLED_MANIFEST)


@pytest.fixture(scope="session")
def engine_int8() -> InferenceEngine:
    return InferenceEngine(bundled_model("tiny-llm-int8.onnx"), manifest=BUNDLED_MANIFEST)


@pytest.fixture(scope="session")
def table() -> PowerTable:
    return PowerTable()


@pytest.fixture(scope="session")
def performance(
    engine: InferenceEngine, table: PowerTable, tmp_path_factory: pytest.TempPathFactory
) -> PerformanceModel:
    """One real calibration per test session, into a private cache dir."""
    return calibrate(engine, table, cache_dir=tmp_path_factory.mktemp("calibration"))
