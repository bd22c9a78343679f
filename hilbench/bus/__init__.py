"""The only place that imports python-can and cantools.

Open a bus from config, encode/decode through the DBC and signal map, protect
and check E2E, record every frame, and watch the bus.
"""

from .codec import BenchCodec, MessageCodec
from .dbc import default_dbc_path, load_dbc
from .monitor import BusMonitor
from .open import BusConfig, open_bus
from .port import BusPort
from .recorder import Recorder, count_frames
from .signal_map import SignalMap, default_signal_map_path, load_signal_map

__all__ = [
    "BenchCodec", "BusConfig", "BusMonitor", "BusPort", "MessageCodec", "Recorder", "SignalMap",
    "count_frames", "default_dbc_path", "default_signal_map_path", "load_dbc", "load_signal_map",
    "open_bus",
]
