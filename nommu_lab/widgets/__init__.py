"""Views of a running kernel model (ipywidgets 8 + bqplot).

Everything here observes a :class:`nommu_lab.Kernel`; nothing here changes
it except by making the same calls a program would (through
:class:`nommu_lab.session.Session`). ``Lab`` composes every view.
"""

from .base import Selection, View
from .controls import Controls, TimeTravel, parse_size
from .deck import DeckPlayer
from .fragmentation import FragmentationView
from .lab import Lab
from .palette import PALETTE, STATE_STYLE, palette_index
from .rammap import RamMap, grid_shape
from .tables import DevicesView, EventLog, LastCall, RegionsView, VmaView

__all__ = ["PALETTE", "STATE_STYLE", "Controls", "DeckPlayer", "DevicesView", "EventLog",
           "FragmentationView", "Lab", "LastCall", "RamMap",
           "RegionsView", "Selection", "TimeTravel", "View", "VmaView", "grid_shape",
           "palette_index", "parse_size"]
