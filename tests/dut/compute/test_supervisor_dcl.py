"""The DCL rule keeps its recent draws in a bounded deque and spells max(0.0, x) out: both must
decide exactly as the plain formulation (a list of the last four draws, builtin max) does."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from hilbench.dut.compute.supervisor import Observation, Supervisor

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_draws = st.lists(st.tuples(st.floats(min_value=0.0, max_value=200.0), _floats, _floats, _floats), min_size=1,
                  max_size=12)


def _plain_dcl(recent: list[float], obs: Observation, supervisor: Supervisor) -> tuple[float, str] | None:
    p = supervisor.params
    recent[:] = [*recent[-3:], obs.compute_power_w]
    own_a = min(recent) / p.dcdc_efficiency / obs.pack_voltage_v
    others_a = max(0.0, (obs.pack_current_a or 0.0) - own_a)
    headroom_a = obs.dcl_a * p.dcl_usage - others_a
    budget = max(0.0, headroom_a) * obs.pack_voltage_v * p.dcdc_efficiency
    return (budget, "DCL_LIMIT") if budget < supervisor.max_power_w else None


def _same(a: tuple[float, str] | None, b: tuple[float, str] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a[1] == b[1] and (a[0] == b[0] or (math.isnan(a[0]) and math.isnan(b[0])))


@given(_draws)
def test_dcl_rule_equals_the_plain_formulation(draws: list[tuple[float, float, float, float]]) -> None:
    supervisor = Supervisor(max_power_w=60.0)
    recent: list[float] = []
    for power_w, current_a, dcl_a, voltage_v in draws:
        if not voltage_v:
            continue   # the rule returns NO_DATA before it reaches the arithmetic
        obs = Observation(0.0, pack_current_a=current_a, dcl_a=dcl_a, pack_voltage_v=voltage_v,
                          compute_power_w=power_w)
        assert _same(supervisor._dcl(obs), _plain_dcl(recent, obs, supervisor))
