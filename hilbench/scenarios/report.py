"""Reports of scenario runs: failure text, JUnit XML, trace CSV, and an HTML page with plots.

The same readable failure text serves pytest, JUnit and the CLI, so an
engineer reads one format everywhere: the check, its verdict and robustness
(with unit), when it first failed, the signal values then, the steps before
it and the frames around it.  Plots live in :mod:`.plots` (matplotlib is an
optional dependency, imported only when a plot is drawn).
"""

from __future__ import annotations

import csv
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .checks import NOT_MAPPED, VACUOUS, VERDICTS, CheckResult
from .runner import ScenarioResult, Traces


# -- text ----------------------------------------------------------------------------------
def fmt_time(t_s: float) -> str:
    """``12.3 s`` below a minute, ``h:mm:ss.s`` above (scenario files use both)."""
    if abs(t_s) < 60.0:
        return f"{t_s:.1f} s"
    h, rem = divmod(t_s, 3600.0)
    m, s = divmod(rem, 60.0)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}"


def fmt_robustness(check: CheckResult) -> str:
    """A check's robustness as shown in reports: ``+1.5 %`` (4 significant digits), ``+inf``, or ``n/a``."""
    if check.robustness is None:
        return "n/a"
    value = check.robustness + 0.0          # -0.0 (a negated exact bound) reads as +0
    if not np.isfinite(value):
        return "-inf" if value < 0 else "+inf"
    return f"{value:+.4g} {check.check.unit}".strip()


def _fmt_value(value: float | str) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def _describe(check: CheckResult) -> str:
    c = check.check
    if c.kind == "response":
        return f"response: whenever {c.trigger}, then {c.expr} within {c.within_s:g} s"
    if c.kind in ("eventually",) and c.within_s is not None:
        return f"eventually within {c.within_s:g} s of {c.from_s:g} s: {c.expr}"
    if c.kind == "holds_for":
        return f"holds for {c.duration_s:g} s: {c.expr}"
    if c.kind in ("cycle_times", "bus_integrity"):
        return c.kind.replace("_", " ")
    return f"{c.kind}: {c.expr}"


def describe_run(result: ScenarioResult) -> str:
    """One line: where the scenario came from and how it ran (seed, bus, defect)."""
    options = result.options
    d = result.duration_s
    parts = [f"{d / 3600:.2f} h" if d >= 3600 else (f"{d / 60:g} min" if d >= 60 else f"{d:g} s")]
    if options is not None:
        parts.append(f"seed {options.seed}")
        parts.append(f"bus {options.bus.interface}:{options.bus.channel}")
        if options.dut_defect:
            parts.append(f"DUT defect {options.dut_defect}")
    parts.append(f"{result.frames} frames")
    if result.model is not None:
        parts.append(f"model {result.model}")
    source = result.scenario.source
    return (f"{source}: " if source else "") + ", ".join(parts)


#: What the verdicts beside PASS and FAIL mean, for the line under a table that has any.
VERDICT_NOTES = {
    VACUOUS: "VACUOUS: the trigger never fired or the window never started, so nothing was tested; "
             "fails the scenario",
    NOT_MAPPED: "NOT MAPPED: a role the signal map does not bind; neither passed nor failed",
}


def checks_table(result: ScenarioResult) -> str:
    """The verdict table: one line per check, then the count of each verdict when any is VACUOUS or NOT MAPPED.

    The count appears only then, so a plain run reads as it always did.  The bench's warnings are
    not in the table (``hilbench run`` prints each once for the whole run); :func:`format_failure`,
    JUnit and the HTML page carry them with the verdicts.
    """
    width = max((len(c.check.name) for c in result.checks), default=10)
    vwidth = max([7, *(len(c.verdict) for c in result.checks)])
    lines = [f"  {'check':<{width}}  {'verdict':<{vwidth}}  {'robustness':>12}  detail"]
    for c in result.checks:
        lines.append(f"  {c.check.name:<{width}}  {c.verdict:<{vwidth}}  {fmt_robustness(c):>12}  {c.detail}")
    counts = result.verdict_counts()
    notes = [note for verdict, note in VERDICT_NOTES.items() if counts[verdict]]
    if notes:
        lines.append("  " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
                     + f" ({'; '.join(notes)})")
    return "\n".join(lines)


def warnings_text(result: ScenarioResult) -> str:
    """The bench's warnings of this run, one ``warning:`` line each (empty when there were none)."""
    return "\n".join(f"  warning: {w}" for w in result.warnings)


