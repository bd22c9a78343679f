"""Emulated CAN peers, so the real-adapter paths run with no hardware and no SocketCAN.

- :class:`SlcanAdapter`: an SLCAN (Lawicel) USB-CAN adapter on a pseudo-terminal;
  python-can's ``slcan`` client opens its ``slave_path`` as a serial port.
- :class:`SocketcandServer`: a socketcand daemon on loopback TCP for python-can's
  ``socketcand`` client.

Both bridge to a python-can bus (a ``virtual`` channel by default), where the
bench's other participants, or a second bench playing the real ECU, listen.
Both run in wall time in a background thread and release everything on exit.
"""

from .slcan_adapter import SlcanAdapter
from .socketcand_server import SocketcandServer

__all__ = ["SlcanAdapter", "SocketcandServer"]
