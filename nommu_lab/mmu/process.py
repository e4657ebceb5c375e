"""A process on the MMU kernel: the same calls, answered the way MMU Linux answers.

:class:`MmuProcess` subclasses the no-MMU :class:`~nommu_lab.kernel.process.Process`
and keeps its plumbing (the ``@syscall`` decorator, argument conversion,
files, pipes, vfork suspension); it replaces the calls an MMU changes:
memory access goes through the page table (``poke`` into a read-only page is
refused, as SIGSEGV would be), ``mmap`` honours hints and MAP_FIXED,
``munmap``/``mremap``/``mprotect`` work on any page range, ``fork`` copies
the address space copy-on-write, and ``execve`` loads ELF programs with
``binfmt_elf`` (an MMU RISC-V kernel has no bFLT loader).
"""

from __future__ import annotations

import errno as E
import posixpath
import struct
from typing import Any, ClassVar

from ..kernel.abi import ULONG, as_argv, as_bytes, as_path, cint, ulong
from ..kernel.binfmt import (
    ELF_MAGIC,
    FLAT_MAGIC,
    PT_GNU_STACK,
    _prot,
    open_exec,
    parse_elf,
)
from ..kernel.constants import (
    FUTEX_CMD_MASK,
    FUTEX_PRIVATE_FLAG,
    FUTEX_WAIT,
    FUTEX_WAKE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_HUGETLB,
    MAP_PRIVATE,
    MAP_SHARED,
    O_TRUNC,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    SHM_EXEC,
    SHM_RDONLY,
    SHM_REMAP,
    SHM_RND,
    SIGSEGV,
    VM_READ,
    VM_WRITE,
)
from ..kernel.errors import KernelError
from ..kernel.ipc import ShmFile
from ..kernel.mm import VmaInfo
from ..kernel.process import Process, syscall
from ..kernel.trace import EventKind
from ..kernel.vfs import FMODE_CAN_READ, FMODE_READ, FMODE_WRITE, File, page_align
from .fault import access_vm, handle_mm_fault, read_nofault, zap_pte_range
from .mm import ELF_ET_DYN_BASE, STACK_EXPAND, STACK_TOP, TASK_SIZE, MmuMm, MmuVma
from .mmap import (
    access_remote,
    do_mmap,
    do_mprotect,
    do_mremap,
    do_munmap,
    dup_mmap,
    perms,
    range_is_free,
    remove_vma,
    vm_enough_memory,
    vma_merge,
)

MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4


def vma_name(v: MmuVma, mm: MmuMm) -> str | None:
    """The last column of a maps line (``show_map_vma``)."""
    if v.vm_file is not None:
        return v.vm_file.path + (" (deleted)" if v.vm_file.inode.nlink == 0 else "")
    if v.name:
        return v.name
    if mm.start_brk and v.vm_start < mm.brk and v.vm_end > mm.start_brk:
        return "[heap]"
    if mm.start_stack and v.vm_start <= mm.start_stack <= v.vm_end:
        return "[stack]"
    return None


def maps_text(p: MmuProcess) -> str:
    """``/proc/PID/maps`` with an MMU (``fs/proc/task_mmu.c``): ``s``/``p`` lowercase,
    offsets only for file mappings, ``[heap]`` and ``[stack]`` tags."""
    k = p.kernel
    width = k.maps_width
    lines = []
    for v in p.mm.vmas:
        dev, ino, off = (0, 0), 0, 0
        if v.vm_file is not None:
            dev, ino = v.vm_file.inode.sb.dev, v.vm_file.inode.ino
            off = (v.vm_pgoff << k.mem.page_shift) & ULONG  # loff_t, printed as 64 bits
        head = (f"{v.vm_start:08x}-{v.vm_end:08x} {perms(v.vm_flags)} {off:08x} "
                f"{dev[0]:02x}:{dev[1]:02x} {ino} ")
        name = vma_name(v, p.mm)
        lines.append(head if name is None else head.ljust(width) + " " + name)
    return "".join(line + "\n" for line in lines)