def economics_line(result: ScenarioResult) -> str:
    """One line of a run's economics: tokens, compute energy by source, tokens per kWh and pack wear."""
    e = result.economics
    return (f"tokens {e.tokens:,}  compute {e.compute_energy_kwh:.3f} kWh (pack {e.energy_from_pack_kwh:.3f}, "
            f"grid {e.energy_from_grid_kwh:.3f})  {e.tokens_per_kwh / 1e6:.3f} M tokens/kWh  "
            f"pack wear {e.pack_equivalent_full_cycles:.4f} EFC ({e.pack_capacity_lost_pct:.2g} % of capacity, "
            f"{e.pack_capacity_lost_pct_per_m_tokens:.2g} % per M tokens)")


def format_failure(result: ScenarioResult) -> str:
    """The readable report of a scenario that did not pass (also fine for one that did)."""
    s = result.scenario
    lines = [f'scenario "{s.name}" {result.verdict}  ({describe_run(result)})']
    if result.error:
        lines.append(f"  error: {result.error}")
    lines.append(checks_table(result))
    warnings = warnings_text(result)
    if warnings:
        lines.append(warnings)
    details = failure_details(result)
    if details:
        lines += ["", details]
    lines += ["", economics_line(result)]
    return "\n".join(lines)


def failure_details(result: ScenarioResult) -> str:
    """Per failed check: what, when, the signal values, the steps before it and the frames around it.

    A VACUOUS check has no violation: it says what never happened, and how close the trigger came.
    """
    lines: list[str] = []
    for check in result.failing_checks:
        if lines:
            lines.append("")
        if check.verdict == VACUOUS:
            lines.append(f'VACUOUS check "{check.check.name}"  ({_describe(check)})')
            lines.append(f"  verdict {VACUOUS}: {check.detail}")
            if check.values:
                lines.append("  trigger signals then: "
                             + "  ".join(f"{k}={_fmt_value(v)}" for k, v in check.values.items()))
            lines.append('  nothing was tested: drive the scenario so the trigger fires, or mark a guard that '
                         'need not fire in it vacuous = "ok" (with a comment saying why)')
            continue
        lines.append(f'FAILED check "{check.check.name}"  ({_describe(check)})')
        lines.append(f"  verdict {check.verdict}, robustness {fmt_robustness(check)}: {check.detail}")
        violation = result.violation_of(check)
        t = violation.t_s if violation is not None else check.violation_s
        if t is None:
            continue
        lines.append(f"  first violation at t = {t:.1f} s ({fmt_time(t)})")
        values = violation.values if violation is not None and violation.values else check.values
        if values:
            lines.append("  signals then: " + "  ".join(f"{k}={_fmt_value(v)}" for k, v in values.items()))
        before = [st for st in result.steps if st.t_s <= t + 1e-9][-3:]
        if before:
            lines.append("  last steps before it: " + "; ".join(
                f"{fmt_time(st.t_s)} {st.label}{' (fault)' if st.fault else ''}" for st in before))
        if violation is not None and violation.frames:
            source = f", payloads from {result.record}" if any(f.data for f in violation.frames) else ""
            lines.append(f"  frames within +/-{violation.window_s:g} s (decoded{source}):")
            lines.extend(f"    {frame}" for frame in violation.frames)
    return "\n".join(lines)


def failure_message(result: ScenarioResult) -> str:
    """One line for JUnit's ``message`` attribute."""
    if result.error:
        return result.error
    parts = []
    for check in result.failing_checks:
        if check.verdict == VACUOUS:
            parts.append(f'"{check.check.name}" VACUOUS (nothing tested)')
            continue
        when = f" at t={check.violation_s:.1f} s" if check.violation_s is not None else ""
        parts.append(f'"{check.check.name}" failed{when} (robustness {fmt_robustness(check)})')
    return "; ".join(parts)


