"""nommu-lab: learn how Linux maps memory on processors without an MMU.

>>> import nommu_lab as nl
>>> k = nl.boards.default()
>>> p = k.spawn("app")
"""

from . import boards, cases, constants
from .kernel import Event, EventKind, Kernel, KernelBug, KernelError, PageState, Process
from .kernel.devices import ContiguousRamdiskOps, SimpleDriver
from .kernel.vfs import FileOperations
from .mmu import MmuKernel  # registers itself as Kernel(..., mmu=True); no Jupyter import

__all__ = ["ContiguousRamdiskOps", "Event", "EventKind", "FileOperations", "Kernel", "KernelBug",
           "KernelError", "MmuKernel", "PageState", "Process", "SimpleDriver", "boards", "cases",
           "constants"]
__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: importing nommu_lab must not import ipywidgets
    if name == "Lab":
        from .widgets import Lab

        return Lab
    if name == "compare":
        from .compare import compare

        return compare
    if name == "exercises":
        import importlib

        return importlib.import_module(".exercises", __name__)
    raise AttributeError(f"module 'nommu_lab' has no attribute {name!r}")
