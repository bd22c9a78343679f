"""The only place that imports python-can and cantools.

Open a bus from config, load DBCs (overlaid, leniently for a car's) and the
signal map, encode/decode through them, protect and check counters and
checksums, record every frame, and watch the bus.
"""

from .codec import BenchCodec, MessageCodec
from .dbc import compute_unit_dbc_path, default_dbc_path, default_dbc_paths, load_dbc, load_dbc_lenient
from .description import BusDescription, load_bus_description
from .monitor import BusMonitor
from .open import BusConfig, close_bus, open_bus, open_port
from .port import BusPort
from .recorder import Recorder, count_frames
from .signal_map import SignalMap, default_signal_map_path, load_signal_map

__all__ = [
    "BenchCodec", "BusConfig", "BusDescription", "BusMonitor", "BusPort", "MessageCodec", "Recorder", "SignalMap",
    "compute_unit_dbc_path", "count_frames", "default_dbc_path", "default_dbc_paths", "default_signal_map_path",
    "load_bus_description", "load_dbc", "load_dbc_lenient", "load_signal_map", "close_bus", "open_bus", "open_port",
]