def format_seeds(seeds: Iterable[int]) -> str:
    """``0-3,7,9-10``: sorted seeds with runs of consecutive ones as ranges (the ``--seeds`` syntax)."""
    ordered = sorted(set(seeds))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def seeds_table(results: Sequence[ScenarioResult]) -> str:
    """Per scenario (in the order first run): on how many seeds it passed, and which seeds failed, with why.

    A scenario whose verdict depends on the seed sits on a threshold of some noisy reading: give it
    margin.  The ``why`` column names the checks that failed or were VACUOUS on the first failing seed
    (or the error).
    """
    by_name: dict[str, list[ScenarioResult]] = {}
    for result in results:
        by_name.setdefault(result.scenario.name, []).append(result)
    width = max([8, *(len(name) for name in by_name)])
    lines = [f"  {'scenario':<{width}}  {'passed':>7}  failing seeds (first failure)"]
    for name, runs in by_name.items():
        seeds = [r.options.seed if r.options is not None else 0 for r in runs]
        bad = [(seed, r) for seed, r in zip(seeds, runs) if not r.passed]
        passed = f"{len(runs) - len(bad)}/{len(runs)}"
        why = ""
        if bad:
            first = bad[0][1]
            why = first.error or "; ".join(f"{c.check.name} {c.verdict}" for c in first.failing_checks)
            why = f"{format_seeds(seed for seed, _ in bad)}  ({why})"
        lines.append(f"  {name:<{width}}  {passed:>7}  {why}".rstrip())
    all_seeds = {r.options.seed for r in results if r.options is not None}
    steady = sum(1 for runs in by_name.values() if all(r.passed for r in runs))
    lines.append(f"  {steady} of {len(by_name)} scenarios passed on every seed ({format_seeds(all_seeds)})")
    return "\n".join(lines)


# -- JUnit XML -----------------------------------------------------------------------------
def junit_tree(results: Sequence[ScenarioResult], *, suite_name: str = "hilbench") -> ET.ElementTree:
    """A JUnit document: one ``testsuite``, one ``testcase`` per scenario."""
    failures = sum(1 for r in results if r.verdict == "FAIL")
    errors = sum(1 for r in results if r.verdict == "ERROR")
    total_wall = sum(r.wall_s for r in results)
    root = ET.Element("testsuites", name=suite_name, tests=str(len(results)), failures=str(failures),
                      errors=str(errors), time=f"{total_wall:.3f}")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(results)), failures=str(failures),
                          errors=str(errors), skipped="0", time=f"{total_wall:.3f}")
    seeds = {r.options.seed for r in results if r.options is not None}
    if results and results[0].options is not None:
        props = ET.SubElement(suite, "properties")
        options = results[0].options
        seed = options.seed if len(seeds) == 1 else format_seeds(seeds)
        for name, value in (("seed", seed), ("bus", f"{options.bus.interface}:{options.bus.channel}"),
                            ("dut_defect", options.dut_defect or "")):
            ET.SubElement(props, "property", name=name, value=str(value))
    for result in results:
        source = result.scenario.source
        name = result.scenario.name
        if len(seeds) > 1 and result.options is not None:   # one testcase per scenario and seed
            name = f"{name} [seed {result.options.seed}]"
        attrs = {"classname": f"scenarios.{source.stem}" if source else "scenarios", "name": name,
                 "time": f"{result.wall_s:.3f}"}
        if source is not None:
            attrs["file"] = str(source)
        case = ET.SubElement(suite, "testcase", attrs)
        not_mapped = result.not_mapped_checks
        vacuous = result.vacuous_checks
        if not_mapped or vacuous or result.warnings:
            props = ET.SubElement(case, "properties")
            if vacuous:
                ET.SubElement(props, "property", name="checks_vacuous", value=str(len(vacuous)))
                for c in vacuous:
                    ET.SubElement(props, "property", name="vacuous", value=c.check.name)
            if not_mapped:
                ET.SubElement(props, "property", name="checks_not_mapped", value=str(len(not_mapped)))
                for c in not_mapped:
                    ET.SubElement(props, "property", name="not_mapped", value=c.check.name)
            for warning in result.warnings:
                ET.SubElement(props, "property", name="warning", value=warning)
        if result.verdict == "FAIL":
            failure = ET.SubElement(case, "failure", message=failure_message(result), type="ScenarioCheckFailed")
            failure.text = format_failure(result)
        elif result.verdict == "ERROR":
            error = ET.SubElement(case, "error", message=result.error or "", type="ScenarioError")
            error.text = format_failure(result)
        out = ET.SubElement(case, "system-out")
        warnings = warnings_text(result)
        out.text = (f"{describe_run(result)}\n{checks_table(result)}\n" + (f"{warnings}\n" if warnings else "")
                    + f"{economics_line(result)}\n")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: Sequence[ScenarioResult], path: str | Path, *, suite_name: str = "hilbench") -> Path:
    """Write JUnit XML to ``path`` (parent folders made).

    Raises:
        ConfigError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        junit_tree(results, suite_name=suite_name).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot write the JUnit report: {exc.strerror}") from None
    return path


# -- traces --------------------------------------------------------------------------------
def write_trace_csv(traces: Traces, path: str | Path) -> Path:
    """The role traces on the check grid, one row per grid point; enumerated roles as state names."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    roles = list(traces.values)
    columns = []
    for role in roles:
        values = traces.values[role]
        states = traces.states.get(role)
        if states:
            names = np.array([*states, ""], dtype=object)
            idx = np.where(np.isnan(values), len(states), values).astype(int)
            idx = np.where((idx < 0) | (idx > len(states)), len(states), idx)
            columns.append(names[idx])
        else:
            columns.append(np.where(np.isnan(values), "", np.char.mod("%.6g", values)))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t_s", *(traces.label(r) for r in roles)])
        times = np.char.mod("%.3f", traces.t_s)
        writer.writerows(zip(times, *columns))
    return path


