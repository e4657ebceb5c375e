"""``MmuKernel``: the same machine, with an MMU.

It reuses everything of :class:`nommu_lab.kernel.Kernel` that an MMU does
not change (RAM and its buddy allocator, the VFS and drivers, the trace,
``KernelError``) and replaces what it does change:

* no region tree: ``regions()`` is ``[]`` and ``/proc/maps`` does not exist
  (``proc_maps()`` raises ENOENT: MMU Linux has only ``/proc/PID/maps``);
* ``/proc/meminfo`` has no ``MmapCopy`` line (``meminfo()`` keeps the key at
  0 so one program can read it on both kernels) and gains ``AnonPages`` and
  ``Shmem``;
* ramfs/tmpfs files grow without gathering pages (``simple_setattr``), and
  shrinking one unmaps the cut pages from every process
  (``truncate_pagecache``) instead of refusing with ETXTBSY;
* sysctls are the MMU ones: ``vm.overcommit_memory``, ``vm.overcommit_ratio``,
  ``vm.max_map_count`` (``vm.nr_trim_pages`` exists only without an MMU).

Frames: ``mapcount[pfn]`` counts page-table entries; a frame's reference
count is that plus one while it sits in a page cache. The global zero page
is the last page of the kernel image (it lives in the kernel's ``.bss``).
"""

from __future__ import annotations

import errno as E
from typing import Any, ClassVar

import numpy as np

from ..kernel.abi import INT_MAX, INT_MIN
from ..kernel.constants import S_IFREG, VM_SHARED, VM_WRITE
from ..kernel.errors import KernelError
from ..kernel.kernel import Kernel, MiB, Sysctl, kernel_call
from ..kernel.memory import FREE_STATES, PageState
from ..kernel.region import RegionInfo
from ..kernel.trace import EventKind
from ..kernel.vfs import FMODE_CAN_READ, FMODE_READ, FMODE_WRITE, File, Inode
from .fault import is_memory_fs, refresh_cached_pages, zap_pte_range
from .mm import TASK_SIZE, MmuMm