class MmuProcess(Process):
    """A task on the MMU kernel: its own virtual address space and page table."""

    kernel: Any
    mm: Any

    # ------------------------------------------------------------- observers
    def vmas(self) -> list[VmaInfo]:
        """The process's VMAs in address order (``.region`` is None: there are no regions)."""
        return [VmaInfo(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff,
                        v.vm_file.path if v.vm_file is not None else None,
                        None)  # type: ignore[arg-type]
                for v in self.mm.vmas]

    def maps(self) -> str:
        """The text of ``/proc/<pid>/maps`` (MMU format)."""
        if not self.alive:
            raise KernelError(E.ESRCH, "proc.pid_gone", f"/proc/{self.pid} no longer exists")
        return maps_text(self)

    def translate(self, addr: int) -> int | None:
        """The physical address behind a virtual one right now, or None if no frame is mapped."""
        ps = self.kernel.page_size
        pte = self.mm.pte.get(addr // ps)
        if pte is None:
            return None
        return self.kernel.mem.pfn_to_addr(pte.pfn) + addr % ps

    def frames(self) -> dict[int, int]:
        """The page table as ``{virtual page address: frame number}`` (zero page included)."""
        ps = self.kernel.page_size
        return {vpn * ps: pte.pfn for vpn, pte in sorted(self.mm.pte.items())}

    def _peek(self, addr: int, n: int) -> bytes:
        """A load by this process (or by /proc/PID/mem): pages fault in as on a real CPU.

        Reading untouched anonymous memory maps the zero page; reading a file
        mapping brings the page into the page cache. Unmapped or PROT_NONE
        memory raises EFAULT (the process would get SIGSEGV).
        """
        return access_vm(self.kernel, self.mm, addr, n, None, False, self.pid)

    @syscall
    def poke(self, addr: Any, data: Any) -> int:
        """A store by the running process, checked by the MMU: a read-only page is refused."""
        addr = ulong(addr, "addr")
        data = as_bytes(data)
        access_vm(self.kernel, self.mm, addr, len(data), data, False, self.pid)
        return len(data)

    def run(self, instructions: int = 8) -> int:
        """Let the CPU fetch the program's next instructions through the MMU.

        Each fetch is a load from a page that must be mapped executable (an
        instruction page fault otherwise); text pages fault in from the page
        cache. Flash is never executed in place with an MMU here: romfs text
        is read into the page cache, so a busy flash chip cannot be fetched.
        """
        from ..kernel.constants import VM_EXEC

        k, n, pc = self._cpu_start(instructions)
        for i in range(n):
            v = self.mm.vma_lookup(pc + 4 * i)
            if v is None or not v.vm_flags & VM_EXEC:
                k.trace.emit(EventKind.HAZARD, "do_page_fault.instruction_fault",
                             "process {} fetched from {:#x}, which is not mapped executable: "
                             "SIGSEGV", self.pid, pc + 4 * i)
                self._die_of_signal(SIGSEGV)
                return i
            access_vm(k, self.mm, pc + 4 * i, 4, None, True, self.pid)
        k.trace.emit(EventKind.PROCESS, "cpu.run", "process {} ran {:n instruction} from {:#x}",
                     self.pid, n, pc)
        k.notify()
        return n

    # -------------------------------------------------------------- files
    def _access_ok(self, count: int) -> None:
        """``access_ok``: no user buffer can be longer than the address space (EFAULT)."""
        if count > TASK_SIZE:
            raise KernelError(E.EFAULT, "access_ok.range",
                              f"a buffer of {count:#x} bytes is larger than the whole user address "
                              "space: the copy would fault")

    @syscall
    def open(self, path: Any, flags: Any = 0, mode: Any = 0o644) -> int:
        """``open(2)``; O_TRUNC on a mapped file also drops its cached pages (SIGBUS after)."""
        fd = Process.open.__wrapped__(self, path, flags, mode)  # type: ignore[attr-defined]
        f = self.fds[fd]
        if cint(flags, "flags") & O_TRUNC and f.f_mode & FMODE_WRITE and f.inode.is_reg:
            self.kernel.after_truncate(f, 0)
        return fd

    def _write(self, f: File, data: bytes, pos: int) -> int:
        n = super()._write(f, data, pos)
        self.kernel.after_write(f, pos, n)
        return n

    _truncate_refusals: ClassVar[dict[int, tuple[str, str]]] = {}  # every refusal is do_truncate's

    def _after_truncate(self, f: File, length: int) -> None:
        """With an MMU a mapped file may shrink: the cut pages are unmapped."""
        self.kernel.after_truncate(f, length)

    # ------------------------------------------------------------- memory
    def _hugetlb_checks(self, file: File | None, flags: int) -> None:
        """``ksys_mmap_pgoff`` in mm/mmap.c: MAP_HUGETLB needs a hugetlbfs file, and anonymous
        huge pages need hugetlbfs, which the board's kernel does not have."""
        if not flags & MAP_HUGETLB:
            return
        if file is not None:
            raise KernelError(E.EINVAL, "ksys_mmap_pgoff.hugetlb_file",
                              "MAP_HUGETLB needs a hugetlbfs file; there is none here")
        raise KernelError(E.ENOSYS, "ksys_mmap_pgoff.no_hugetlbfs",
                          "huge pages need hugetlbfs, which this board's kernel does not have")

    # with an MMU: hints and MAP_FIXED honoured, frames on first touch; munmap of
    # any range (holes are fine); mremap may move
    _do_mmap = staticmethod(do_mmap)
    _do_munmap = staticmethod(do_munmap)
    _do_mremap = staticmethod(do_mremap)

    @syscall
    def mprotect(self, addr: Any, length: Any, prot: Any) -> int:
        """``mprotect(2)``: change protection; the MMU enforces it from the next access."""
        do_mprotect(self.kernel, self, ulong(addr, "addr"), ulong(length, "length"), ulong(prot, "prot"))
        return 0

    def _check_mapped(self, addr: int, length: int, what: str) -> tuple[int, int]:
        ps = self.kernel.page_size
        if addr % ps:
            raise KernelError(E.EINVAL, f"{what}.unaligned", f"{addr:#x} is not page aligned")
        end = addr + page_align(length, ps)
        cursor = addr
        for v in self.mm.overlapping(addr, end):
            if v.vm_start > cursor:
                break
            cursor = v.vm_end
        if cursor < end:
            raise KernelError(E.ENOMEM, f"{what}.unmapped",
                              f"{cursor:#x} is not mapped: the range must be mapped throughout")
        return addr, end

    @syscall
    def msync(self, addr: Any, length: Any, flags: Any = 0) -> int:
        """``msync(2)``: the model writes shared pages back at every store, so nothing is left."""
        addr, length, flags = ulong(addr, "addr"), ulong(length, "length"), ulong(flags, "flags")
        if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or (flags & MS_ASYNC and flags & MS_SYNC):
            raise KernelError(E.EINVAL, "msync.flags", "MS_ASYNC and MS_SYNC exclude each other")
        self._check_mapped(addr, length, "msync")
        return 0

    @syscall
    def madvise(self, addr: Any, length: Any, advice: Any = 0) -> int:
        """``madvise(2)``: MADV_DONTNEED drops the pages (private anonymous ones read as zero again)."""
        addr, length, advice = ulong(addr, "addr"), ulong(length, "length"), ulong(advice, "advice")
        if advice not in (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED):
            raise KernelError(E.EINVAL, "madvise.behavior", f"advice {advice} is not modelled")
        start, end = self._check_mapped(addr, length, "madvise")
        if advice == MADV_DONTNEED:
            cleared, freed = zap_pte_range(self.kernel, self.mm, start, end)
            self.kernel.trace.emit(EventKind.FREE, "madvise_dontneed",
                                   "MADV_DONTNEED: {:n page-table entry|page-table entries} cleared, {:n frame} freed; the next touch faults "
                                   "again", cleared,
                                   freed)
        return 0

    @syscall
    def mlock(self, addr: Any, length: Any) -> int:
        """``mlock(2)``: fault every page in now (the model has no swap to keep them from)."""
        from .mmap import mm_populate

        start, end = self._check_mapped(ulong(addr, "addr") & ~(self.kernel.page_size - 1),
                                        ulong(length, "length"), "mlock")
        mm_populate(self.kernel, self, start, end - start)
        return 0

    @syscall
    def brk(self, addr: Any = 0) -> int:
        """``brk(2)`` with an MMU: the heap VMA grows and shrinks (``do_brk_flags``)."""
        addr = ulong(addr, "addr")
        k = self.kernel
        mm = self.mm
        ps = k.page_size
        if not mm.start_brk or addr < mm.start_brk:
            return mm.brk
        newbrk, oldbrk = page_align(addr, ps), page_align(mm.brk, ps)
        if newbrk == 0 or newbrk > TASK_SIZE:  # check_brk_limits: get_unmapped_area says ENOMEM
            return mm.brk
        if newbrk == oldbrk:
            mm.brk = addr
            return addr
        if addr <= mm.brk:
            mm.brk = addr
            do_munmap(k, self, newbrk, oldbrk - newbrk)
            return addr
        if not range_is_free(k, mm, oldbrk, newbrk + ps):
            k.trace.emit(EventKind.DECISION, "brk.collides",
                         "the heap cannot grow to {:#x}: something is mapped there", addr)
            return mm.brk
        try:
            vm_enough_memory(k, (newbrk - oldbrk) // ps, "growing the heap")
        except KernelError:
            return mm.brk
        vma = MmuVma(k.next_id(), oldbrk, newbrk, VM_READ | VM_WRITE | 0x70, oldbrk // ps)
        mm.add(vma)
        mm.total_vm += (newbrk - oldbrk) // ps
        vma_merge(k, mm, vma)
        mm.brk = addr
        k.trace.emit(EventKind.VMA, "do_brk_flags",
                     "the heap grows to {:#x}: more addresses, no frames until they are touched",
                     addr)
        return addr

    # ---------------------------------------------------------- processes
    def _dup_mm(self) -> Any:
        """``dup_mmap``: the child's page tables point at our frames, copy-on-write."""
        k = self.kernel
        mm = k._new_mm()
        copied, cow = dup_mmap(k, self.mm, mm)
        k.trace.emit(EventKind.DECISION, "dup_mmap",
                     "the child gets a copy of the address space: {:n VMA}, {:n page-table entry|page-table entries} copied; {:n frame} now "
                     "shared copy-on-write (write-protected in both); no data copied",
                     len(mm.vmas), copied,
                     cow)
        return mm

    @syscall
    def fork(self) -> MmuProcess:
        """``fork(2)``: a child with a copy-on-write copy of our address space."""
        child = self._new_child(share_mm=False)
        self.kernel.trace.emit(EventKind.PROCESS, "fork",
                               "fork: child {} runs with its own copy of process {}'s memory",
                               child.pid, self.pid)
        return child

    def _explain_clone_copy(self, child: Process) -> None:
        self.kernel.trace.emit(EventKind.PROCESS, "clone.copy",
                               "clone: child {} gets a copy-on-write copy of the parent's mm "
                               "(like fork)", child.pid)

    def _leave_futex_queue(self) -> None:
        """A sleeper that dies leaves its wait queue and its key."""
        super()._leave_futex_queue()
        self.kernel.futex_keys.pop(self.pid, None)

    def _release_mm(self) -> None:
        """``mmput`` → ``exit_mmap``: the last user unmaps everything."""
        mm = self.mm
        mm.users -= 1
        if mm.users > 0:
            return
        k = self.kernel
        freed = 0
        for v in list(mm.vmas):
            freed += remove_vma(k, mm, v)[1]
        assert not mm.pte
        mm.total_vm = 0
        k.trace.emit(EventKind.FREE, "exit_mmap",
                     "address space {} torn down: {:n frame} freed", mm.id, freed)

    @syscall
    def execve(self, path: Any, argv: Any = None) -> int:
        """``execve(2)`` through ``binfmt_elf`` (an MMU RISC-V kernel has no bFLT loader)."""
        path = posixpath.normpath(as_path(path))
        args = as_argv(argv, path)
        k = self.kernel
        inode, probe = open_exec(k, path)
        img = inode.fops.read(probe, inode.size, 0)
        assert isinstance(img, bytes)
        if img[:4] == FLAT_MAGIC:
            raise KernelError(E.ENOEXEC, "search_binary_handler.no_handler",
                              f"{path} is a bFLT program: binfmt_flat exists only in no-MMU RISC-V "
                              "kernels, so this MMU kernel has no loader for it; run an ELF program")
        if img[:4] != ELF_MAGIC:
            raise KernelError(E.ENOEXEC, "search_binary_handler.no_handler",
                              f"{path} is not an ELF file")
        elf = parse_elf(img)
        segs, loads = elf.segments, elf.loads
        if not loads:
            raise KernelError(E.ENOEXEC, "load_elf_binary.no_load", "the program has no PT_LOAD segment")
        if k.mem.nr_free < 2 * len(loads) + 2:
            raise KernelError(E.ENOMEM, "load_elf_binary.oom", "no free frames to start the program")
        ps = k.page_size
        private = sum(page_align(s.memsz + s.vaddr % ps, ps) for s in loads if s.flags & 2)
        vm_enough_memory(k, (private + STACK_EXPAND + ps) // ps, "the new program's data and stack")
        self._load_elf(path, inode, loads, segs, args)
        self.mm.entry = self.mm.start_code + elf.entry  # load_elf_binary: e_entry + load_bias
        return 0

    def _load_elf(self, path: str, inode: Any, loads: list[Any], segs: list[Any],
                  argv: list[str]) -> None:
        """``load_elf_binary``: segments at ELF_ET_DYN_BASE, bss, brk, a 132 KiB stack."""
        k = self.kernel
        ps = k.page_size
        self._release_mm()
        self.mm = k._new_mm()
        mm = self.mm
        mm.exe = path
        self._wake_vfork_parent("execve")
        self._do_close_on_exec()
        self.name = path.rsplit("/", 1)[-1]
        inode.opened += 1
        file = File(inode, path, FMODE_READ | FMODE_CAN_READ, 0, refs=0)
        k.fget(file)
        bias = ELF_ET_DYN_BASE & ~(ps - 1)
        brk = 0
        for s in loads:
            disp = s.vaddr & (ps - 1)
            start = bias + s.vaddr - disp
            prot = _prot(s.flags)
            if s.filesz:
                do_mmap(k, self, file, start, s.filesz + disp, prot, MAP_PRIVATE | MAP_FIXED,
                        (s.offset - disp) // ps)
            file_end = bias + s.vaddr + s.filesz
            mem_end = bias + s.vaddr + s.memsz
            if s.memsz > s.filesz:
                if file_end % ps and s.filesz:  # padzero: clear the rest of the last file page
                    access_vm(k, mm, file_end, ps - file_end % ps, bytes(ps - file_end % ps), True,
                              self.pid)
                lo, hi = page_align(file_end, ps), page_align(mem_end, ps)
                if hi > lo:
                    do_mmap(k, self, None, lo, hi - lo, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0)
            brk = max(brk, mem_end)
        k.fput(file)
        mm.start_code = bias
        mm.entry = bias
        mm.start_brk = mm.brk = page_align(brk, ps)
        stack_prot = PROT_READ | PROT_WRITE
        for s in segs:
            if s.type == PT_GNU_STACK and s.flags & 1:
                stack_prot |= PROT_EXEC
        size = STACK_EXPAND + ps
        do_mmap(k, self, None, STACK_TOP - size, size, stack_prot,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, 0)
        blob = b"".join(a.encode() + b"\0" for a in argv)
        top = STACK_TOP - len(blob)
        access_vm(k, mm, top, len(blob), blob, False, self.pid)
        mm.start_stack = (top - 8 * (len(argv) + 3)) & ~15
        k.trace.emit(EventKind.PROCESS, "load_elf_binary",
                     "process {} now runs {}: loaded at {:#x}, heap from {:#x}, stack below {:#x}",
                     self.pid, path, bias, mm.start_brk, STACK_TOP)

    # ------------------------------------------------------ IPC and futex
    @syscall
    def shmat(self, shmid: Any, addr: Any = 0, flags: Any = 0) -> int:
        """``shmat(2)`` with an MMU: works; an address is honoured (SHM_RND rounds it)."""
        from ..kernel.ipc import _segment

        shmid, addr, flags = cint(shmid, "shmid"), ulong(addr, "addr"), cint(flags, "flags")
        k = self.kernel
        seg = _segment(k, shmid)
        ps = k.page_size
        mflags = MAP_SHARED
        if addr:
            if addr % ps:
                if not flags & SHM_RND:
                    raise KernelError(E.EINVAL, "do_shmat.unaligned",
                                      f"{addr:#x} is not SHMLBA aligned; pass SHM_RND to round it down")
                addr &= ~(ps - 1)
            mflags |= MAP_FIXED
            if not flags & SHM_REMAP and self.mm.overlapping(addr, addr + page_align(seg.size, ps)):
                raise KernelError(E.EINVAL, "do_shmat.overlap",
                                  f"something is mapped at {addr:#x} already; pass SHM_REMAP to replace it")
        prot = PROT_READ | (0 if flags & SHM_RDONLY else PROT_WRITE) | (PROT_EXEC if flags & SHM_EXEC else 0)
        fmode = FMODE_READ | FMODE_CAN_READ | (0 if flags & SHM_RDONLY else FMODE_WRITE)
        seg.inode.opened += 1
        file = ShmFile(seg.inode, f"/SYSV{seg.key & 0xFFFFFFFF:08x}", fmode, 0, refs=0)
        try:
            got = do_mmap(k, self, file, addr, seg.size, prot, mflags, 0)
        except KernelError:
            seg.inode.opened -= 1
            raise
        seg.nattch += 1
        return got

    @syscall
    def shmdt(self, addr: Any) -> int:
        """``ksys_shmdt``: detach the segment attached at ``addr``.

        The first VMA at or above ``addr`` that maps a segment (``shm_vm_ops``)
        with ``(vm_start - addr) / PAGE_SIZE == vm_pgoff`` names the segment
        and its size; then every VMA of that same attach within the size is
        unmapped too (fragments left by munmap or mprotect).
        """
        addr = ulong(addr, "addr")
        k = self.kernel
        ps = k.page_size
        if addr % ps:
            raise KernelError(E.EINVAL, "ksys_shmdt.unaligned", f"{addr:#x} is not page aligned")

        def attach_at(v: MmuVma) -> bool:
            return isinstance(v.vm_file, ShmFile) and (v.vm_start - addr) // ps == v.vm_pgoff

        first = next((v for v in self.mm.vmas if v.vm_start >= addr and attach_at(v)), None)
        if first is None:
            raise KernelError(E.EINVAL, "ksys_shmdt.not_attached",
                              f"no shm segment is attached at {addr:#x}")
        file = first.vm_file
        assert file is not None
        size = page_align(file.inode.size, ps)
        doomed = [first] + [v for v in self.mm.vmas if v.vm_start > first.vm_start
                            and v.vm_end - addr <= size and attach_at(v) and v.vm_file is file]
        for v in doomed:
            do_munmap(k, self, v.vm_start, v.vm_end - v.vm_start)
        seg = next((g for g in k.shm_segments.values() if g.inode is file.inode), None)
        if seg is not None:
            seg.nattch -= 1
        return 0

    @syscall
    def futex(self, addr: Any, op: Any, val: Any = 0, timeout: Any = None) -> int:
        """``futex(2)`` with an MMU: private futexes key on (mm, address), shared ones on
        the page's file and offset, so two processes meet through shared memory at any address."""
        addr, op, val = ulong(addr, "addr"), cint(op, "op"), cint(val, "val")
        t = None if timeout is None else ulong(timeout, "timeout")
        k = self.kernel
        cmd = op & FUTEX_CMD_MASK
        if cmd not in (FUTEX_WAIT, FUTEX_WAKE):
            raise KernelError(E.ENOSYS, "do_futex.op", f"futex op {op} is not modelled (WAIT and WAKE are)")
        if addr % 4:
            raise KernelError(E.EINVAL, "get_futex_key.unaligned", f"{addr:#x} is not 4-byte aligned")
        key = self._futex_key(addr, bool(op & FUTEX_PRIVATE_FLAG))
        waiters = k.futex_waiters  # by the waiter's own address, as on the no-MMU kernel
        if cmd == FUTEX_WAKE:
            woken: list[MmuProcess] = []
            nr_wake = max(1, val)  # futex_wake wakes one before it compares with nr_wake
            for where, q in list(waiters.items()):
                for w in list(q):
                    if len(woken) < nr_wake and k.futex_keys.get(w.pid) == key:
                        q.remove(w)
                        woken.append(w)
                if not q:
                    del waiters[where]
            for w in woken:
                w.futex_wait = None
                k.futex_keys.pop(w.pid, None)
            k.trace.emit(EventKind.DECISION, "futex_wake", "woke {:n waiter} on key {}",
                         len(woken), key)
            return len(woken)
        (cur,) = struct.unpack("<i", read_nofault(k, self.mm, addr, 4, self.pid))
        if cur != val:
            raise KernelError(E.EAGAIN, "futex_wait.value_changed",
                              f"the word at {addr:#x} is {cur}, not {val}: the wait returns at once")
        if t is not None:
            raise KernelError(E.ETIMEDOUT, "futex_wait.timeout", "nobody woke the waiter in time")
        self.futex_wait = addr
        waiters.setdefault(addr, []).append(self)
        k.futex_keys[self.pid] = key
        k.trace.emit(EventKind.DECISION, "futex_wait", "process {} sleeps on key {}", self.pid, key)
        return 0

    def _futex_key(self, addr: int, private: bool) -> Any:
        """``get_futex_key``: (mm, address) for private memory, (inode, page, offset) for shared.

        ``k.futex_waiters`` stays keyed by each waiter's own address (as on the
        no-MMU kernel); the key that decides who meets whom is ``k.futex_keys``.
        """
        k = self.kernel
        if private:
            return ("mm", self.mm.id, addr)
        v = self.mm.vma_lookup(addr)
        if v is None:
            raise KernelError(E.EFAULT, "get_futex_key.no_page", f"{addr:#x} is not mapped")
        if v.shared and v.vm_file is not None and not v.pfnmap:
            ps = k.page_size
            return ("inode", v.vm_file.inode.key, v.file_index(addr, k.mem.page_shift), addr % ps)
        return ("mm", self.mm.id, addr)

    # -------------------------------------------------------------- ptrace
    def _access_remote(self, target: Any, addr: int, n: int, data: bytes | None) -> bytes:
        """``access_remote_vm`` with FOLL_FORCE: a poke may write into read-only
        private text (copy-on-write breaks)."""
        return access_remote(self.kernel, target, addr, n, data)


__all__ = ["MmuProcess", "handle_mm_fault", "maps_text"]
