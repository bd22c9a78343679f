"""Every action a scenario step can name, in one table: :data:`ACTIONS`.

Importing this module loads every module that defines actions -- the vehicle's
and the EVSE's (:mod:`.vehicle_actions`), the fault injections (:mod:`.faults`,
:mod:`.fault_modes`) -- so the table is complete wherever it is read (the loader,
the runner, the TUI).  The machinery (the table, ``@action``, ``apply``) lives in
:mod:`.registry`, which imports none of them: no module that defines actions
imports another back.
"""

from __future__ import annotations

from . import fault_modes, faults, vehicle_actions
from .registry import ACTIONS, ActionSpec, BusView, Problem, action, apply, step_problems

#: The modules whose actions are in :data:`ACTIONS`.
ACTION_MODULES = (vehicle_actions, faults, fault_modes)

__all__ = ["ACTIONS", "ACTION_MODULES", "ActionSpec", "BusView", "Problem", "action", "apply", "step_problems"]
