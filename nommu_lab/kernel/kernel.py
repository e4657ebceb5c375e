"""The no-MMU kernel model: boot, memory, files, processes and the syscall surface.

``Kernel`` owns the machine's state: physical RAM, the region tree, the VFS,
the devices, the processes and the trace. Processes (:mod:`.process`) make
syscalls; each syscall runs the kernel's own decision procedure
(:mod:`.mmap`) against this state.
"""

from __future__ import annotations

import errno as E
import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .abi import INT_MAX, as_bytes, as_int, as_name, ulong
from .constants import S_IFBLK, S_IFCHR, S_IFDIR, S_IFREG, VM_SHARED
from .errors import KernelError
from .memory import DEFAULT_MAX_ORDER, PageState, PhysicalMemory, get_order
from .region import RegionInfo, RegionTree, VmRegion
from .trace import EventKind, Trace, plural
from .vfs import (
    FMODE_WRITE,
    DirOps,
    File,
    FileOperations,
    Inode,
    ProcFileOps,
    RamfsFileOps,
    SuperBlock,
)

if TYPE_CHECKING:
    from .devices import NorFlash
    from .mm import MmStruct
    from .process import Process

MiB = 1 << 20
RAM_BASE = 0x8000_0000
DEFAULT_MAX_MAP_COUNT = 65530


