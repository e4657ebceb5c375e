"""The MMU kernel: the same board and calls, answered the way MMU Linux answers.

``nl.Kernel(ram_size, mmu=True)`` and ``nl.boards.default(mmu=True)`` build an
:class:`MmuKernel`. It exists so a notebook can run one program on both
kernels (``nl.compare``) and show where ``mm/nommu.c`` differs from
``mm/memory.c`` and ``mm/mmap.c``: demand paging and the zero page,
copy-on-write across fork, shared file mappings that write back, MAP_FIXED,
mremap that moves, and mprotect that is enforced.

What the model decides, and why:

* Layout: RISC-V Sv39 without randomisation (``setarch -R``): mappings go
  top-down from ``MMAP_BASE`` = 0x3ff8000000, PIE programs load at
  0x2aaaaaa000, the stack VMA ends at ``STACK_TOP`` = 0x4000000000. Same
  calls, same addresses, every run.
* No ``/proc/maps`` (``proc_maps()`` raises ENOENT with a sentence, and the
  file is absent from ``/proc``); ``regions()`` is ``[]``; ``p.vmas()[i].region``
  is None. An MMU kernel has no machine-wide regions.
* ``meminfo()`` has ``MemTotal``, ``MemFree``, ``Cached``, ``AnonPages``,
  ``Shmem`` and ``MmapCopy`` (always 0: MMU kernels print no such line, and
  the ``/proc/meminfo`` text leaves it out).
* A store the MMU refuses (read-only page, no mapping) raises ``EFAULT``
  standing for SIGSEGV (rule ``do_page_fault.*``); beyond the end of a
  mapped file it stands for SIGBUS (``filemap_fault.sigbus``); running out
  of frames on a fault is ``ENOMEM`` (``handle_mm_fault.oom``) where Linux
  would call the OOM killer.
* ``peek`` is a load by the process: it faults pages in (zero page,
  page cache) as a real load does; ``translate``/``frames`` read the page
  table without touching it.
* Shared stores to files on a device (disk, block devices) are written back
  at once; a device file's clean page cache is dropped when nobody has it
  open any more, so memory returns to its boot value.
* Not modelled: swap, page-table pages (not charged to RAM), THP, stack
  growth below the stack VMA, KSM, NUMA, ``mremap`` with ``old_len`` 0.
"""

from __future__ import annotations

from ..kernel import Kernel
from .kernel import MmuKernel
from .mm import ELF_ET_DYN_BASE, MMAP_BASE, STACK_TOP, TASK_SIZE, MmuMm, MmuVma, Pte
from .process import MmuProcess

MmuKernel.process_class = MmuProcess  # spawn() makes MMU processes
Kernel.mmu_class = MmuKernel  # Kernel(..., mmu=True) builds one; kernel/ never imports mmu/

__all__ = ["ELF_ET_DYN_BASE", "MMAP_BASE", "STACK_TOP", "TASK_SIZE", "MmuKernel", "MmuMm",
           "MmuProcess", "MmuVma", "Pte"]
