"""Scenario texts the TUI tests share (the conftest's fixtures and the runner's tests)."""

#: 40 s, every check passes: plugged in at 10 s, no compute power outside P.
SHORT_SCENARIO = """\
[scenario]
name = "short"
duration = "40s"

[initial]
chemistry = "lfp"
soc_pct = 60.0

[[steps]]
at = "10s"
action = "plug_in"
name = "plug in"

[[checks]]
kind = "never"
name = "no compute power outside P"
expr = "compute_power_w > 0 and gear != 'P'"
"""