# -- HTML ----------------------------------------------------------------------------------
def slug(name: str) -> str:
    """A file-system-safe name for a scenario or a test."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scenario"


@dataclass
class _Entry:
    """What the HTML page needs of one result, so traces can be dropped once plotted."""

    name: str
    anchor: str
    verdict: str
    description: str
    run: str
    checks: list[CheckResult]
    economics: dict[str, float]
    plot: str | None
    violations_text: str
    wall_s: float
    warnings: list[str]


def _css_class(verdict: str) -> str:
    return verdict.replace(" ", "_")


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.PASS { color: #1a7f37; font-weight: bold; } .FAIL, .ERROR { color: #cf222e; font-weight: bold; }
.NOT_MAPPED { color: #9a6700; font-weight: bold; } .VACUOUS { color: #8250df; font-weight: bold; }
ul.warnings { background: #fff8c5; padding: 0.5em 0.5em 0.5em 2em; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 85%; }
img { max-width: 100%; border: 1px solid #ddd; }
section { margin-bottom: 3em; }
"""


class HtmlReport:
    """An ``index.html`` and one PNG per scenario in ``out_dir``.

    Call :meth:`add` as each result arrives (it draws the plot at once, so a
    suite's traces need not all be kept), then :meth:`write`.
    """

    def __init__(self, out_dir: str | Path, *, title: str = "hilbench scenario report") -> None:
        self.out_dir = Path(out_dir)
        self.title = title
        self.entries: list[_Entry] = []
        from . import plots

        if not plots.available():
            # Refused before anything runs, not after an 8-hour session.
            raise ConfigError(self.out_dir, None, "the report's plots need matplotlib: pip install 'hilbench[report]'")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(self.out_dir, None, f"cannot create the report folder: {exc.strerror}") from None

    def add(self, result: ScenarioResult, *, plot: str | None = None, name: str | None = None) -> None:
        """Add a result, drawing its plot unless ``plot`` names one already drawn in ``out_dir``.

        ``name`` heads its section instead of the scenario's name (``overnight [seed 7]`` across seeds).
        """
        name = name or result.scenario.name
        anchor = slug(name)
        taken = {e.anchor for e in self.entries}
        n = 2
        while anchor in taken:
            anchor = f"{slug(name)}-{n}"
            n += 1
        if plot is None and result.traces is not None:
            from .plots import plot_result

            plot = f"{anchor}.png"
            plot_result(result, self.out_dir / plot)
        violations_text = failure_details(result)
        self.entries.append(_Entry(
            name, anchor, result.verdict, result.scenario.description,
            describe_run(result), list(result.checks), result.economics.as_dict(), plot, violations_text,
            result.wall_s, list(result.warnings)))

    def write(self) -> Path:
        """Write ``index.html``; returns its path."""
        e = html.escape
        passed = sum(1 for x in self.entries if x.verdict == "PASS")
        not_mapped = sum(1 for x in self.entries for c in x.checks if c.verdict == NOT_MAPPED)
        vacuous = sum(1 for x in self.entries for c in x.checks if c.verdict == VACUOUS)
        out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>"
               f"<style>{_CSS}</style></head><body>",
               f"<h1>{e(self.title)}</h1>",
               f"<p>{passed} of {len(self.entries)} scenarios passed."
               + (f" {vacuous} check{'s' if vacuous != 1 else ''} <span class='VACUOUS'>VACUOUS</span> "
                  "(the trigger never fired: nothing tested, the scenario fails)." if vacuous else "")
               + (f" {not_mapped} check{'s' if not_mapped != 1 else ''} <span class='NOT_MAPPED'>NOT MAPPED</span> "
                  "(a role the signal map does not bind: neither passed nor failed)." if not_mapped else "")
               + "</p>"]
        warnings = list(dict.fromkeys(w for x in self.entries for w in x.warnings))
        if warnings:
            out.append("<h2>Warnings</h2><ul class='warnings'>")
            out.extend(f"<li>{e(w)}</li>" for w in warnings)
            out.append("</ul>")
        out.append("<table><tr><th>scenario</th><th>verdict</th><th>checks passed</th><th>vacuous</th>"
                   "<th>not mapped</th><th>tokens</th><th>tokens/kWh</th><th>wall time</th></tr>")
        for x in self.entries:
            counts = dict.fromkeys(VERDICTS, 0)
            for c in x.checks:
                counts[c.verdict] += 1
            judged = counts["PASS"] + counts["FAIL"] + counts[VACUOUS]
            out.append(f"<tr><td><a href='#{e(x.anchor)}'>{e(x.name)}</a></td><td class='{x.verdict}'>{x.verdict}"
                       f"</td><td class='num'>{counts['PASS']}/{judged}</td><td class='num'>{counts[VACUOUS]}</td>"
                       f"<td class='num'>{counts[NOT_MAPPED]}</td>"
                       f"<td class='num'>{int(x.economics['tokens']):,}"
                       f"</td><td class='num'>{x.economics['tokens_per_kwh']:,.0f}</td>"
                       f"<td class='num'>{x.wall_s:.1f} s</td></tr>")
        out.append("</table>")
        for x in self.entries:
            out.append(f"<section id='{e(x.anchor)}'><h2>{e(x.name)} <span class='{x.verdict}'>{x.verdict}</span></h2>")
            if x.description:
                out.append(f"<p>{e(x.description)}</p>")
            out.append(f"<p><small>{e(x.run)}</small></p>")
            if x.warnings:
                out.append("<ul class='warnings'>")
                out.extend(f"<li>warning: {e(w)}</li>" for w in x.warnings)
                out.append("</ul>")
            out.append("<table><tr><th>check</th><th>verdict</th><th>robustness</th><th>detail</th></tr>")
            for c in x.checks:
                out.append(f"<tr><td>{e(c.check.name)}</td><td class='{_css_class(c.verdict)}'>{c.verdict}</td>"
                           f"<td class='num'>{e(fmt_robustness(c))}</td><td>{e(c.detail)}</td></tr>")
            out.append("</table>")
            ec = x.economics
            out.append("<h3>Token factory</h3><table>")
            for label, value in (
                    ("tokens", f"{int(ec['tokens']):,}"),
                    ("compute energy", f"{ec['compute_energy_kwh']:.3f} kWh"),
                    ("energy from the pack", f"{ec['energy_from_pack_kwh']:.3f} kWh"),
                    ("energy from the grid", f"{ec['energy_from_grid_kwh']:.3f} kWh"),
                    ("tokens per kWh", f"{ec['tokens_per_kwh']:,.0f}"),
                    ("pack wear", f"{ec['pack_equivalent_full_cycles']:.4f} equivalent full cycles"),
                    ("capacity it costs", f"{ec['pack_capacity_lost_pct']:.2g} % of the pack's, "
                                          f"{ec['pack_capacity_lost_pct_per_m_tokens']:.2g} % per million tokens")):
                out.append(f"<tr><th>{label}</th><td class='num'>{value}</td></tr>")
            out.append("</table>")
            if x.plot:
                out.append(f"<img src='{e(x.plot)}' alt='traces of {e(x.name)}'>")
            if x.violations_text:
                out.append(f"<h3>Failures</h3><pre>{e(x.violations_text)}</pre>")
            out.append("</section>")
        out.append("</body></html>")
        path = self.out_dir / "index.html"
        path.write_text("\n".join(out), encoding="utf-8")
        return path


def write_html_report(results: Iterable[ScenarioResult], out_dir: str | Path, *,
                      title: str = "hilbench scenario report") -> Path:
    """``index.html`` plus one PNG per scenario in ``out_dir``; returns the page's path."""
    report = HtmlReport(out_dir, title=title)
    for result in results:
        report.add(result)
    return report.write()
