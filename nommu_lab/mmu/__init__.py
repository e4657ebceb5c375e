"""The MMU kernel: the same board and calls, answered the way MMU Linux answers.

``nl.Kernel(ram_size, mmu=True)`` and ``nl.boards.default(mmu=True)`` build an
:class:`MmuKernel`. It exists so a notebook can run one program on both
kernels (``nl.compare``) and show where ``mm/nommu.c`` differs from
``mm/memory.c`` and ``mm/mmap.c``: demand paging and the zero page,
copy-on-write across fork, shared file mappings that write back, MAP_FIXED,
mremap that moves, and mprotect that is enforced.
"""

from __future__ import annotations

from .kernel import MmuKernel
from .mm import ELF_ET_DYN_BASE, MMAP_BASE, STACK_TOP, TASK_SIZE, MmuMm, MmuVma, Pte
from .process import MmuProcess

__all__ = ["ELF_ET_DYN_BASE", "MMAP_BASE", "STACK_TOP", "TASK_SIZE", "MmuKernel", "MmuMm",
           "MmuProcess", "MmuVma", "Pte"]
