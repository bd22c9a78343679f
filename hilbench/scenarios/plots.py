"""Plots of a scenario run: one PNG of stacked panels sharing the time axis.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch), so plotting is safe in CI, in pytest-xdist workers and next
to an application that picked its own backend.  matplotlib is imported only
here, when a plot is drawn.

Panels: SOC with the driver's reserve, pack current, min/max cell
temperature, junction temperature, compute power level (with the power in W),
tokens/s and the supervisor state.  Steps are marked as grey dashed lines,
fault injections as red lines, and first violations of failed checks as
magenta dotted lines, each labelled.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .runner import FiredStep, ScenarioResult, Traces, Violation

#: Points per line after min/max decimation (keeps spikes, keeps PNGs quick to draw).
MAX_POINTS = 3000


@dataclass(frozen=True)
class Panel:
    """One subplot of the trace figure: the roles drawn in it, their line styles, and whether they are enumerated.

    An enumerated panel draws states as steps with the state names on the y axis.
    """

    title: str
    roles: tuple[str, ...]
    styles: tuple[str, ...] = ("-",)
    enum: bool = False


PANELS = (
    Panel("SOC [%]", ("soc_pct", "range_reserve_soc_pct"), ("-", "--")),
    Panel("pack current [A]\n(+ discharge)", ("pack_current_a",)),
    Panel("cell temp. [degC]", ("max_cell_temp_c", "min_cell_temp_c")),
    Panel("junction [degC]", ("junction_temp_c",)),
    Panel("power level", ("cu_power_level",), enum=True),
    Panel("tokens/s", ("tokens_per_s",)),
    Panel("CU state", ("cu_state",), enum=True),
)


def _decimate(t: np.ndarray, v: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per bucket, so a 0.1 s spike in an 8 h trace still shows."""
    n = len(t)
    if n <= max_points:
        return t, v
    per = int(np.ceil(n / (max_points // 2)))
    m = n // per
    tb = t[: m * per].reshape(m, per)
    vb = v[: m * per].reshape(m, per)
    with np.errstate(invalid="ignore"):
        all_nan = np.isnan(vb).all(axis=1)
        safe = np.where(np.isnan(vb), np.nanmean(np.where(all_nan[:, None], 0.0, vb)), vb)
    lo = np.where(all_nan, np.nan, safe.min(axis=1))
    hi = np.where(all_nan, np.nan, safe.max(axis=1))
    tt = np.repeat(tb[:, 0], 2)
    tt[1::2] = tb[:, -1]
    vv = np.empty(2 * m)
    vv[0::2], vv[1::2] = lo, hi
    return tt, vv


def _time_unit(duration_s: float) -> tuple[float, str]:
    if duration_s >= 3 * 3600:
        return 3600.0, "h"
    if duration_s >= 300:
        return 60.0, "min"
    return 1.0, "s"


def available() -> bool:
    """Whether plots can be drawn here (matplotlib is the ``report`` extra)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_result(result: ScenarioResult, path: str | Path, *, dpi: int = 100) -> Path:
    """Draw ``result``'s traces, with its steps and first violations marked, to a PNG at ``path``.

    Raises:
        ConfigError: matplotlib is not installed (``pip install hilbench[report]``),
            or the result carries no traces.
    """
    if result.traces is None:
        raise ConfigError(path, None, "the result carries no traces to plot")
    return plot_traces(result.traces, path, title=result.scenario.name, verdict=result.verdict,
                       duration_s=result.duration_s, steps=result.steps, violations=result.violations, dpi=dpi)


def plot_traces(traces: Traces, path: str | Path, *, title: str, verdict: str, duration_s: float,
                steps: Sequence[FiredStep] = (), violations: Sequence[Violation] = (), dpi: int = 100) -> Path:
    """Draw role traces to a PNG at ``path`` (see the module docstring for the panels).

    Raises:
        ConfigError: matplotlib is not installed (``pip install hilbench[report]``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(path, None, "plots need matplotlib: pip install 'hilbench[report]'") from None
    panels = [p for p in PANELS if any(r in traces for r in p.roles)]
    scale, unit = _time_unit(duration_s)
    t = traces.t_s / scale

    fig = Figure(figsize=(12, 1.55 * len(panels) + 1.2), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(f"{title}: {verdict}", fontsize=13, color={"PASS": "#1a7f37"}.get(verdict, "#cf222e"))
    for ax, panel in zip(axes, panels):
        for role, style in zip(panel.roles, panel.styles * len(panel.roles)):
            if role not in traces:
                continue
            v = traces.values[role]
            if panel.enum:
                states = traces.states.get(role, ())
                ax.step(t, v, where="post", lw=1.2, color="C0")
                ax.set_yticks(range(len(states)), states, fontsize=7)
                ax.set_ylim(-0.5, len(states) - 0.5)
            elif role == "tokens_per_s" and len(v) > 2 * MAX_POINTS:
                # per-tick rates flicker (whole tokens per tick): the envelope, and the mean over 1 % of the run
                td, vd = _decimate(t, v)
                ax.plot(td, vd, lw=0.6, color="C0", alpha=0.35, label="per frame (min/max)")
                n = max(1, len(v) // 100)
                mean = np.convolve(np.nan_to_num(v), np.ones(n) / n, mode="same")
                tm, vm = _decimate(t, mean)
                ax.plot(tm, vm, lw=1.4, color="C0", label=f"mean over {n * (t[1] - t[0]) * scale:g} s")
                ax.legend(fontsize=7, loc="upper right")
            else:
                td, vd = _decimate(t, v)
                ax.plot(td, vd, style, lw=1.1, label=role)
        if panel.roles[0] == "max_cell_temp_c" and "min_cell_temp_c" in traces and "max_cell_temp_c" in traces:
            td, lo = _decimate(t, traces.values["min_cell_temp_c"])
            _, hi = _decimate(t, traces.values["max_cell_temp_c"])
            ax.fill_between(td, lo, hi, alpha=0.2, color="C0")
        if panel.roles[0] == "cu_power_level" and "compute_power_w" in traces:
            twin = ax.twinx()
            td, vd = _decimate(t, traces.values["compute_power_w"])
            twin.plot(td, vd, lw=0.8, color="C1", alpha=0.7)
            top_w = np.nanmax(vd) if np.isfinite(vd).any() else 0.0
            twin.set_ylim(0.0, max(1.0, float(top_w)) * 1.1)
            twin.set_ylabel("W", color="C1", fontsize=8)
            twin.tick_params(axis="y", labelsize=7, colors="C1")
        if panel.roles[0] == "tokens_per_s":
            ax.set_ylim(bottom=0.0)
        ax.set_ylabel(panel.title, fontsize=8)
        ax.tick_params(axis="both", labelsize=7)
        ax.grid(True, alpha=0.3)
        if sum(r in traces for r in panel.roles) > 1 and not panel.enum:
            ax.legend(fontsize=7, loc="upper right")

    top = axes[0]
    marks = [(st.t_s, st.label, "#cf222e" if st.fault else "0.45", "-" if st.fault else "--")
             for st in steps]
    marks += [(v.t_s, f"FAIL: {v.check}", "#a020f0", ":") for v in violations]
    marks.sort(key=lambda m: m[0])
    span_s = duration_s or 1.0
    rows: list[list[tuple[float, float]]] = []     # per label row: the spans (axis fraction) taken
    for t_mark, label, color, style in marks:
        for ax in axes:
            ax.axvline(t_mark / scale, color=color, ls=style, lw=1.0)
        x = t_mark / span_s
        width = 0.0056 * (len(label) + 2)
        right = x + width > 1.0            # near the right edge: write the label leftwards
        span = (x - width, x) if right else (x, x + width)
        level = next((i for i, taken in enumerate(rows)
                      if all(span[1] < a or span[0] > b for a, b in taken)), len(rows))
        if level == len(rows):
            rows.append([])
        rows[level].append(span)
        top.annotate(label, xy=(t_mark / scale, 1.0), xycoords=("data", "axes fraction"),
                     xytext=(-2 if right else 2, 3 + 10 * level), textcoords="offset points", fontsize=7,
                     color=color, ha="right" if right else "left", va="bottom", annotation_clip=False)
    axes[-1].set_xlabel(f"time [{unit}]")
    axes[-1].set_xlim(0.0, duration_s / scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
