"""Power levels of the compute unit and how each one really changes the work done.

A level is both an electrical promise (watts) and a way of running the
engine.  The bench's CPU cannot draw 60 W on command, so a level throttles
the inference the way a power-capped SoC throttles: smaller batches, fewer
threads and a duty cycle (generate on only a fraction of ticks).  Calibration
measures the tokens/s this gives; the watts follow the simple electrical map

    watts(level) = idle_w + fraction(level) * max_w      (OFF draws 0 W)

so ``max_w`` is the compute power above idle at 100 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from hilbench.errors import ConfigError


class PowerLevel(IntEnum):
    """Ordered power levels; a larger value means more power allowed."""

    OFF = 0
    IDLE = 1
    P25 = 2
    P50 = 3
    P75 = 4
    P100 = 5

    @property
    def fraction(self) -> float:
        """Fraction of ``max_w`` this level adds above idle (0 for OFF and IDLE)."""
        return _FRACTIONS[self]

    @property
    def computes(self) -> bool:
        """True if tokens are generated at this level."""
        return self >= PowerLevel.P25

    @classmethod
    def parse(cls, value: str | int | PowerLevel) -> PowerLevel:
        """``"P50"``, ``"p50"``, ``"50%"``, ``3`` or ``PowerLevel.P50`` -> ``PowerLevel.P50``."""
        if isinstance(value, PowerLevel):
            return value
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip().upper().rstrip("%")
        if text.isdigit() and f"P{text}" in cls.__members__:
            text = f"P{text}"
        try:
            return cls[text]
        except KeyError:
            raise ValueError(f"expected a power level ({', '.join(cls.__members__)}), got {value!r}") from None


_FRACTIONS = {
    PowerLevel.OFF: 0.0,
    PowerLevel.IDLE: 0.0,
    PowerLevel.P25: 0.25,
    PowerLevel.P50: 0.50,
    PowerLevel.P75: 0.75,
    PowerLevel.P100: 1.00,
}

COMPUTE_LEVELS: tuple[PowerLevel, ...] = (PowerLevel.P25, PowerLevel.P50, PowerLevel.P75, PowerLevel.P100)


@dataclass(frozen=True)
class LevelProfile:
    """How the engine runs at one level.

    ``duty`` is the fraction of ticks on which the engine generates; the
    on-ticks are spread evenly (``duty_on``), so the pattern is deterministic.
    """

    batch_size: int
    threads: int = 1
    duty: float = 1.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {self.batch_size}")
        if self.threads < 1:
            raise ValueError(f"threads: expected >= 1, got {self.threads}")
        if not 0.0 < self.duty <= 1.0:
            raise ValueError(f"duty: expected 0 < duty <= 1, got {self.duty}")

    def duty_on(self, tick_index: int) -> bool:
        """Whether tick number ``tick_index`` (0, 1, ...) is an on-tick (Bresenham spread)."""
        return math.floor((tick_index + 1) * self.duty + 1e-9) > math.floor(tick_index * self.duty + 1e-9)


# Default profiles. On the 2-core reference machine one intra-op thread is
# faster than two for a model this small (thread hand-off costs more than the
# matmuls), so the levels differ by batch size and duty cycle; a lab machine
# with a bigger model can give P75/P100 more threads.
DEFAULT_PROFILES: Mapping[PowerLevel, LevelProfile] = {
    PowerLevel.P25: LevelProfile(batch_size=1, threads=1, duty=0.5),
    PowerLevel.P50: LevelProfile(batch_size=2, threads=1, duty=1.0),
    PowerLevel.P75: LevelProfile(batch_size=3, threads=1, duty=1.0),
    PowerLevel.P100: LevelProfile(batch_size=4, threads=1, duty=1.0),
}


@dataclass(frozen=True)
class PowerTable:
    """Watts and engine profile per level.

    ``max_w``: compute power above idle at 100 % (illustrative: one
    automotive SoC draws roughly 15-60 W under load, DOMAIN.md).
    ``idle_w``: draw with the computer on but not generating.
    """

    max_w: float = 60.0
    idle_w: float = 9.0
    profiles: Mapping[PowerLevel, LevelProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_w) and self.max_w > 0):
            raise ConfigError(None, "power.max_w", f"expected a positive number of watts, got {self.max_w}")
        if not (math.isfinite(self.idle_w) and self.idle_w >= 0):
            raise ConfigError(None, "power.idle_w", f"expected watts >= 0, got {self.idle_w}")
        missing = [lv.name for lv in COMPUTE_LEVELS if lv not in self.profiles]
        if missing:
            raise ConfigError(None, "power.profiles", f"missing a profile for {', '.join(missing)}")

    def watts(self, level: PowerLevel) -> float:
        """Electrical draw at ``level``."""
        if level == PowerLevel.OFF:
            return 0.0
        return self.idle_w + level.fraction * (self.max_w - self.idle_w)

    def profile(self, level: PowerLevel) -> LevelProfile:
        """Engine profile of a computing level; ``KeyError`` for OFF and IDLE."""
        return self.profiles[level]

    def highest_within(self, budget_w: float) -> PowerLevel:
        """Highest level whose draw fits in ``budget_w`` (OFF if not even idle fits)."""
        best = PowerLevel.OFF
        for level in PowerLevel:
            if self.watts(level) <= budget_w + 1e-9:
                best = level
        return best

    def key(self) -> str:
        """Stable text describing the table; part of the calibration cache key."""
        parts = [f"max_w={self.max_w!r}", f"idle_w={self.idle_w!r}"]
        for level in COMPUTE_LEVELS:
            p = self.profiles[level]
            parts.append(f"{level.name}:b{p.batch_size}t{p.threads}d{p.duty!r}")
        return ";".join(parts)
