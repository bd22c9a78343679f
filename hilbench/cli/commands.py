"""The ``hilbench`` subcommands and their one-line help.

``hilbench --help`` lists them from here without importing any of them, and
``hilbench COMMAND`` imports only that command's module (``hilbench.cli.COMMAND``):
the bench, cantools, numpy and onnxruntime load only for a command that needs them.
"""

from __future__ import annotations

#: Subcommand -> its one-line help (each module's ``add_parser`` uses the same line).
COMMANDS: dict[str, str] = {
    "run": "run scenarios on the bench (default: the bundled suite)",
    "fuzz": "search a scenario's [fuzz] ranges for a run that violates a check",
    "tui": "watch and steer a bench in a terminal UI",
    "defects": "run the suite against every seeded DUT defect and show which scenarios catch each",
    "faults": "fault matrix: every E2E failure mode into every safety message, handling time against the "
              "declared FTTIs",
    "slcan-emulator": "an SLCAN adapter on a pseudo-terminal, bridged to a bench of its own or a python-can bus",
    "nodes": "list the nodes the bench emulates and those it expects from outside, with their messages",
    "parity": "run a scenario in simulated time and on a bus, and set traces and verdicts side by side",
    "record": "record what a bus carries to a file (any python-can format)",
    "replay": "replay a recording into a fresh compute unit (its decisions against the recorded ones) or onto a bus",
    "sweep": "run a base scenario over every combination of a sweep file's axes (chemistry x climate x state); "
             "rows to CSV and Parquet, resumable, and the safe operating envelope as HTML",
    "serve": "a socketcand daemon (--socketcand [HOST:]PORT), bridged to a bench of its own or a python-can bus",
}

__all__ = ["COMMANDS"]
