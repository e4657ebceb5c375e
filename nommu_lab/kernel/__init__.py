"""The no-MMU kernel model: plain Python and numpy, no Jupyter imports."""

from .errors import KernelBug, KernelError
from .kernel import Kernel, Stat
from .memory import PageState
from .process import Process
from .trace import Event, EventKind, Trace

__all__ = ["Event", "EventKind", "Kernel", "KernelBug", "KernelError", "PageState", "Process",
           "Stat", "Trace"]