def _size(n: int) -> str:
    """Bytes as a learner says them: 8 MiB, 512 KiB, 100 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")


def kernel_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A call made on the kernel itself (sysctl, the flash driver, drivers).

    Like a syscall, a refusal is recorded in the trace (so the event log can
    show it) and the views are told.
    """

    @functools.wraps(fn)
    def wrapper(self: Kernel, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except KernelError as e:
            if self.exam:
                e.hide_advice()
            self.trace.pid = None
            self.trace.emit(EventKind.REFUSED, e.rule, "{} -> {}", fn.__name__, e)
            self.notify()
            if self.exam:  # the traceback would show the advice in the raising line
                raise e.with_traceback(None) from None
            raise

    return wrapper


@dataclass(frozen=True, slots=True)
class Stat:
    """What ``fstat`` returns."""

    st_mode: int
    st_ino: int
    st_dev: tuple[int, int]
    st_size: int
    st_nlink: int


@dataclass(frozen=True, slots=True)
class Sysctl:
    """One ``/proc/sys`` integer: the attribute it sets and its allowed range."""

    attr: str  # the Kernel attribute holding the value
    lo: int  # proc_dointvec_minmax's extra1 (INT_MIN: no minimum)
    hi: int  # extra2
    takes: str  # what a learner may write, for the refusal
    explain: Callable[[int], str] | None = None  # what a new value means, for the trace


@dataclass(frozen=True, slots=True)
class Mount:
    """One entry of the mount table."""

    path: str
    sb: SuperBlock
    root: Inode


class Kernel:
    """A booted no-MMU Linux machine (``mm/nommu.c`` and friends).

    Keywords: ``ram_size`` (bytes), ``page_size`` (4096), ``nr_trim_pages``
    (initial ``vm.nr_trim_pages``, the ``CONFIG_NOMMU_INITIAL_TRIM_EXCESS``
    default 1), ``allow_uninitialized`` (``CONFIG_MMAP_ALLOW_UNINITIALIZED``),
    ``max_order`` (largest buddy block), ``kernel_size`` (bytes reserved for
    the kernel image at the bottom of RAM), ``arch`` ("riscv": no fork
    syscall). ``mmu=True`` builds the MMU kernel registered in :attr:`mmu_class`
    (:mod:`nommu_lab.mmu` registers itself when ``nommu_lab`` is imported).
    """

    mmu = False
    process_class: Any = None  # the Process subclass spawn() makes (None: Process)
    #: The kernel class ``Kernel(..., mmu=True)`` builds. The layer above
    #: (``nommu_lab.mmu``) registers itself here, so this package never imports it.
    mmu_class: type[Kernel] | None = None

    def __new__(cls, *args: Any, mmu: bool = False, **kwargs: Any) -> Kernel:
        if mmu and cls is Kernel:
            if Kernel.mmu_class is None:
                raise RuntimeError("no MMU kernel is registered: import nommu_lab (or "
                                   "nommu_lab.mmu) before asking for Kernel(mmu=True)")
            return super().__new__(Kernel.mmu_class)
        return super().__new__(cls)

    def __init__(
        self,
        ram_size: int = 8 * MiB,
        *,
        page_size: int = 4096,
        nr_trim_pages: int = 1,
        allow_uninitialized: bool = False,
        max_order: int = DEFAULT_MAX_ORDER,
        kernel_size: int | None = None,
        ram_base: int = RAM_BASE,
        arch: str = "riscv",
        word_size: int = 64,
        trace_capacity: int = 20_000,
        mmu: bool = False,
    ) -> None:
        for name, v in (("ram_size", ram_size), ("page_size", page_size),
                        ("nr_trim_pages", nr_trim_pages), ("max_order", max_order)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int")
        if nr_trim_pages < 0:
            raise ValueError("nr_trim_pages must be >= 0")
        self.page_size = page_size
        #: exam mode: refusals keep errno and rule but not the advice (KernelError.hide_advice)
        self.exam = False
        self.trace = Trace(trace_capacity)
        self.mem = PhysicalMemory(ram_base, ram_size, page_size, max_order)
        self.region_tree = RegionTree()
        self.nr_trim_pages = nr_trim_pages
        self.allow_uninitialized = allow_uninitialized
        self.max_map_count = DEFAULT_MAX_MAP_COUNT
        self.mmap_pages_allocated = 0
        self.arch = arch
        self.word_size = word_size
        self.board_name = "bare"  # a board factory names the machine it built
        self.maps_width = 25 + (word_size // 8) * 6 - 1
        self._next_id = 0
        self._next_pid = 1
        self._next_dev_minor = 1
        self.processes: dict[int, Process] = {}
        self.mounts: dict[str, Mount] = {}
        self.devices: dict[str, FileOperations] = {}
        self.bus: list[NorFlash] = []
        self.shm_segments: dict[int, Any] = {}
        self.futex_waiters: dict[int, list[Process]] = {}
        self._listeners: list[Callable[[Kernel], None]] = []
        self.syscalls = 0
        self.boot_pages: dict[str, int] = {}

        if kernel_size is None:
            kernel_size = min(1 * MiB, ram_size // 4)
        kpages = -(-kernel_size // page_size)
        self.mem.reserve(0, kpages, PageState.KERNEL)
        self.boot_pages["kernel image"] = kpages

        self._ramfs_ops = self.register_ops(RamfsFileOps())
        self._dir_ops = self.register_ops(DirOps())
        self._proc_ops = self.register_ops(ProcFileOps())
        root_sb = self._new_sb("rootfs", file_ops=self._ramfs_ops)
        self.root = self._new_inode(root_sb, S_IFDIR | 0o755, self._dir_ops)
        self.mounts["/"] = Mount("/", root_sb, self.root)
        for d in ("/bin", "/dev", "/proc", "/tmp", "/mnt", "/etc"):
            self.mkdir(d)
        self.mount_ramfs("/dev", "devtmpfs")
        self.mkdir("/dev/shm")
        self.mount_ramfs("/dev/shm", "tmpfs")
        self.mount_ramfs("/tmp", "tmpfs")
        self._mount_proc()
        from .devices import NullOps, ZeroOps

        self.mknod("/dev/null", S_IFCHR, (1, 3), NullOps())
        self.mknod("/dev/zero", S_IFCHR, (1, 5), ZeroOps())
        self.console = "/dev/null"
        self.flash: Any = None  # the board's NOR chip, MTD and frame buffer, if any
        self.mtd: Any = None
        self.fb: Any = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.board_name!r} board, "
                f"{'MMU' if self.mmu else 'no MMU'}, {self.arch}{self.word_size}: "
                f"{_size(self.mem.ram_size)} RAM at {self.mem.ram_base:#x}, "
                f"{self.meminfo()['MemFree']} kB free, {_count(len(self.processes), 'process')}, "
                f"{self._repr_mappings()}>")

    def _repr_mappings(self) -> str:
        return _count(len(self.region_tree), "region")

    # ------------------------------------------------------------------ ids
    def next_id(self) -> int:
        """A machine-wide serial number for regions, VMAs, inodes and mms."""
        self._next_id += 1
        return self._next_id

    # -------------------------------------------------------------- listeners
    def subscribe(self, fn: Callable[[Kernel], None]) -> None:
        """Call ``fn(kernel)`` after every syscall (views redraw from it)."""
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[Kernel], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def notify(self) -> None:
        """Tell every view that the state may have changed."""
        for fn in list(self._listeners):
            fn(self)

    # ------------------------------------------------------------------ VFS
    def register_ops(self, ops: FileOperations) -> Any:
        """Give a driver or filesystem its kernel (hooks reach memory and the trace)."""
        ops.kernel = self
        return ops

    def _new_sb(self, fstype: str, dev: tuple[int, int] | None = None, **kw: Any) -> SuperBlock:
        if dev is None:
            dev = (0, self._next_dev_minor)
            self._next_dev_minor += 1
        return SuperBlock(fstype, dev, **kw)

    def _new_inode(self, sb: SuperBlock, mode: int, ops: FileOperations, ino: int | None = None) -> Inode:
        return Inode(sb.new_ino() if ino is None else ino, mode, sb, ops, key=self.next_id())

    def _split(self, path: str) -> tuple[str, str]:
        path = posixpath.normpath(path)
        return posixpath.dirname(path), posixpath.basename(path)

    def lookup(self, path: str) -> Inode | None:
        """Walk a path from the root, crossing mount points; None if absent."""
        node = self._mount_root(self.root)
        for part in posixpath.normpath(path).split("/"):
            if part in ("", "."):
                continue
            if not node.is_dir:
                return None
            child = node.children.get(part)
            if child is None:
                return None
            node = self._mount_root(child)
        return node

    def _mount_root(self, inode: Inode) -> Inode:
        m = inode.mounted
        return m.root if m is not None else inode

    def mount_of(self, path: str) -> Mount:
        """The mount a path lies on (longest matching mount point)."""
        path = posixpath.normpath(path)
        best = self.mounts["/"]
        for mp, m in self.mounts.items():
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best.path):
                best = m
        return best

    def mkdir(self, path: str) -> Inode:
        """Make a directory (boot-time helper)."""
        parent_path, name = self._split(path)
        parent = self.lookup(parent_path)
        assert parent is not None and parent.is_dir, parent_path
        if name in parent.children:
            return self._mount_root(parent.children[name])
        if parent.sb.s_blocksize:  # a directory on a disk filesystem takes a block
            parent.sb.free_blocks -= 1
        node = self._new_inode(parent.sb, S_IFDIR | 0o755, self._dir_ops)
        parent.children[name] = node
        return node

    def mount(self, path: str, sb: SuperBlock, root: Inode) -> Mount:
        """Mount a filesystem on an existing directory."""
        mp = self.lookup(path)
        assert mp is not None and mp.is_dir, path
        under = self._raw_lookup(path)
        m = Mount(posixpath.normpath(path), sb, root)
        self.mounts[m.path] = m
        under.mounted = m
        return m

    def _raw_lookup(self, path: str) -> Inode:
        """The directory inode itself, not what is mounted over it."""
        parent_path, name = self._split(path)
        if not name:
            return self.root
        parent = self.lookup(parent_path)
        assert parent is not None
        return parent.children[name]

    def mount_ramfs(self, path: str, fstype: str = "ramfs", noexec: bool = False) -> Mount:
        """Mount a fresh ramfs (no-MMU "tmpfs" is ramfs too)."""
        sb = self._new_sb(fstype, noexec=noexec, file_ops=self._ramfs_ops)
        root = self._new_inode(sb, S_IFDIR | 0o1777, self._dir_ops)
        return self.mount(path, sb, root)

    def _mount_proc(self) -> None:
        from .procfs import buddyinfo_text, meminfo_text, proc_maps

        sb = self._new_sb("proc", readonly=True)
        root = self._new_inode(sb, S_IFDIR | 0o555, self._dir_ops)
        self.mount("/proc", sb, root)
        for name, fn in (("maps", proc_maps), ("meminfo", meminfo_text),
                         ("buddyinfo", buddyinfo_text)):
            node = self._new_inode(sb, S_IFREG | 0o444, self._proc_ops)
            node.target = fn
            root.children[name] = node

    def create_file(self, path: str, data: bytes = b"", ops: FileOperations | None = None,
                    mode: int = 0o644) -> Inode:
        """Create a regular file on the filesystem ``path`` lies on."""
        parent_path, name = self._split(path)
        parent = self.lookup(parent_path)
        assert parent is not None and parent.is_dir, parent_path
        fops = ops or parent.sb.file_ops or self._ramfs_ops
        node = self._new_inode(parent.sb, S_IFREG | mode, fops)
        parent.children[name] = node
        if data:
            if fops is self._ramfs_ops:
                self.pagecache_write(node, 0, data)
            else:
                n = fops.write(File(node, path, FMODE_WRITE, 0), data, 0)
                assert n == len(data), f"{path}: only {n} of {len(data)} bytes fit"
        return node

    def mknod(self, path: str, kind: int, rdev: tuple[int, int], ops: FileOperations) -> Inode:
        """Create a device node whose file operations are the driver's."""
        assert kind in (S_IFCHR, S_IFBLK)
        parent_path, name = self._split(path)
        parent = self.lookup(parent_path)
        assert parent is not None
        self.register_ops(ops)
        node = self._new_inode(parent.sb, kind | 0o660, ops)
        node.rdev = rdev
        parent.children[name] = node
        self.devices[posixpath.normpath(path)] = ops
        return node

    def unlink_inode(self, parent: Inode, name: str) -> None:
        """Remove a name; the inode goes when nothing holds it open or mapped."""
        node = parent.children.pop(name)
        node.nlink -= 1
        self.maybe_evict(node)

    # ----------------------------------------------------------- open files
    def fget(self, file: File) -> None:
        """Take one more reference on an open file (an fd, a VMA or a region)."""
        file.refs += 1

    def fput(self, file: File) -> None:
        """Drop a reference; the last one closes the file."""
        file.refs -= 1
        if file.refs == 0:
            file.inode.opened -= 1
            self.maybe_evict(file.inode)

    def maybe_evict(self, inode: Inode) -> None:
        """``evict``: an unlinked, unused ramfs file gives its pages back."""
        if inode.nlink > 0 or inode.opened > 0:
            return
        self._free_cache_pages(inode, 0)
        inode.fops.evict_inode(inode)
        inode.size = 0

    # ----------------------------------------------------------- page cache
    def pagecache_read(self, inode: Inode, pos: int, n: int) -> bytes:
        """Read ramfs file data out of its page-cache frames (holes read as 0)."""
        ps = self.page_size
        n = max(0, min(n, inode.size - pos))
        out = bytearray(n)
        done = 0
        while done < n:
            idx, off = divmod(pos + done, ps)
            chunk = min(ps - off, n - done)
            pfn = inode.pages.get(idx)
            if pfn is not None:
                a = (pfn * ps) + off
                out[done:done + chunk] = self.mem.data[a:a + chunk].data
            done += chunk
        return bytes(out)

    def pagecache_write(self, inode: Inode, pos: int, data: bytes, path: str = "a file") -> int:
        """``generic_perform_write`` into ramfs page cache, one page at a time.

        ``simple_write_begin`` takes each missing page as the copy reaches it;
        the model takes them from the top of free memory (see
        :meth:`PhysicalMemory.alloc_page_high`), so they are not consecutive.
        Pages are kept by index, so a write far into a file takes only the
        pages it touches. Such an order-0 allocation never fails: when RAM has
        no page left the OOM killer frees some (:func:`~.oom.out_of_memory`)
        and the copy goes on. If the writer itself is chosen, the copy stops
        before the next page and the bytes copied so far are returned (a
        short write, 0 if none: Linux's -EINTR goes to a process about to die).
        """
        from .oom import out_of_memory

        if not data:
            return 0
        ps = self.page_size
        pages = inode.pages
        mem = self.mem
        writer = self.current
        taken: list[int] = []
        done = 0
        while done < len(data):
            idx, off = divmod(pos + done, ps)
            pfn = pages.get(idx)
            if pfn is None:
                while mem.nr_free == 0 and not (writer is not None and writer.fatal_signal):
                    self._note_page_cache(taken)
                    assert writer is not None, "a kernel-internal write ran RAM out"
                    out_of_memory(self, writer, f"writing {path} needs a page-cache page "
                                  f"(page {idx} of the file)")
                if writer is not None and writer.fatal_signal:
                    break  # generic_perform_write: fatal_signal_pending
                pfn = mem.alloc_page_high()
                assert pfn is not None
                mem.data[pfn * ps:(pfn + 1) * ps] = 0
                mem.mark(pfn, 1, PageState.PAGECACHE, inode.key)
                pages[idx] = pfn
                taken.append(pfn)
            chunk = min(ps - off, len(data) - done)
            a = pfn * ps + off
            mem.data[a:a + chunk] = memoryview(data)[done:done + chunk]
            done += chunk
        self._note_page_cache(taken)
        if done:
            inode.size = max(inode.size, pos + done)  # simple_write_end, page by page
        return done

    def _note_page_cache(self, taken: list[int]) -> None:
        """One trace event for the page-cache pages a write took so far (then forgets them)."""
        if taken:
            self.trace.emit(EventKind.ALLOC, "simple_write_begin.page_cache",
                            "{} page-cache page{} taken one at a time for the write",
                            len(taken), "" if len(taken) == 1 else "s", pfns=tuple(taken))
            taken.clear()

    @property
    def current(self) -> Process | None:
        """The process whose call is running (the one the trace is recording for)."""
        return self.processes.get(self.trace.pid) if self.trace.pid is not None else None

    #: whether ``oom_badness`` has resident pages to count (an MMU kernel's rss)
    counts_rss = False

    def oom_badness(self, p: Process) -> int:
        """``oom_badness``: 0 for every process without an MMU, whose rss is never counted."""
        return 0

    def _free_cache_pages(self, inode: Inode, from_page: int) -> None:
        freed = []
        for i in sorted(i for i in inode.pages if i >= from_page):
            pfn = inode.pages.pop(i)
            self.mem.free_range(pfn, 1)
            freed.append(pfn)
        if freed:
            self.trace.emit(EventKind.FREE, "truncate_inode_pages",
                            "{:n page-cache page} freed", len(freed), pfns=tuple(freed))
            for r in self.region_tree:
                if (not r.is_copy and r.vm_file is not None and r.vm_file.inode is inode
                        and not r.vm_flags & VM_SHARED):
                    self.trace.emit(EventKind.HAZARD, "ramfs.truncate_under_direct_private",
                                    "pages were freed under a direct read-only private mapping "
                                    "at {:#x}: it now shows whatever the next user writes there",
                                    r.vm_start, region=r.id)

    def ramfs_resize(self, inode: Inode, newsize: int) -> int:
        """``ramfs_nommu_resize``: expand-from-zero gathers contiguous pages."""
        old = inode.size
        ps = self.page_size
        if newsize == old:
            return 0
        if old == 0:
            return self._ramfs_expand_for_mapping(inode, newsize)
        if newsize < old:
            low, high = newsize // ps, (old + ps - 1) // ps
            for vma in self.vmas_of_inode(inode):
                vlo = vma.vm_pgoff
                vhi = vlo + (vma.vm_end - vma.vm_start + ps - 1) // ps - 1
                if vma.vm_flags & VM_SHARED and vlo <= high and low <= vhi:
                    return -E.ETXTBSY
            for vma in self.vmas_of_inode(inode):
                if vma.vm_flags & VM_SHARED:
                    r = vma.vm_region
                    r_top = r.vm_pgoff * ps + (r.vm_top - r.vm_start)
                    if r_top <= newsize:
                        continue
                    if r.is_copy:
                        # Linux cuts copy regions too and so leaks their tail pages; the
                        # model keeps the copy whole (it is not page cache) and says so
                        self.trace.emit(EventKind.HAZARD, "kernel_bug.8.shrink_cuts_copy",
                                        "a MAP_SHARED mapping uses a private copy of this file at "
                                        "{:#x}; Linux would cut that copy region to the new size "
                                        "and leak its tail pages, the model leaves it whole",
                                        r.vm_start, region=r.id)
                        continue
                    r.vm_top -= r_top - newsize
                    r.vm_end = min(r.vm_end, r.vm_top)
            keep = (newsize + ps - 1) // ps
            self._free_cache_pages(inode, keep)
            last = inode.pages.get(keep - 1)
            if newsize % ps and last is not None:
                a = last * ps
                self.mem.data[a + newsize % ps:a + ps] = 0
        inode.size = newsize
        return 0

    def ramfs_expand_check(self, newsize: int) -> int:
        """The checks of ``ramfs_nommu_resize`` from size 0 and of
        ``ramfs_nommu_expand_for_mapping``, before anything changes: 0 or ``-errno``."""
        if newsize >> 32:
            return -E.EFBIG
        order = get_order((newsize + self.page_size - 1) // self.page_size)
        if order > self.mem.max_order:
            return -E.EFBIG
        if not self.mem.can_alloc(order):
            from .oom import note_linux_would_oom

            note_linux_would_oom(self, order, "ramfs_nommu_expand_for_mapping.linux_would_oom")
            self.trace.emit(EventKind.HAZARD, "ramfs_nommu_expand_for_mapping.enomem_size_kept",
                            "no contiguous block of {:n page}: ENOMEM (Linux sets the new size "
                            "before allocating and leaves it set; the model changes nothing)",
                            1 << order)
            return -E.ENOMEM
        return 0

    def _ramfs_expand_for_mapping(self, inode: Inode, newsize: int) -> int:
        """``ramfs_nommu_expand_for_mapping``: one block, split, excess freed, zeroed."""
        ps = self.page_size
        err = self.ramfs_expand_check(newsize)
        if err:
            return err
        npages = (newsize + ps - 1) // ps
        order = get_order(npages)
        pfn = self.mem.alloc(order)
        assert pfn is not None
        self.mem._free_run(pfn + npages, (1 << order) - npages)
        if (1 << order) > npages:
            self.mem.mark(pfn + npages, (1 << order) - npages, PageState.TRIMMED)
        self.mem.data[pfn * ps:(pfn + npages) * ps] = 0
        self.mem.mark(pfn, npages, PageState.PAGECACHE, inode.key)
        inode.pages = {i: pfn + i for i in range(npages)}
        inode.size = newsize
        self.trace.emit(EventKind.ALLOC, "ramfs_nommu_expand_for_mapping",
                        "truncate from size 0: {:n contiguous page} at {:#x} gathered for "
                        "shared mapping (order-{} block, {} excess freed)", npages,
                        self.mem.pfn_to_addr(pfn), order, (1 << order) - npages,
                        frames=(pfn, npages))
        return 0

    def vmas_of_inode(self, inode: Inode) -> list[Any]:
        """Every VMA in any process that maps this inode (``i_mmap``)."""
        out = []
        for mm in self.all_mms():
            out.extend(v for v in mm.vmas if v.vm_file is not None and v.vm_file.inode is inode)
        return out

    def all_mms(self) -> list[MmStruct]:
        """Each live address space once."""
        seen: dict[int, MmStruct] = {}
        for p in self.processes.values():
            seen.setdefault(id(p.mm), p.mm)
        return list(seen.values())

    # ---------------------------------------------------------- the memory bus
    def phys_read(self, addr: int, n: int) -> bytes:
        """What the CPU reads at a physical address (RAM or a memory-mapped chip)."""
        if n == 0:
            return b""
        if self.mem.contains(addr, n):
            off = addr - self.mem.ram_base
            return self.mem.data[off:off + n].tobytes()
        for chip in self.bus:
            if chip.contains(addr, n):
                return chip.bus_read(addr - chip.base, n)
        raise KernelError(E.EFAULT, "bus.no_memory",
                          f"nothing answers at {addr:#x}-{addr + n:#x} (no RAM or device there)")

    def phys_write(self, addr: int, data: bytes) -> None:
        """A CPU store at a physical address (no MMU: nothing checks permissions)."""
        n = len(data)
        if n == 0:
            return
        if self.mem.contains(addr, n):
            off = addr - self.mem.ram_base
            self.mem.data[off:off + n] = memoryview(data)
            return
        for chip in self.bus:
            if chip.contains(addr, n):
                self.trace.emit(EventKind.HAZARD, "bus.store_to_flash",
                                "a store to NOR flash at {:#x} is a command cycle to the chip, "
                                "not a write of data: the bytes do not change", addr)
                return
        raise KernelError(E.EFAULT, "bus.no_memory",
                          f"nothing answers at {addr:#x}-{addr + n:#x} (no RAM or device there)")

    def addressable(self, addr: int, n: int) -> bool:
        """Whether RAM or a chip answers for the whole range."""
        return self.mem.contains(addr, n) or any(c.contains(addr, n) for c in self.bus)

    # ------------------------------------------------------------- snapshots
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_listeners"] = []  # views observe a kernel; they are not part of it
        state.pop("_buffer_digests", None)  # a cache of state_digest, rebuilt on demand
        return state

    def snapshot(self) -> bytes:
        """The whole machine as bytes (RAM, regions, files, processes, trace)."""
        import pickle

        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def restore(blob: bytes) -> Kernel:
        """A new kernel exactly as it was when :meth:`snapshot` was taken."""
        import pickle

        k = pickle.loads(blob)
        if not isinstance(k, Kernel):
            raise TypeError("not a nommu-lab kernel snapshot")
        return k

    def state_digest(self) -> str:
        """A hash of everything a syscall may change (not the trace).

        Two kernels with the same digest have the same RAM bytes, frame states,
        free lists, regions, VMAs, files and processes. Tests use it to prove
        that a refused call changed nothing.
        """
        import hashlib

        h = hashlib.sha256()
        self._digest_memory(h)
        self._digest_tasks(h, {})
        self._digest_files(h)
        return h.hexdigest()

    def _digest_memory(self, h: Any) -> None:
        m = self.mem
        h.update(m.data)  # numpy arrays are hashed in place, not copied
        h.update(m.state)
        h.update(m.owner)
        h.update(repr([list(d) for d in m.free_area]).encode())
        # the counters ids come from: a refused call must not advance them
        h.update(repr((m.nr_free, self.mmap_pages_allocated, self.nr_trim_pages,
                       self.max_map_count, self._next_id, self._next_pid,
                       self._next_dev_minor)).encode())

    def _digest_task(self, h: Any, p: Process, file_ids: dict[int, int]) -> None:
        """One process: its state and open files (open files by first appearance)."""
        fds = [(fd, file_ids.setdefault(id(f), len(file_ids)), f.pos, f.refs,
                fd in p.close_on_exec) for fd, f in sorted(p.fds.items())]
        h.update(repr((p.pid, p.alive, p.mm.id, p.mm.users, p.mm.brk, p.mm.start_brk,
                       p.vfork_child.pid if p.vfork_child else None, p.futex_wait,
                       fds)).encode())

    def _digest_tasks(self, h: Any, file_ids: dict[int, int]) -> None:
        for r in self.region_tree:
            h.update(repr((r.id, r.vm_start, r.vm_end, r.vm_top, r.vm_flags, r.vm_pgoff,
                           r.vm_usage, r.path, r.vm_icache_flushed)).encode())
        for _pid, p in sorted(self.processes.items()):
            self._digest_task(h, p, file_ids)
            for v in p.mm.vmas:
                h.update(repr((v.id, v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff,
                               v.vm_region.id)).encode())

    def _digest_files(self, h: Any) -> None:
        stack = [("/", self.root)]
        for mp, m in sorted(self.mounts.items()):
            h.update(repr((mp, m.sb.next_ino, m.sb.free_blocks)).encode())
        while stack:
            path, node = stack.pop()
            node = self._mount_root(node)
            # contents are hashed where they lie (page-cache frames are RAM, hashed above;
            # disk blocks one by one): nothing proportional to a file's size is built
            h.update(repr((path, node.ino, node.size, node.nlink, node.opened,
                           sorted(node.pages.items()), len(node.blocks))).encode())
            for idx in sorted(node.blocks):
                h.update(idx.to_bytes(8, "little"))
                h.update(node.blocks[idx])
            for name, child in sorted(node.children.items()):
                stack.append((path.rstrip("/") + "/" + name, child))
        for seg in self.shm_segments.values():
            h.update(repr((seg.shmid, seg.key, seg.size, seg.nattch, seg.removed)).encode())
        for path, dev in sorted(self.devices.items()):
            store = getattr(dev, "store", None)
            if store is not None:
                self._digest_buffer(h, path, store.version, store.data)
        if self.flash is not None:
            h.update(self.flash.mode.value.encode())
            self._digest_buffer(h, "flash", self.flash.version, self.flash.array)

    def _digest_buffer(self, h: Any, key: str, version: int, data: Any) -> None:
        """Hash a large device buffer through a sub-digest kept until its version changes
        (block devices and flash change rarely; RAM is hashed every time)."""
        import hashlib

        cache = self.__dict__.setdefault("_buffer_digests", {})
        hit = cache.get(key)
        if hit is None or hit[0] != version:
            hit = cache[key] = (version, hashlib.sha256(data).digest())
        h.update(hit[1])

    # ------------------------------------------------------- devices & drivers
    @kernel_call
    def register_driver(self, path: str, ops: FileOperations, *, kind: str = "chr",
                        rdev: tuple[int, int] | None = None) -> FileOperations:
        """Put a driver of your own on the machine as a device node (``/dev/...``).

        ``ops`` is a :class:`FileOperations` (for example a
        :class:`~nommu_lab.kernel.devices.SimpleDriver`); ``kind`` is "chr" or "blk".
        """
        if not isinstance(path, str) or not path.startswith("/dev/"):
            raise ValueError("a device node lives under /dev/")
        if self.lookup(path) is not None:
            raise ValueError(f"{path} exists already")
        if kind not in ("chr", "blk"):
            raise ValueError("kind is 'chr' or 'blk'")
        if rdev is None:
            rdev = (240 if kind == "chr" else 254, len(self.devices))
        self.mknod(path, S_IFCHR if kind == "chr" else S_IFBLK, rdev, ops)
        attach = getattr(ops, "attach", None)
        if attach is not None:
            attach(self)
        self.trace.emit(EventKind.DEVICE, "register_driver", "driver {} registered as {}",
                        ops.name, path)
        self.notify()
        return ops

    @kernel_call
    def reserve_device_memory(self, npages: int) -> int:
        """Set aside ``npages`` contiguous frames for a device (as boot code would).

        Returns the physical address. Raises ``KernelError(ENOMEM)`` when no
        contiguous block is free.
        """
        order = get_order(npages)
        if not self.mem.can_alloc(order):
            raise KernelError(E.ENOMEM, "reserve_device_memory.no_block",
                              f"no free block of {plural(1 << order, 'contiguous page')}")
        pfn = self.mem.alloc_pages_exact(npages)
        assert pfn is not None
        self.mem.mark(pfn, npages, PageState.DEVICE)
        if (1 << order) > npages:
            self.mem.mark(pfn + npages, (1 << order) - npages, PageState.FREE)
        return self.mem.pfn_to_addr(pfn)

    def _chip(self) -> NorFlash:
        if self.flash is None:
            raise KernelError(E.ENODEV, "mtd.no_flash", "this machine has no NOR flash chip")
        return self.flash

    def direct_flash_regions(self) -> list[VmRegion]:
        """Regions that map the flash chip in place (XIP text, MTD or romfs direct maps)."""
        chip = self.flash
        if chip is None:
            return []
        return [r for r in self.region_tree if not r.is_copy and chip.contains(r.vm_start)]

    def _flash_begin(self, mode: Any, offset: int, data: bytes, guard: bool) -> None:
        from .devices import FlashMode

        chip = self._chip()
        if chip.mode is not FlashMode.READ_ARRAY:
            raise KernelError(E.EBUSY, "mtd.chip_busy",
                              f"the chip is busy ({chip.mode.value}); call mtd_complete() first")
        if offset < 0 or offset + max(len(data), 1) > chip.size:
            raise KernelError(E.EINVAL, "mtd.range", f"offset {offset:#x} is outside the chip")
        direct = self.direct_flash_regions()
        if guard and direct:
            raise KernelError(E.EBUSY, "mtd.guard.direct_mappings",
                              f"{plural(len(direct), 'region maps', 'regions map')} the chip directly (e.g. "
                              f"{direct[0].path} at {direct[0].vm_start:#x}); a careful driver "
                              "refuses to leave read-array mode while anyone could be reading or "
                              "executing from it: unmap them (or use copies) first")
        chip.mode = mode
        chip.pending = (offset, data)
        self.trace.emit(EventKind.DEVICE, f"mtd.{mode.value}",
                        "flash chip enters {} mode at {:#x}: until it finishes, every read of "
                        "the chip returns its status register, not data", mode.value,
                        chip.base + offset)
        for r in direct:
            self.trace.emit(EventKind.HAZARD, "flash_status_hazard",
                            "{} is mapped directly at {:#x}: its readers now see status bytes "
                            "(0x{:02x}) where code or data should be", r.path, r.vm_start,
                            0, region=r.id)
        self.notify()

    @kernel_call
    def mtd_program(self, offset: int, data: bytes, *, guard: bool = False) -> None:
        """Start programming bytes into the NOR chip (``mtd_write``).

        Until :meth:`mtd_complete`, direct mappings of the chip read status
        bytes. With ``guard=True`` the driver refuses (EBUSY) while any region
        maps the chip directly: the guard the document asks drivers to keep.
        """
        from .devices import FlashMode

        self._flash_begin(FlashMode.PROGRAM, ulong(offset, "offset"), as_bytes(data), guard)

    @kernel_call
    def mtd_erase(self, offset: int, *, guard: bool = False) -> None:
        """Start erasing the erase block containing ``offset`` (``mtd_erase``)."""
        from .devices import FlashMode

        chip = self._chip()
        offset = ulong(offset, "offset")
        offset -= offset % chip.erase_size
        self._flash_begin(FlashMode.ERASE, offset, b"", guard)

    @kernel_call
    def mtd_complete(self) -> None:
        """The program/erase finishes: the chip goes back to read-array mode."""
        import numpy as np

        from .devices import FlashMode

        chip = self._chip()
        if chip.mode is FlashMode.READ_ARRAY:
            return
        assert chip.pending is not None
        offset, data = chip.pending
        if chip.mode is FlashMode.PROGRAM:
            # NOR programming can only clear bits; erasing sets them back to 1
            cur = chip.array[offset:offset + len(data)]
            chip.array[offset:offset + len(data)] = cur & np.frombuffer(data, dtype=np.uint8)
        else:
            chip.array[offset:offset + chip.erase_size] = 0xFF
        chip.version += 1
        chip.mode = FlashMode.READ_ARRAY
        chip.pending = None
        self.trace.emit(EventKind.DEVICE, "mtd.read_array",
                        "flash operation finished: the chip is back in read-array mode")
        self.notify()

    # ------------------------------------------------------------ processes
    def spawn(self, name: str = "app") -> Process:
        """A new process with an empty address space and fds 0-2 on the console."""
        from .process import Process

        name = as_name(name, "name")
        cls = self.process_class or Process
        p = cls(self, self._alloc_pid(), name, self._new_mm())
        self.processes[p.pid] = p
        for _ in range(3):
            p._install_fd(self.open_inode_file(self.console, 2))
        self.trace.emit(EventKind.PROCESS, "spawn", "process {} ({}) started", p.pid, name)
        self.notify()
        return p

    def _alloc_pid(self) -> int:
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def _new_mm(self) -> MmStruct:
        from .mm import MmStruct

        return MmStruct(self.next_id())

    def open_inode_file(self, path: str, accmode: int, flags: int = 0) -> File:
        """Open a file for kernel-internal use (console fds, loaders)."""
        from .vfs import FMODE_CAN_READ, FMODE_READ, FMODE_WRITE

        inode = self.lookup(path)
        assert inode is not None, path
        fmode = {0: FMODE_READ, 1: FMODE_WRITE, 2: FMODE_READ | FMODE_WRITE}[accmode]
        if inode.fops.can_read:
            fmode |= FMODE_CAN_READ
        inode.opened += 1
        return File(inode, posixpath.normpath(path), fmode, flags, refs=0)

    def process(self, pid: int) -> Process:
        """The live process with this pid."""
        p = self.processes.get(pid)
        if p is None:
            raise KernelError(E.ESRCH, "find_task_by_vpid", f"there is no process {pid}")
        return p

    # -------------------------------------------------------------- observers
    def regions(self) -> list[RegionInfo]:
        """Every region on the machine, in address order (what /proc/maps lists)."""
        return [RegionInfo.of(r) for r in self.region_tree]

    def region_at(self, addr: int) -> VmRegion | None:
        """The live region whose memory contains ``addr`` (``[start, top)``)."""
        for r in self.region_tree:
            if r.vm_start <= addr < max(r.vm_top, r.vm_end):
                return r
        return None

    def proc_maps(self) -> str:
        """The text of ``/proc/maps``."""
        from .procfs import proc_maps

        return proc_maps(self)

    def meminfo(self) -> dict[str, int]:
        """``/proc/meminfo`` values in kB: MemTotal, MemFree, Cached, MmapCopy."""
        kb = self.page_size // 1024
        counts = self.mem.counts()
        return {
            "MemTotal": (self.mem.nr_pages - self.mem.nr_reserved) * kb,
            "MemFree": self.mem.nr_free * kb,
            "Cached": counts[PageState.PAGECACHE] * kb,
            "MmapCopy": self.mmap_pages_allocated * kb,
        }

    #: the one populated memory zone (RAM below 4 GiB on a 64-bit RISC-V board)
    ZONE_NAME = "DMA32"

    def buddyinfo(self) -> list[int]:
        """Free blocks of each order, 0 to the largest (what /proc/buddyinfo counts).

        Order ``n`` is a block of ``2**n`` contiguous pages. Without an MMU a
        mapping of ``n`` pages needs one free block of order ``get_order(n)``
        or larger, however much memory is free in smaller pieces.
        """
        return self.mem.nr_free_per_order()

    def largest_free_block(self) -> int:
        """Bytes in the largest free block: the largest mapping that could succeed now."""
        order = self.mem.largest_free_order()
        return 0 if order < 0 else self.page_size << order

    def proc_buddyinfo(self) -> str:
        """The text of ``/proc/buddyinfo``."""
        from .procfs import buddyinfo_text

        return buddyinfo_text(self)

    #: the sysctls this kernel has (``kernel/sysctl.c`` tables), by dotted name
    SYSCTLS: ClassVar[dict[str, Sysctl]] = {
        "vm.nr_trim_pages": Sysctl(
            "nr_trim_pages", 0, INT_MAX, "a whole number from 0 upwards",
            lambda v: ": never trim" if v == 0 else f": trim when {v}+ pages are excess"),
    }
    #: sysctls of the other kernel, and why this one has none
    SYSCTLS_ELSEWHERE: ClassVar[dict[str, str]] = {}

    @kernel_call
    def sysctl(self, name: str, value: int | None = None) -> int:
        """Read (``value=None``) or write a sysctl; returns the (new) value.

        ``name`` is dotted (``vm.nr_trim_pages``) or a /proc path
        (``/proc/sys/vm/nr_trim_pages``). The no-MMU kernel has
        ``vm.nr_trim_pages``: 0 never trims; N trims when the excess is at
        least N pages. Values are C ints (``proc_dointvec_minmax``): outside
        the sysctl's range EINVAL, not an integer ``abi.type``.
        """
        name = as_name(name, "sysctl name")
        key = name.replace("/", ".").lstrip(".").removeprefix("proc.sys.")
        ctl = self.SYSCTLS.get(key)
        if ctl is None:
            extra = self.SYSCTLS_ELSEWHERE.get(key, "")
            raise KernelError(E.ENOENT, "sysctl.unknown",
                              f"there is no sysctl {name!r} on this kernel{extra}; known: "
                              f"{', '.join(self.SYSCTLS)}")
        if value is None:
            return int(getattr(self, ctl.attr))
        value = as_int(value, "sysctl value")
        if not ctl.lo <= value <= ctl.hi:
            raise KernelError(E.EINVAL, f"sysctl.{ctl.attr}_range",
                              f"{key} takes {ctl.takes}, not {value}")
        old = getattr(self, ctl.attr)
        setattr(self, ctl.attr, value)
        self.trace.emit(EventKind.DECISION, f"sysctl.{ctl.attr}", "{} {} -> {}{}", key, old, value,
                        ctl.explain(value) if ctl.explain is not None else "")
        self.notify()
        return value

    # ------------------------------------------------------------ invariants
    def live_inodes(self) -> list[Inode]:
        """Every inode something still holds: the tree, open files, mapped files, segments."""
        seen: dict[int, Inode] = {}
        stack = [self.root]
        while stack:
            node = self._mount_root(stack.pop())
            if id(node) not in seen:
                seen[id(node)] = node
                stack.extend(node.children.values())
        files = [f for p in self.processes.values() for f in p.fds.values()]
        files += [v.vm_file for mm in self.all_mms() for v in mm.vmas if v.vm_file is not None]
        for f in files:
            seen.setdefault(id(f.inode), f.inode)
        for seg in self.shm_segments.values():
            seen.setdefault(id(seg.inode), seg.inode)
        return list(seen.values())

    def check_disk_blocks(self) -> None:
        """Every block of a disk filesystem is free, mkfs's, a directory's, or a file's."""
        from .vfs import ext2_blocks_used

        for m in self.mounts.values():
            sb = m.sb
            if not sb.s_blocksize:
                continue
            held = [i for i in self.live_inodes() if i.sb is sb]
            used = sum(1 if i.is_dir else ext2_blocks_used(i) for i in held if i is not m.root)
            assert sb.free_blocks + used + sb.meta_blocks == sb.blocks_count, (
                f"{m.path}: {sb.free_blocks} free + {used} used + {sb.meta_blocks} mkfs "
                f"!= {sb.blocks_count} blocks")

    def check(self) -> None:
        """Assert every invariant of the machine (tests call this after each step)."""
        self.mem.check()
        self.check_disk_blocks()
        ps = self.page_size
        regs = list(self.region_tree)
        starts = [r.vm_start for r in regs]
        assert starts == sorted(set(starts)), "two regions share a start (add_nommu_region BUG)"
        assert all(self.region_tree.get(r.vm_start) is r for r in regs), "region tree index broken"
        usage: dict[int, int] = {}
        for mm in self.all_mms():
            for v in mm.vmas:
                r = v.vm_region
                usage[r.id] = usage.get(r.id, 0) + 1
                # a direct region cut by truncate may end below a private VMA on it
                # (nommu_shrink_inode_mappings only looks after VM_SHARED ones)
                assert r.vm_start <= v.vm_start < v.vm_end and (
                    v.vm_end <= r.vm_end or not r.is_copy), f"{v} outside {r}"
                assert r.vm_start in self.region_tree, f"{r} of {v} not in the tree"
        copy_pages = 0
        last_top = None
        for r in regs:
            assert r.vm_start < r.vm_end <= r.vm_top or (not r.is_copy and r.vm_end <= r.vm_top), r
            assert usage.get(r.id, 0) == r.vm_usage, f"{r}: usage {r.vm_usage} but {usage.get(r.id, 0)} VMAs"
            if r.is_copy:
                assert r.vm_start % ps == 0 and r.vm_top % ps == 0, r
                n = (r.vm_top - r.vm_start) // ps
                copy_pages += n
                pfn = self.mem.addr_to_pfn(r.vm_start)
                owners = self.mem.owner[pfn:pfn + n]
                assert (owners == r.id).all(), f"{r}: frames not owned by it"
                if last_top is not None:
                    assert r.vm_start >= last_top, f"copy regions overlap at {r}"
                last_top = r.vm_top
        assert copy_pages == self.mmap_pages_allocated, (
            f"MmapCopy {self.mmap_pages_allocated} pages but regions hold {copy_pages}")
        st = self.mem.state
        used = int(((st != PageState.FREE) & (st != PageState.TRIMMED)).sum())
        assert used + self.mem.nr_free == self.mem.nr_pages
