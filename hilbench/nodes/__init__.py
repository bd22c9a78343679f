"""Emulated ECUs: plant values -> periodic DBC frames, and the frames addressed to them."""

from .base import EmulatedNode
from .bms import BmsNode
from .obc import ObcNode
from .vcu import VcuNode

__all__ = ["BmsNode", "EmulatedNode", "ObcNode", "VcuNode"]
