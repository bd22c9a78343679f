"""The bundled compute DUT's core: inference, power levels, calibration, thermal, governor.

No CAN in here (no python-can, no cantools) and no clock: time comes in as
``dt_s`` / ``now_s`` from the caller.  The one wall-clock read is
``calibration.measure_tokens_per_s``, which is what calibration measures.
onnxruntime is imported only when an engine is built.
"""

from hilbench.dut.compute.calibration import PerformanceModel, calibrate, default_cache_dir, measure_tokens_per_s
from hilbench.dut.compute.engine import (
    BUNDLED_MANIFEST,
    GenerationResult,
    GenerationState,
    InferenceEngine,
    ModelSpec,
    bundled_model,
)
from hilbench.dut.compute.governor import Governor, GovernorStatus, ThermalTrips, TripPoint
from hilbench.dut.compute.power import COMPUTE_LEVELS, LevelProfile, PowerLevel, PowerTable
from hilbench.dut.compute.thermal import ThermalModel, ThermalParams
from hilbench.dut.compute.unit import ComputeUnit, TickResult, build_compute_unit

__all__ = [
    "BUNDLED_MANIFEST",
    "COMPUTE_LEVELS",
    "ComputeUnit",
    "GenerationResult",
    "GenerationState",
    "Governor",
    "GovernorStatus",
    "InferenceEngine",
    "LevelProfile",
    "ModelSpec",
    "PerformanceModel",
    "PowerLevel",
    "PowerTable",
    "ThermalModel",
    "ThermalParams",
    "ThermalTrips",
    "TickResult",
    "TripPoint",
    "build_compute_unit",
    "bundled_model",
    "calibrate",
    "default_cache_dir",
    "measure_tokens_per_s",
]
