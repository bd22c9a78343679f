"""Campaigns: many runs of one scenario over a grid of conditions (sweeps), as rows of a table.

A sweep file (:mod:`.sweep_file`) names a base scenario and the ``[initial]`` keys to vary;
:mod:`.execute` runs every combination through the scenario runner on a process pool and turns
each result into one row (:mod:`.rows`); :mod:`.table` keeps the rows in CSV and Parquet so a
stopped sweep resumes where it stopped; :mod:`.envelope` draws the safe operating envelope.

This package sits above :mod:`hilbench.scenarios` and below the CLI: it prints nothing.
"""

from .sweep_file import Axis, Run, Sweep, load_sweep

__all__ = ["Axis", "Run", "Sweep", "load_sweep"]
