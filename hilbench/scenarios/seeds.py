"""Seed lists as a test engineer writes them: ``0-19``, ``0,3,7``, ``0-3,9``.

One parser for every command that takes seeds (``hilbench run --seeds``,
``hilbench faults matrix --seeds``), so a list means the same everywhere.
"""

from __future__ import annotations

import re

#: The most seeds one list may name (a typo such as 0-50000 would otherwise queue hours of runs).
MAX_SEEDS = 1000


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``0-19``, ``0,3,7`` or a mix (``0-3,9``), in the order given, each once.

    Raises:
        ValueError: not such a list (the message says why): a negative seed, a range that runs
            backwards, an empty part, or more than :data:`MAX_SEEDS` seeds.
    """
    seeds: list[int] = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ValueError(f"expected seeds such as 0-19, 0,3,7 or 0-3,9; got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ValueError(f"the range {part.strip()} runs backwards; write {high}-{low}")
        if high - low + 1 > MAX_SEEDS:
            raise ValueError(f"{part.strip()} is {high - low + 1} seeds; at most {MAX_SEEDS}")
        seeds.extend(n for n in range(low, high + 1) if n not in seeds)
        if len(seeds) > MAX_SEEDS:
            raise ValueError(f"more than {MAX_SEEDS} seeds")
    return tuple(seeds)


__all__ = ["MAX_SEEDS", "parse_seeds"]