class MmuKernel(Kernel):
    """A booted MMU Linux machine (``mm/memory.c``, ``mm/mmap.c``) on the same board.

    Invariants (:meth:`check`): every frame is free, reserved, in exactly one
    page cache, or an anonymous frame mapped by at least one page-table
    entry; ``mapcount`` equals the entries that map each frame; a writable
    entry in a private mapping maps a frame nobody else maps; the zero page
    stays zero; free + used + reserved = total.
    """

    mmu = True
    SYSCTLS: ClassVar[dict[str, Sysctl]] = {
        "vm.overcommit_memory": Sysctl("overcommit_memory", 0, 2,
                                       "0 (heuristic), 1 (always) or 2 (strict)"),
        "vm.overcommit_ratio": Sysctl("overcommit_ratio", INT_MIN, INT_MAX,
                                      "a percentage of RAM (a C int)"),
        "vm.max_map_count": Sysctl("max_map_count", 0, INT_MAX, "a whole number from 0 upwards"),
    }
    SYSCTLS_ELSEWHERE: ClassVar[dict[str, str]] = {
        "vm.nr_trim_pages": " (vm.nr_trim_pages exists only without an MMU: nothing is "
                            "allocated at mmap time, so there is no power-of-two excess to trim)",
    }

    def __init__(self, ram_size: int = 8 * MiB, **kwargs: Any) -> None:
        kwargs.pop("mmu", None)
        super().__init__(ram_size, **kwargs)
        self.mapcount = np.zeros(self.mem.nr_pages, dtype=np.int32)
        self.zero_pfn = self.boot_pages["kernel image"] - 1  # empty_zero_page, in .bss
        ps = self.page_size
        self.mem.data[self.zero_pfn * ps:(self.zero_pfn + 1) * ps] = 0
        self.bytes_zeroed = 0
        self.next_anon_vma = 0
        self.overcommit_memory = 0
        self.overcommit_ratio = 50
        self.cache_inodes: dict[int, Inode] = {}
        self.futex_keys: dict[int, tuple[Any, ...]] = {}  # pid of a FUTEX_WAIT sleeper -> its key
        self.shm_sb = self._new_sb("shm", dev=(0, 1), file_ops=self._ramfs_ops)
        proc = self.mounts["/proc"].root
        proc.children.pop("maps", None)  # /proc/maps is a no-MMU file
        meminfo = proc.children.get("meminfo")
        if meminfo is not None:
            meminfo.target = _meminfo_text

    # ------------------------------------------------------------ processes
    def _new_mm(self) -> Any:
        return MmuMm(self.next_id())

    def shmem_zero_setup(self, length: int) -> File:
        """``shmem_zero_setup``: shared anonymous memory is an unlinked shmem file.

        That is why ``/proc/PID/maps`` shows it as ``/dev/zero (deleted)`` and
        why a child made by fork sees the parent's stores: both map the same
        object's pages.
        """
        inode = self._new_inode(self.shm_sb, S_IFREG | 0o600, self._ramfs_ops)
        inode.nlink = 0
        inode.size = length
        inode.opened += 1
        return File(inode, "/dev/zero", FMODE_READ | FMODE_WRITE | FMODE_CAN_READ, 0, refs=0)

    # ------------------------------------------------------------ the OOM killer
    counts_rss = True

    def oom_badness(self, p: Any) -> int:
        """``oom_badness`` with an MMU: the pages ``p``'s page tables map (``get_mm_rss``;
        the model keeps no page-table pages to add, and the zero page and device frames,
        which are special, count for nothing)."""
        return sum(1 for pte in p.mm.pte.values() if not pte.special)

    # ------------------------------------------------------------ page cache
    def pagecache_write(self, inode: Inode, pos: int, data: bytes, path: str = "a file") -> int:
        """ramfs ``write()``: the base model's page-cache write, remembered for :meth:`check`
        once it has taken pages (a refused write leaves the list as it was)."""
        n = super().pagecache_write(inode, pos, data, path)
        if n > 0:
            self.cache_inodes[inode.key] = inode
        return n

    def maybe_evict(self, inode: Inode) -> None:
        """``evict`` for ramfs; for a device-backed file nobody has open any more, its
        clean page cache is reclaimed at once (Linux keeps it until memory is short,
        the model gives it back so memory returns to its boot value)."""
        if not is_memory_fs(self, inode) and inode.opened <= 0 and inode.pages:
            n = len(inode.pages)
            self._free_cache_pages(inode, 0)
            self.trace.emit(EventKind.FREE, "shrink_page_list.reclaim",
                            "nobody has {} open any more: its clean page cache ({:n page}) is "
                            "reclaimed", getattr(inode, "ino", "?"), n)
        super().maybe_evict(inode)

    def ramfs_resize(self, inode: Inode, newsize: int) -> int:
        """``simple_setattr`` on ramfs/tmpfs with an MMU: no page gathering, no ETXTBSY.

        Growing only changes the size (pages come on first touch). Shrinking
        unmaps the cut pages from every process and drops them.
        """
        old = inode.size
        if newsize >= old:
            inode.size = newsize
            return 0
        self.truncate_pagecache(inode, newsize)
        inode.size = newsize
        return 0

    def truncate_pagecache(self, inode: Inode, newsize: int) -> None:
        """``truncate_pagecache``: unmap pages past ``newsize`` everywhere, then drop them.

        Private copies of those pages go too (``unmap_mapping_range`` with
        ``even_cows``): an access there now gets SIGBUS.
        """
        ps = self.page_size
        keep = (newsize + ps - 1) // ps
        unmapped = 0
        for mm in self.all_mms():
            for v in mm.vmas:
                if v.vm_file is None or v.vm_file.inode is not inode or v.pfnmap:
                    continue
                first = v.vm_start + max(0, keep - v.vm_pgoff) * ps
                if first < v.vm_end and v.kind != "anon":
                    unmapped += zap_pte_range(self, mm, first, v.vm_end)[0]
        had = sum(1 for i in inode.pages if i >= keep)
        self._free_cache_pages(inode, keep)
        last = inode.pages.get(keep - 1)
        if newsize % ps and last is not None:
            self.mem.data[last * ps + newsize % ps:(last + 1) * ps] = 0
        if unmapped or had:
            self.trace.emit(EventKind.FREE, "truncate_pagecache",
                            "file cut to {} bytes: {:n mapped page} unmapped from every process, "
                            "{:n page-cache page} dropped; touching them now gives SIGBUS",
                            newsize, unmapped, had)

    def after_write(self, file: File, pos: int, n: int) -> None:
        """Keep cached pages of a device-backed file equal to the file after ``write()``."""
        refresh_cached_pages(self, file, pos, n)

    def after_truncate(self, file: File, newsize: int) -> None:
        """A device-backed file was truncated: drop its cached pages past the end."""
        if not is_memory_fs(self, file.inode):
            self.truncate_pagecache(file.inode, newsize)
            refresh_cached_pages(self, file, max(0, newsize - 1), 1)

    # ------------------------------------------------------------- observers
    def _repr_mappings(self) -> str:
        n = sum(len(mm.vmas) for mm in self.all_mms())
        return f"{n} VMA{'' if n == 1 else 's'} (no regions with an MMU)"

    def regions(self) -> list[RegionInfo]:
        """Always ``[]``: an MMU kernel has no machine-wide regions, only per-process VMAs."""
        return []

    def region_at(self, addr: int) -> None:
        """No regions with an MMU."""
        return None

    @kernel_call
    def proc_maps(self) -> str:
        """``/proc/maps`` is a no-MMU file: ENOENT, as ``cat /proc/maps`` on an MMU kernel."""
        raise KernelError(E.ENOENT, "proc_maps.mmu",
                          "/proc/maps exists only without an MMU (it lists the machine-wide "
                          "regions); with an MMU each process has its own addresses: read "
                          "p.maps() (/proc/PID/maps) instead")

    def meminfo(self) -> dict[str, int]:
        """``/proc/meminfo`` in kB: MemTotal, MemFree, Cached, AnonPages, Shmem, MmapCopy.

        ``MmapCopy`` is always 0: MMU kernels have no such line (nothing is
        ever copied at mmap time); the key stays so one program reads both.
        """
        kb = self.page_size // 1024
        st = self.mem.state
        cache = st == PageState.PAGECACHE
        shmem = 0
        for inode in self.cache_inodes.values():
            if inode.sb.fstype in ("tmpfs", "shm"):
                shmem += len(inode.pages)
        return {
            "MemTotal": (self.mem.nr_pages - self.mem.nr_reserved) * kb,
            "MemFree": self.mem.nr_free * kb,
            "Cached": int(cache.sum()) * kb,
            "AnonPages": int(np.isin(st, (PageState.ANON, PageState.FILE_COPY)).sum()) * kb,
            "Shmem": shmem * kb,
            "MmapCopy": 0,
        }

    def page_count(self, pfn: int) -> int:
        """``page_count``: page-table entries mapping the frame, plus the page cache's reference."""
        return int(self.mapcount[pfn]) + (1 if self.mem.state[pfn] == PageState.PAGECACHE else 0)

    def committed_pages(self) -> int:
        """``Committed_AS`` in pages: private writable memory promised to processes."""
        total = 0
        for mm in self.all_mms():
            for v in mm.vmas:
                if (v.vm_flags & (VM_SHARED | VM_WRITE)) == VM_WRITE:
                    total += (v.vm_end - v.vm_start) // self.page_size
        return total

    # ------------------------------------------------------------ invariants
    def check(self) -> None:
        """Assert the MMU invariants (tests call this after every step)."""
        mem = self.mem
        mem.check()
        self.check_disk_blocks()
        ps = self.page_size
        shift = mem.page_shift
        st = mem.state
        expect = np.zeros(mem.nr_pages, dtype=np.int64)
        private_writable: list[int] = []
        for mm in self.all_mms():
            end = 0
            for v in mm.vmas:
                assert v.vm_start % ps == 0 and v.vm_end % ps == 0, v
                assert end <= v.vm_start < v.vm_end <= TASK_SIZE, f"VMAs overlap or out of range: {v}"
                end = v.vm_end
                if v.vm_file is not None:
                    assert v.vm_file.refs > 0, f"{v} holds a closed file"
            for vpn, pte in mm.pte.items():
                v = mm.vma_lookup(vpn << shift)
                assert v is not None, f"mm {mm.id}: entry for {vpn << shift:#x} outside every VMA"
                if pte.write:
                    assert v.vm_flags & VM_WRITE, f"writable entry at {vpn << shift:#x} in {v}"
                if pte.special:
                    assert pte.pfn == self.zero_pfn or v.pfnmap, f"special entry {pte} in {v}"
                    assert not (pte.pfn == self.zero_pfn and pte.write), "zero page mapped writable"
                    continue
                expect[pte.pfn] += 1
                s = int(st[pte.pfn])
                if v.shared:
                    assert s == PageState.PAGECACHE, f"shared mapping {v} maps a non-cache frame"
                    idx = v.file_index(vpn << shift, shift)
                    assert v.vm_file is not None and v.vm_file.inode.pages[idx] == pte.pfn, (
                        f"{v}: page {idx} is not the file's cached page")
                else:
                    assert s in (PageState.ANON, PageState.FILE_COPY, PageState.PAGECACHE), (v, s)
                    if pte.write:
                        private_writable.append(pte.pfn)
        assert (expect == self.mapcount).all(), (
            f"mapcount disagrees with the page tables at frames "
            f"{np.nonzero(expect != self.mapcount)[0][:8].tolist()}")
        for pfn in private_writable:
            assert self.mapcount[pfn] == 1, f"frame {pfn} is writable but shared: copy-on-write broken"
            assert st[pfn] != PageState.PAGECACHE, f"page-cache frame {pfn} writable in a private map"
        owned = np.zeros(mem.nr_pages, dtype=np.int32)
        for inode in self.cache_inodes.values():
            for pfn in inode.pages.values():
                owned[pfn] += 1
                assert mem.owner[pfn] == inode.key, f"frame {pfn} owner is not its inode"
        assert owned.max(initial=0) <= 1, "a frame sits in two page caches"
        cache = st == PageState.PAGECACHE
        assert (owned[cache] == 1).all(), "a page-cache frame belongs to no file (leaked)"
        assert (owned[~cache] == 0).all(), "a file's cached page is not marked as page cache"
        anon = np.isin(st, (PageState.ANON, PageState.FILE_COPY))
        assert (self.mapcount[anon] >= 1).all(), (
            f"anonymous frames mapped nowhere (leaked): "
            f"{np.nonzero(anon & (self.mapcount < 1))[0][:8].tolist()}")
        free = np.isin(st, FREE_STATES)
        assert (self.mapcount[free] == 0).all(), "a free frame is still mapped"
        z = self.zero_pfn
        assert not mem.data[z * ps:(z + 1) * ps].any(), "somebody wrote into the zero page"
        used = int(anon.sum()) + int(cache.sum())
        reserved = int(np.isin(st, (PageState.KERNEL, PageState.DEVICE)).sum())
        assert reserved >= mem.nr_reserved, f"{reserved} reserved frames, expected {mem.nr_reserved}+"
        assert mem.nr_free + used + reserved == mem.nr_pages, "free + used + reserved != total"
        assert self.mmap_pages_allocated == 0 and len(self.region_tree) == 0

    # state_digest(): the base class's, with page tables and reference counts
    def _digest_memory(self, h: Any) -> None:
        super()._digest_memory(h)
        h.update(self.mapcount.tobytes())
        h.update(repr((self.overcommit_memory, self.overcommit_ratio)).encode())

    def _digest_tasks(self, h: Any, file_ids: dict[int, int]) -> None:
        for _pid, p in sorted(self.processes.items()):
            self._digest_task(h, p, file_ids)
            mm = p.mm
            h.update(repr(self.futex_keys.get(p.pid)).encode())
            for v in mm.vmas:
                h.update(repr((v.id, v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.kind,
                               v.anon_vma, v.pfn_base,
                               file_ids.setdefault(id(v.vm_file), len(file_ids))
                               if v.vm_file else None)).encode())
            h.update(repr(sorted((vpn, e.pfn, e.write, e.special)
                                 for vpn, e in mm.pte.items())).encode())

    def _digest_files(self, h: Any) -> None:
        super()._digest_files(h)
        for key, inode in sorted(self.cache_inodes.items()):
            h.update(repr((key, inode.size, inode.opened, sorted(inode.pages.items()))).encode())


def _meminfo_text(k: Kernel) -> str:
    """``/proc/meminfo`` on the MMU kernel: no ``MmapCopy`` line."""
    return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in k.meminfo().items()
                   if name != "MmapCopy")
