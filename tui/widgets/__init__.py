"""The TUI's widgets: each shows bench snapshots it is given, and computes no physics."""

from .bus import BusPanel
from .compute import ComputePanel
from .pack import PackPanel
from .problems import ProblemsPanel
from .readout import ReadoutPanel
from .status import StatusBar
from .transitions import TransitionLog
from .trend import TrendPanel
from .vehicle import VehiclePanel

__all__ = ["BusPanel", "ComputePanel", "PackPanel", "ProblemsPanel", "ReadoutPanel", "StatusBar", "TransitionLog",
           "TrendPanel", "VehiclePanel"]
