"""nommu-lab: learn how Linux maps memory on processors without an MMU.

>>> import nommu_lab as nl
>>> k = nl.boards.default()
>>> p = k.spawn("app")
"""

from . import boards, constants
from .kernel import Event, EventKind, Kernel, KernelBug, KernelError, PageState, Process

__all__ = ["Event", "EventKind", "Kernel", "KernelBug", "KernelError", "PageState", "Process",
           "boards", "constants"]
__version__ = "0.1.0"
