"""The TUI's widgets: each shows what it is given (snapshots, trends, bus messages), and computes no physics."""

from .bus import BusPanel
from .bus_monitor import BusMonitorView
from .compute import ComputePanel
from .essentials import EssentialsPanel
from .fault_panel import FaultPanel
from .help import HelpScreen, key_rows
from .pack import PackPanel
from .problems import ProblemsPanel
from .readout import ReadoutPanel
from .scenario_runner import ScenarioRunnerView
from .status import StatusBar
from .transitions import TransitionLog
from .trend import TrendPanel
from .vehicle import VehiclePanel

__all__ = ["BusMonitorView", "BusPanel", "ComputePanel", "EssentialsPanel", "FaultPanel", "HelpScreen", "PackPanel",
           "ProblemsPanel", "ReadoutPanel", "ScenarioRunnerView", "StatusBar", "TransitionLog", "TrendPanel",
           "VehiclePanel", "key_rows"]
