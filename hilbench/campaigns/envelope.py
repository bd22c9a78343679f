"""The safe operating envelope of a sweep as one HTML page: per chemistry, tokens over ambient x starting SOC.

Each table has a row per ambient temperature and a column per starting SOC; a cell holds the
tokens the runs there made (the mean over seeds and the other axes, with the range when they
differ) and is red, naming the checks that failed, when any run there did not pass.  A green
cell is inside the envelope: every check held on every run.  Plain strings, every text escaped
with ``html.escape``: no template engine for one page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from .rows import failing_checks
from .sweep_file import Sweep

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #eee; }
td.pass { background: #e8f5e9; }
td.fail { background: #f8d0d0; }
td.none { color: #999; text-align: center; }
td .why { display: block; font-size: 0.8em; color: #900; text-align: left; }
td .n { display: block; font-size: 0.8em; color: #666; }
"""


def envelope_html(sweep: Sweep, rows: Iterable[dict[str, Any]]) -> str:
    """The page for ``rows`` (those of ``sweep``'s planned runs that finished)."""
    rows = list(rows)
    failed = [row for row in rows if row.get("verdict") != "PASS"]
    total = len(sweep.runs())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(sweep.name)}: safe operating envelope</title>", f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(sweep.name)}: safe operating envelope</h1>",
        f"<p>Base scenario <code>{escape(str(sweep.scenario.source))}</code>, {_length(sweep.duration_s)} "
        f"per run; {len(rows)} of {total} runs finished: {len(rows) - len(failed)} passed, {len(failed)} did "
        f"not. Each cell: tokens made (mean over the runs there). Red: a check failed there (named, with how "
        f"many of the cell's runs it failed).</p>",
    ]
    if sweep.description:
        parts.append(f"<p>{escape(sweep.description)}</p>")
    for chemistry in _ordered(sweep, "chemistry", rows):
        mine = [row for row in rows if row.get("chemistry") == chemistry]
        parts.append(f"<h2>{escape(str(chemistry))}</h2>")
        parts.append(_table(mine, _ordered(sweep, "ambient_c", mine), _ordered(sweep, "soc_pct", mine)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _ordered(sweep: Sweep, key: str, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """The values of ``key`` in the rows: in the axis's order when it is an axis, else sorted."""
    present = {row.get(key) for row in rows}
    for axis in sweep.axes:
        if axis.name == key:
            return [value for value in axis.values if value in present]
    return sorted(present, key=str) if key == "chemistry" else sorted(v for v in present if v is not None)


def _table(rows: Sequence[dict[str, Any]], ambients: Sequence[Any], socs: Sequence[Any]) -> str:
    head = "".join(f"<th>SOC {escape(_num(soc))} %</th>" for soc in socs)
    lines = ['<table class="envelope">', f"<tr><th>ambient \\ start</th>{head}</tr>"]
    for ambient in ambients:
        cells = "".join(_cell([row for row in rows if row.get("ambient_c") == ambient and row.get("soc_pct") == soc])
                        for soc in socs)
        lines.append(f"<tr><th>{escape(_num(ambient))} C</th>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _cell(runs: Sequence[dict[str, Any]]) -> str:
    if not runs:
        return '<td class="none">-</td>'
    tokens = [int(row.get("tokens") or 0) for row in runs]
    text = f"{sum(tokens) / len(tokens):,.0f}"
    if len(runs) > 1:
        spread = f", {min(tokens):,}-{max(tokens):,}" if min(tokens) != max(tokens) else ""
        text += f'<span class="n">{len(runs)} runs{spread}</span>'
    why: dict[str, int] = {}
    for row in runs:
        names = failing_checks(row) or ([f"ERROR: {row.get('error') or 'no verdict'}"]
                                        if row.get("verdict") != "PASS" else [])
        for name in names:
            why[name] = why.get(name, 0) + 1
    if not why:
        return f'<td class="pass">{text}</td>'
    reasons = "".join(f'<span class="why">{escape(name)} ({count}/{len(runs)})</span>' for name, count in why.items())
    return f'<td class="fail">{text}{reasons}</td>'


def _length(seconds: float) -> str:
    return f"{seconds / 3600:.4g} h" if seconds >= 3600 else f"{seconds / 60:.4g} min"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = ["envelope_html"]
