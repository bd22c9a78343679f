"""BMS fault levels: one debounce timer per level, so a dithering reading cannot hold a level back."""

from __future__ import annotations

from hilbench.nodes.bms import _Debounced


def _run(targets: list[int], step_s: float = 0.1, debounce_s: float = 0.5) -> list[int]:
    d = _Debounced()
    return [d.update(target, i * step_s, debounce_s) for i, target in enumerate(targets)]


def test_a_reading_dithering_between_two_high_levels_raises_the_lower_of_them() -> None:
    levels = _run([2, 3] * 20)
    assert max(levels) == 2                 # 3 never held for 0.5 s, 2 always did
    assert levels.index(2) == 5             # after exactly the debounce time


def test_a_level_is_raised_only_after_the_debounce_and_cleared_only_after_it_too() -> None:
    levels = _run([1] * 6 + [0] * 3 + [1] * 2 + [0] * 7)
    assert levels[:5] == [0] * 5 and levels[5] == 1     # 0.5 s of condition
    assert levels[6:16] == [1] * 10                      # short dips do not clear it
    assert levels[-1] == 0                               # a 0.5 s clear does


def test_a_hard_limit_held_throughout_is_reached() -> None:
    assert _run([3] * 10)[-1] == 3
