"""What every benchmark returns, and how run.py prints it.

A benchmark is a module with ``NAME``, ``DESCRIPTION`` and
``run(quick: bool) -> Report``.  A report holds flat figures (name -> number,
all of them land in the final JSON line), rows for the readable table and
notes (fallbacks taken, anomalies seen).  Targets are verdicts in the table,
never failures: timings depend on the machine, only ratios are tracked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    name: str
    figures: dict[str, float] = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (what, value, verdict/comment)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float, label: str, fmt: str = "{:,.1f}", unit: str = "",
            comment: str = "") -> float:
        """Record figure ``key`` and a table row for it; return the value."""
        value = float(value)
        self.figures[key] = value
        text = fmt.format(value) + (f" {unit}" if unit else "")
        self.rows.append((f"{label} [{key}]", text, comment))
        return value

    def target(self, key: str, value: float, label: str, threshold: float, *, fmt: str = "{:,.2f}",
               unit: str = "", higher_is_better: bool = True, describe: str | None = None) -> bool:
        """Record a figure with a PASS/MISS verdict against ``threshold`` (never raises)."""
        ok = value >= threshold if higher_is_better else value <= threshold
        sign = ">=" if higher_is_better else "<="
        want = describe or f"{sign} {fmt.format(threshold)}{(' ' + unit) if unit else ''}"
        self.add(key, value, label, fmt, unit, f"{'PASS' if ok else 'MISS'} (target {want})")
        return ok

    def within(self, key: str, value: float, label: str, tolerance: float, *, fmt: str = "{:+.1f}",
               unit: str = "%") -> bool:
        """Record a signed figure with a PASS/MISS verdict on ``|value| <= tolerance`` (never raises)."""
        ok = abs(value) <= tolerance
        self.add(key, value, label, fmt, unit,
                 f"{'PASS' if ok else 'MISS'} (target within +/-{tolerance:g}{(' ' + unit) if unit else ''})")
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)


def format_table(report: Report) -> str:
    """A plain-text table: one row per figure, then the notes."""
    header = ("figure", "value", "verdict / comment")
    rows = [header, *report.rows]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    rule = "-" * (w0 + w1 + 4 + max(len(r[2]) for r in rows))
    lines = [f"== {report.name} ==", rule]
    for i, (a, b, c) in enumerate(rows):
        lines.append(f"{a:<{w0}}  {b:>{w1}}  {c}".rstrip())
        if i == 0:
            lines.append(rule)
    lines.append(rule)
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
