"""A process and its syscalls: the calls a learner's program makes.

Every public method that is a syscall runs through :func:`syscall`, which
numbers the call, records it in the trace, records a refusal with its rule,
and tells the views afterwards. Arguments are converted by :mod:`.abi`, the
one conversion layer both kernels share, before the kernel is entered:
integers become 64-bit register values (a negative length is a huge unsigned
one), anything that is not an integer is a ``TypeError`` and an integer that
fits no register a ``ValueError``.
"""

from __future__ import annotations

import errno as E
import functools
import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .abi import as_argv, as_bytes, as_int, as_path, cint, slong, ulong
from .constants import (
    CLONE_VFORK,
    CLONE_VM,
    MAP_ANONYMOUS,
    O_ACCMODE,
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_EXCL,
    O_TRUNC,
    S_IFIFO,
    S_IFREG,
    S_IFSOCK,
    SIGILL,
    SIGNAL_NAMES,
    VM_WRITE,
)
from .devices import FlashMode
from .errors import ArgumentRangeError, KernelError
from .mm import MmStruct, VmaInfo
from .mmap import do_mmap, do_mremap, do_munmap
from .region import RegionInfo
from .trace import SYSCALL_TEMPLATE, EventKind
from .vfs import (
    FMODE_CAN_READ,
    FMODE_READ,
    FMODE_WRITE,
    File,
    Inode,
    PipeOps,
    SocketOps,
    generic_write_check_limits,
    inode_newsize_ok,
    rw_verify_area,
)

if TYPE_CHECKING:
    from .kernel import Kernel, Stat

ULONG = (1 << 64) - 1
PEEK_MAX = 1 << 24  # the model reads at most 16 MiB of memory in one peek
F = TypeVar("F", bound=Callable[..., Any])


_SYSCALL = EventKind.SYSCALL
_NOTHING: dict[str, Any] = {}


def syscall(fn: F) -> F:
    """Make a method a syscall: numbered, traced, refused calls recorded."""
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(self: Process, *args: Any, **kwargs: Any) -> Any:
        k = self.kernel
        tr = k.trace
        k.syscalls += 1
        tr.call = k.syscalls
        tr.pid = self.pid
        if tr._listeners or not tr.enabled:
            tr.emit(_SYSCALL, name, SYSCALL_TEMPLATE, name, args, kwargs or _NOTHING)
        else:  # the hot path: one tuple, formatted only if somebody reads it
            tr._seq += 1
            tr._events.append((tr._seq, _SYSCALL, name, SYSCALL_TEMPLATE, (name, args, kwargs or _NOTHING),
                               self.pid, _NOTHING, k.syscalls))
        try:
            if not self.alive or self.vfork_child is not None or self.futex_wait is not None:
                self._check_runnable(name)
            result = fn(self, *args, **kwargs)
            if self.fatal_signal and self.alive:  # killed during the call (the OOM killer)
                self._die_of_signal(self.fatal_signal)
        except KernelError as e:
            if k.exam:
                e.hide_advice()
            tr.emit(EventKind.REFUSED, e.rule, "{} -> {}", name, e)
            if k._listeners:
                k.notify()
            if k.exam:  # the traceback would show the advice in the raising line
                raise e.with_traceback(None) from None
            raise
        if k._listeners:
            k.notify()
        return result

    wrapper.__syscall__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _pid_maps_text(pid: int, k: Kernel) -> str:
    """The text of ``/proc/<pid>/maps`` at the moment it is read."""
    from .procfs import proc_pid_maps

    p = k.processes.get(pid)
    return proc_pid_maps(k, p.mm) if p is not None else ""


# ---------------------------------------------------------------------------
# the process
# ---------------------------------------------------------------------------
class Process:
    """A task: an address space (``mm``), open files and a state.

    While a vfork child has neither exec'd nor exited, its parent is
    suspended: the parent's own syscalls are refused (EAGAIN, rule
    ``vfork.parent_suspended``), but its maps, VMAs and memory can be read.
    """

    def __init__(self, kernel: Kernel, pid: int, name: str, mm: MmStruct) -> None:
        self.kernel = kernel
        self.pid = pid
        self.name = name
        self.mm = mm
        self.fds: dict[int, File] = {}
        self.close_on_exec: set[int] = set()  # fds with FD_CLOEXEC (opened O_CLOEXEC)
        self.parent: Process | None = None
        self.vfork_child: Process | None = None  # set while we wait for it
        self.vfork_parent: Process | None = None
        self.alive = True
        self.exit_code: int | None = None
        self.fatal_signal = 0  # a SIGKILL sent during our own call, delivered when it returns
        self.killed_by: int | None = None  # the signal that ended us, if one did
        self.ptraced = False
        self.personality = 0
        self.futex_wait: int | None = None
        self.loader_mapping = False  # set while a binfmt loader maps for us

    def __repr__(self) -> str:
        if not self.alive:
            how = (f"killed by {SIGNAL_NAMES.get(self.killed_by, self.killed_by)}"
                   if self.killed_by else f"exited ({self.exit_code})")
            return f"<{type(self).__name__} {self.pid} {self.name!r} {how}>"
        state = "running"
        if self.vfork_child is not None:
            state = f"waiting for vfork child {self.vfork_child.pid}"
        elif self.futex_wait is not None:
            state = f"sleeping in FUTEX_WAIT on {self.futex_wait:#x}"
        n = len(self.mm.vmas)
        return f"<{type(self).__name__} {self.pid} {self.name!r} {state}, {n} VMA{'' if n == 1 else 's'}>"

    # ------------------------------------------------------------ plumbing
    def _check_runnable(self, name: str) -> None:
        if not self.alive:
            raise KernelError(E.ESRCH, "task.exited",
                              f"process {self.pid} has exited; it can make no more calls")
        if self.vfork_child is not None:
            raise KernelError(E.EAGAIN, "vfork.parent_suspended",
                              f"process {self.pid} is suspended until its vfork child "
                              f"{self.vfork_child.pid} calls execve() or exit(); make the child do that first")
        if self.futex_wait is not None:
            raise KernelError(E.EAGAIN, "futex.blocked",
                              f"process {self.pid} sleeps in FUTEX_WAIT on {self.futex_wait:#x}; "
                              "another process must FUTEX_WAKE it first")

    def _install_fd(self, file: File, cloexec: bool = False) -> int:
        """``fd_install`` at the lowest free number; ``cloexec`` sets FD_CLOEXEC."""
        fd = 0
        while fd in self.fds:
            fd += 1
        self.fds[fd] = file
        if cloexec:
            self.close_on_exec.add(fd)
        file.refs += 1
        return fd

    def _do_close_on_exec(self) -> None:
        """``do_close_on_exec`` (``begin_new_exec``): close every FD_CLOEXEC fd."""
        k = self.kernel
        for fd in sorted(self.close_on_exec):
            f = self.fds.pop(fd)
            k.fput(f)
            k.trace.emit(EventKind.DECISION, "do_close_on_exec",
                         "fd {} ({}) was opened with O_CLOEXEC: execve closes it", fd, f.path)
        self.close_on_exec.clear()

    def _file(self, fd: Any) -> File:
        fd = cint(fd, "fd")
        f = self.fds.get(fd)
        if f is None:
            raise KernelError(E.EBADF, "fdget.bad_fd",
                              f"{fd} is not an open file descriptor of process {self.pid}")
        return f

    # ------------------------------------------------------------- observers
    def vmas(self) -> list[VmaInfo]:
        """The process's VMAs in address order (what /proc/<pid>/maps lists)."""
        return [VmaInfo(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff,
                        v.vm_file.path if v.vm_file else None, RegionInfo.of(v.vm_region))
                for v in self.mm.vmas]

    def maps(self) -> str:
        """The text of ``/proc/<pid>/maps``."""
        from .procfs import proc_pid_maps

        if not self.alive:
            raise KernelError(E.ESRCH, "proc.pid_gone", f"/proc/{self.pid} no longer exists")
        return proc_pid_maps(self.kernel, self.mm)

    def peek(self, addr: Any, n: Any) -> bytes:
        """Read memory as this process (or a debugger, or /proc) would see it.

        No MMU: any address with RAM or a device behind it can be read; a
        flash chip busy programming answers with status bytes.
        """
        addr = ulong(addr, "addr")
        n = ulong(n, "n")
        if n > PEEK_MAX:
            raise ArgumentRangeError("peek at most 16 MiB at a time")
        return self._peek(addr, n)

    def _peek(self, addr: int, n: int) -> bytes:
        """The load itself: no MMU, so the physical address is read."""
        return self.kernel.phys_read(addr, n)

    @syscall
    def poke(self, addr: Any, data: Any) -> int:
        """A store by the running process: nothing enforces protection bits."""
        addr = ulong(addr, "addr")
        data = as_bytes(data)
        k = self.kernel
        if not k.addressable(addr, len(data)):
            raise KernelError(E.EFAULT, "bus.no_memory",
                              f"nothing answers at {addr:#x}: the store faults (SIGBUS)")
        vma = self.mm.find_vma(addr)
        if vma is None or addr + len(data) > vma.vm_end:
            k.trace.emit(EventKind.HAZARD, "nommu.no_protection.outside_vma",
                         "the store to {:#x} lies outside this process's mappings: without an MMU "
                         "nothing stops it (an MMU kernel would send SIGSEGV)", addr)
        elif not vma.vm_flags & VM_WRITE:
            k.trace.emit(EventKind.HAZARD, "nommu.no_protection.readonly",
                         "the mapping at {:#x} is not writable, but without an MMU protection bits "
                         "are recorded, never enforced: the store succeeds", vma.vm_start)
        k.phys_write(addr, data)
        return len(data)

    def _cpu_start(self, instructions: Any) -> tuple[Kernel, int, int]:
        """The checks before the CPU runs a program: (kernel, instructions, pc)."""
        k = self.kernel
        self._check_runnable("run")
        n = as_int(instructions, "instructions")
        if n < 0:
            raise ArgumentRangeError("instructions must be >= 0")
        pc = self.mm.entry
        if not pc and self.mm.exe:
            raise KernelError(E.ENOEXEC, "cpu.no_entry",
                              f"{self.mm.exe}'s entry point (e_entry) lies in none of its loaded "
                              "segments, so it would start at address 0 and fault: the program is broken")
        if not pc:
            raise KernelError(E.ENOEXEC, "cpu.no_program",
                              f"process {self.pid} has not exec'd a program; call execve() first")
        k.trace.pid = self.pid
        return k, n, pc

    def run(self, instructions: int = 8) -> int:
        """Let the CPU fetch and execute the program's next instructions.

        The fetch goes through the memory bus like any load: a program
        executing in place from flash fetches whatever the chip answers. A
        word of all zeroes or all ones is an illegal instruction on RISC-V,
        so a program whose flash is busy programming dies with SIGILL.
        Returns how many instructions ran.
        """
        import struct

        k, n, pc = self._cpu_start(instructions)
        for i in range(n):
            (word,) = struct.unpack("<I", k.phys_read(pc + 4 * i, 4))
            if word in (0, 0xFFFFFFFF):
                at = pc + 4 * i
                chip = next((c for c in k.bus if c.contains(at)), None)
                k.trace.emit(EventKind.HAZARD, "cpu.illegal_instruction",
                             "process {} fetched {:#010x} at {:#x}: an illegal instruction{}: SIGILL",
                             self.pid, word, at,
                             ". Its text is executed in place from flash, and the chip is answering "
                             "with status bytes instead of code" if chip is not None
                             and chip.mode is not FlashMode.READ_ARRAY else
                             " (an all-zero or all-ones word is never an instruction on RISC-V)")
                self._die_of_signal(SIGILL)
                return i
        k.trace.emit(EventKind.PROCESS, "cpu.run", "process {} ran {:n instruction} from {:#x}",
                     self.pid, n, pc)
        self.mm.entry = pc  # the model's programs loop over their first words
        k.notify()
        return n

    # -------------------------------------------------------------- files
    @syscall
    def open(self, path: Any, flags: Any = 0, mode: Any = 0o644) -> int:
        """``open(2)``: O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND."""
        path = as_path(path)
        flags = cint(flags, "flags")
        mode = cint(mode, "mode")
        k = self.kernel
        if not path.startswith("/"):
            raise KernelError(E.ENOENT, "do_sys_open.relative",
                              "the model has no current directory: give an absolute path")
        path = posixpath.normpath(path)
        acc = flags & O_ACCMODE
        if acc == 3:
            raise KernelError(E.EINVAL, "do_sys_open.accmode", "O_ACCMODE 3 is not a valid access mode")
        inode = k.lookup(path) or self._proc_pid_file(path)
        created = False
        if inode is None:
            if not flags & O_CREAT:
                raise KernelError(E.ENOENT, "do_sys_open.enoent", f"{path} does not exist")
            parent = k.lookup(posixpath.dirname(path))
            if parent is None or not parent.is_dir:
                raise KernelError(E.ENOENT, "do_sys_open.no_parent",
                                  f"the directory {posixpath.dirname(path)} does not exist")
            if parent.sb.readonly:
                raise KernelError(E.EROFS, "do_sys_open.erofs",
                                  f"{posixpath.dirname(path)} is on a read-only filesystem")
            if parent.sb.file_ops is None:
                raise KernelError(E.EACCES, "do_sys_open.cannot_create",
                                  f"files cannot be created in {posixpath.dirname(path)}")
            created = True
        elif flags & O_CREAT and flags & O_EXCL:
            raise KernelError(E.EEXIST, "do_sys_open.eexist", f"{path} already exists (O_EXCL)")
        fmode = {0: FMODE_READ, 1: FMODE_WRITE, 2: FMODE_READ | FMODE_WRITE}[acc]
        if inode is not None:
            if inode.is_dir and fmode & FMODE_WRITE:
                raise KernelError(E.EISDIR, "do_sys_open.eisdir", f"{path} is a directory")
            if (fmode & FMODE_WRITE or flags & O_TRUNC) and inode.sb.readonly and inode.kind == S_IFREG:
                raise KernelError(E.EROFS, "do_sys_open.erofs",
                                  f"{path} is on a read-only filesystem ({inode.sb.fstype})")
            err = inode.fops.open(inode, fmode)
            if err < 0:
                raise KernelError(-err, "do_sys_open.driver",
                                  f"the driver of {path} refused this open mode")
        if created:
            inode = k.create_file(path, mode=mode & 0o7777)
        assert inode is not None
        if inode.key == 0:  # a /proc/<pid> file made for this open: numbered once it is sure
            inode.ino, inode.key = inode.sb.new_ino(), k.next_id()
        # O_TRUNC asks for write permission itself (build_open_flags), so Linux
        # truncates even with O_RDONLY
        if flags & O_TRUNC and inode.is_reg and inode.size:
            err = inode.fops.truncate(inode, 0)
            if err < 0:
                raise KernelError(-err, "do_sys_open.truncate", f"{path} cannot be truncated")
        if inode.fops.can_read:
            fmode |= FMODE_CAN_READ
        inode.opened += 1
        return self._install_fd(File(inode, path, fmode, flags, refs=0), bool(flags & O_CLOEXEC))

    def _proc_pid_file(self, path: str) -> Inode | None:
        """``/proc/self/maps`` and ``/proc/<pid>/maps``: readable, no mmap method."""
        import functools
        import re

        m = re.fullmatch(r"/proc/(self|\d+)/maps", path)
        if m is None:
            return None
        pid = self.pid if m.group(1) == "self" else int(m.group(1))
        k = self.kernel
        if pid not in k.processes:
            return None
        node = Inode(0, S_IFREG | 0o444, k.mounts["/proc"].sb, k._proc_ops)  # numbered by open
        node.nlink = 0
        node.target = functools.partial(_pid_maps_text, pid)
        return node

    @syscall
    def close(self, fd: Any) -> int:
        """``close(2)``."""
        f = self._file(fd)
        fd = cint(fd, "fd")
        del self.fds[fd]
        self.close_on_exec.discard(fd)
        self.kernel.fput(f)
        return 0

    @syscall
    def dup(self, fd: Any) -> int:
        """``dup(2)``: another fd for the same open file (without FD_CLOEXEC)."""
        return self._install_fd(self._file(fd))

    def _access_ok(self, count: int) -> None:
        """``access_ok`` on the caller's buffer: always true without an MMU."""

    def _driver_refusal(self, f: File, err: int, rule: str, sentence: str) -> KernelError:
        """The refusal for a driver's ``-errno``: the driver's own rule when it names one."""
        rule, sentence = f.fops.refusals.get(err, (rule, sentence))
        return KernelError(err, rule, sentence)

    def _read(self, f: File, n: int, pos: int) -> bytes:
        """``vfs_read``: open for reading, a read method, the buffer, ``rw_verify_area``;
        then the driver, for at most as many bytes as the machine has RAM (the model's
        ``MAX_RW_COUNT``: no process can hold a larger buffer)."""
        if not f.f_mode & FMODE_READ:
            raise KernelError(E.EBADF, "vfs_read.not_open_for_read", "the file was not opened for reading")
        if not f.f_mode & FMODE_CAN_READ:
            raise KernelError(E.EINVAL, "vfs_read.no_read_method",
                              f"{f.path}'s driver has no read method: it cannot be read")
        self._access_ok(n)
        rw_verify_area(pos, n, "read")
        data = f.fops.read(f, min(n, self.kernel.mem.ram_size), pos)
        if isinstance(data, int):
            raise self._driver_refusal(f, -data, "vfs_read.driver", f"reading {f.path} failed")
        return data

    def _write(self, f: File, data: bytes, pos: int) -> int:
        """``vfs_write``: open for writing, the buffer, ``rw_verify_area``, and for a regular
        file ``generic_write_check_limits``; then the driver."""
        if not f.f_mode & FMODE_WRITE:
            raise KernelError(E.EBADF, "vfs_write.not_open_for_write", "the file was not opened for writing")
        self._access_ok(len(data))
        rw_verify_area(pos, len(data), "write")
        count = min(len(data), self.kernel.mem.ram_size)
        if count and f.inode.is_reg:
            count = generic_write_check_limits(f, pos, count)
        ret = f.fops.write(f, data[:count] if count < len(data) else data, pos)
        if ret < 0:
            raise self._driver_refusal(f, -ret, "vfs_write.driver",
                                       f"writing {f.path} failed ({E.errorcode.get(-ret, -ret)})")
        return ret

    @syscall
    def read(self, fd: Any, n: Any) -> bytes:
        """``read(2)``: up to n bytes from the file position."""
        f = self._file(fd)
        data = self._read(f, ulong(n, "n"), f.pos)
        f.pos += len(data)
        return data

    @syscall
    def write(self, fd: Any, data: Any) -> int:
        """``write(2)`` at the file position (the end with O_APPEND)."""
        f = self._file(fd)
        data = as_bytes(data)
        pos = f.inode.size if f.flags & O_APPEND else f.pos
        n = self._write(f, data, pos)
        f.pos = pos + n  # a refused write leaves the position where it was
        return n

    def _seekable(self, f: File) -> None:
        if f.inode.kind in (S_IFIFO, S_IFSOCK):
            raise KernelError(E.ESPIPE, "vfs.espipe", "pipes and sockets have no file position")

    @syscall
    def pread(self, fd: Any, n: Any, offset: Any) -> bytes:
        """``pread(2)`` (``ksys_pread64``: a negative offset is refused before the fd)."""
        n, offset = ulong(n, "n"), slong(offset, "offset")
        if offset < 0:
            raise KernelError(E.EINVAL, "vfs.negative_offset", "the offset must not be negative")
        f = self._file(fd)
        self._seekable(f)
        return self._read(f, n, offset)

    @syscall
    def pwrite(self, fd: Any, data: Any, offset: Any) -> int:
        """``pwrite(2)`` (``ksys_pwrite64``: a negative offset is refused before the fd)."""
        data, offset = as_bytes(data), slong(offset, "offset")
        if offset < 0:
            raise KernelError(E.EINVAL, "vfs.negative_offset", "the offset must not be negative")
        f = self._file(fd)
        self._seekable(f)
        return self._write(f, data, offset)

    @syscall
    def ftruncate(self, fd: Any, length: Any) -> int:
        """``ftruncate(2)`` (``do_sys_ftruncate``, then ``inode_newsize_ok`` and the
        filesystem); on no-MMU ramfs, growing an empty file gathers contiguous pages."""
        length = slong(length, "length")
        if length < 0:
            raise KernelError(E.EINVAL, "do_ftruncate.negative", "the length must not be negative")
        f = self._file(fd)
        if f.inode.kind != S_IFREG or not f.f_mode & FMODE_WRITE:
            raise KernelError(E.EINVAL, "do_ftruncate.not_writable_file",
                              "ftruncate needs a regular file opened for writing")
        if f.inode.append_only:
            raise KernelError(E.EPERM, "do_ftruncate.append_only",
                              "an append-only file cannot be truncated")
        if f.inode.sb.readonly:
            raise KernelError(E.EROFS, "do_ftruncate.erofs", "read-only filesystem")
        inode_newsize_ok(f.inode, length)
        ret = f.fops.truncate(f.inode, length)
        if ret < 0:
            rule, why = self._truncate_refusals.get(
                -ret, ("do_truncate.failed", "the filesystem refused the new size"))
            raise KernelError(-ret, rule, why)
        self._after_truncate(f, length)
        return 0

    # why a truncate is refused, by errno (no-MMU ramfs: ramfs_nommu_resize)
    _truncate_refusals: ClassVar[dict[int, tuple[str, str]]] = {
        E.ETXTBSY: ("nommu_shrink_inode_mappings.shared_mapping",
                    "a MAP_SHARED mapping covers the part being cut off; unmap it first"),
        E.EFBIG: ("ramfs_nommu_expand_for_mapping.too_big",
                  "the size needs a block larger than the allocator's largest"),
        E.ENOMEM: ("ramfs_nommu_expand_for_mapping.no_memory",
                   "there is no contiguous run of free pages that large"),
    }

    def _after_truncate(self, f: File, length: int) -> None:
        """What the mm does once a file's size changed (nothing more without an MMU)."""

    @syscall
    def fstat(self, fd: Any) -> Stat:
        """``fstat(2)``: mode, inode, device and size."""
        from .kernel import Stat

        i = self._file(fd).inode
        return Stat(i.mode, i.ino, i.sb.dev, i.size, i.nlink)

    @syscall
    def unlink(self, path: Any) -> int:
        """``unlink(2)``: the file goes when no fd or mapping holds it."""
        path = posixpath.normpath(as_path(path))
        k = self.kernel
        parent = k.lookup(posixpath.dirname(path))
        name = posixpath.basename(path)
        if parent is None or name not in parent.children:
            raise KernelError(E.ENOENT, "do_unlinkat.enoent", f"{path} does not exist")
        if parent.sb.readonly:
            raise KernelError(E.EROFS, "do_unlinkat.erofs", f"{path} is on a read-only filesystem")
        if parent.children[name].is_dir:
            raise KernelError(E.EISDIR, "do_unlinkat.eisdir", f"{path} is a directory")
        k.unlink_inode(parent, name)
        return 0

    @syscall
    def pipe(self) -> tuple[int, int]:
        """``pipe(2)``: a read end and a write end (neither can be mapped)."""
        k = self.kernel
        ops = k.register_ops(PipeOps())
        sb = k.mounts["/"].sb
        inode = k._new_inode(sb, S_IFIFO | 0o600, ops)
        inode.target = bytearray()
        inode.opened += 2
        r = self._install_fd(File(inode, f"pipe:[{inode.ino}]", FMODE_READ | FMODE_CAN_READ, 0, refs=0))
        w = self._install_fd(File(inode, f"pipe:[{inode.ino}]", FMODE_WRITE, 0, refs=0))
        return r, w

    @syscall
    def socket(self) -> int:
        """``socket(2)`` (a stream socket; its inode type has no mmap default)."""
        k = self.kernel
        ops = k.register_ops(SocketOps())
        inode = k._new_inode(k.mounts["/"].sb, S_IFSOCK | 0o777, ops)
        inode.opened += 1
        return self._install_fd(File(inode, f"socket:[{inode.ino}]",
                                     FMODE_READ | FMODE_WRITE | FMODE_CAN_READ, 0, refs=0))

    # ------------------------------------------------------------- memory
    @syscall
    def mmap(self, addr: Any, length: Any, prot: Any, flags: Any, fd: Any = -1, offset: Any = 0) -> int:
        """``mmap(2)`` on RISC-V: a byte offset that must be page aligned.

        The entry checks (``sys_mmap``, ``ksys_mmap_pgoff``) are the same with
        or without an MMU; what follows is the kernel's ``do_mmap``.
        """
        addr = ulong(addr, "addr")
        length = ulong(length, "length")
        prot = ulong(prot, "prot")
        flags = ulong(flags, "flags")
        fd = cint(fd, "fd")
        offset = slong(offset, "offset")  # off_t: signed, whichever way it is spelled
        k = self.kernel
        if offset & (k.page_size - 1):
            raise KernelError(E.EINVAL, "sys_mmap.unaligned_offset",
                              f"offset {offset:#x} is not a multiple of the page size ({k.page_size})")
        pgoff = (offset >> k.mem.page_shift) & ULONG
        file = None
        if not flags & MAP_ANONYMOUS:
            file = self.fds.get(fd)
            if file is None:
                raise KernelError(E.EBADF, "ksys_mmap_pgoff.bad_fd",
                                  f"fd {fd} is not open: pass an open fd, or MAP_ANONYMOUS")
        self._hugetlb_checks(file, flags)
        return self._do_mmap(k, self, file, addr, length, prot, flags, pgoff)

    def _hugetlb_checks(self, file: File | None, flags: int) -> None:
        """``ksys_mmap_pgoff`` in mm/nommu.c has none: MAP_HUGETLB (and the MAP_HUGE_*
        size bits) are ignored and the request is mapped like any other."""

    # the kernel's mm functions, one place for each kernel (the MMU kernel swaps them)
    _do_mmap = staticmethod(do_mmap)
    _do_munmap = staticmethod(do_munmap)
    _do_mremap = staticmethod(do_mremap)

    @syscall
    def munmap(self, addr: Any, length: Any) -> int:
        """``munmap(2)``: the kernel's ``do_munmap`` (no MMU: whole file mappings only)."""
        self._do_munmap(self.kernel, self, ulong(addr, "addr"), ulong(length, "length"))
        return 0

    @syscall
    def mremap(self, addr: Any, old_len: Any, new_len: Any, flags: Any = 0, new_addr: Any = 0) -> int:
        """``mremap(2)``: the kernel's ``do_mremap`` (no MMU: resize in place, never move)."""
        return self._do_mremap(self.kernel, self, ulong(addr, "addr"), ulong(old_len, "old_len"),
                               ulong(new_len, "new_len"), ulong(flags, "flags"),
                               ulong(new_addr, "new_addr"))

    def _enosys(self, name: str) -> None:
        raise KernelError(E.ENOSYS, f"sys_ni_syscall.{name}",
                          f"{name}() does not exist without an MMU (mm/{name}.c is MMU-only): "
                          "a mapping keeps the protection it was created with")

    @syscall
    def mprotect(self, addr: Any, length: Any, prot: Any) -> int:
        """``mprotect(2)``: ENOSYS without an MMU."""
        ulong(addr, "addr"), ulong(length, "length"), ulong(prot, "prot")
        self._enosys("mprotect")
        return 0

    @syscall
    def msync(self, addr: Any, length: Any, flags: Any = 0) -> int:
        """``msync(2)``: ENOSYS without an MMU."""
        ulong(addr, "addr"), ulong(length, "length"), ulong(flags, "flags")
        self._enosys("msync")
        return 0

    @syscall
    def madvise(self, addr: Any, length: Any, advice: Any = 0) -> int:
        """``madvise(2)``: ENOSYS without an MMU."""
        ulong(addr, "addr"), ulong(length, "length"), ulong(advice, "advice")
        self._enosys("madvise")
        return 0

    @syscall
    def mlock(self, addr: Any, length: Any) -> int:
        """``mlock(2)``: ENOSYS without an MMU."""
        ulong(addr, "addr"), ulong(length, "length")
        self._enosys("mlock")
        return 0

    @syscall
    def brk(self, addr: Any = 0) -> int:
        """``brk(2)``: only inside the gap the loader left; returns the break."""
        addr = ulong(addr, "addr")
        mm = self.mm
        if addr < mm.start_brk or addr > mm.end_brk:
            self.kernel.trace.emit(EventKind.DECISION, "sys_brk.out_of_range",
                                   "{:#x} is outside [start_brk, end_brk] = [{:#x}, {:#x}]: the "
                                   "break stays at {:#x}", addr, mm.start_brk, mm.end_brk, mm.brk)
            return mm.brk
        mm.brk = addr
        return addr

    # ---------------------------------------------------------- processes
    @syscall
    def fork(self) -> Process:
        """``fork(2)``: impossible without an MMU."""
        k = self.kernel
        if k.arch == "riscv":
            raise KernelError(E.ENOSYS, "fork.no_syscall",
                              "RISC-V has no fork syscall at all, and without an MMU nothing could "
                              "give the child its own copy of the parent's memory; use vfork() "
                              "then execve()")
        raise KernelError(E.EINVAL, "fork.nommu",
                          "fork() needs an MMU to give the child copies of the parent's pages; "
                          "use vfork() then execve()")

    @syscall
    def vfork(self) -> Process:
        """``vfork(2)``: the child borrows our mm; we wait until it execs or exits."""
        child = self._new_child(share_mm=True)
        self.vfork_child = child
        child.vfork_parent = self
        self.kernel.trace.emit(EventKind.PROCESS, "vfork",
                               "vfork: child {} runs in the parent's address space; parent {} "
                               "waits until it calls execve() or exit()", child.pid, self.pid)
        return child

    @syscall
    def clone(self, flags: Any = 0) -> Process:
        """``clone(2)``: CLONE_VM shares the mm; without it the child gets an empty mm."""
        flags = ulong(flags, "flags")
        k = self.kernel
        child = self._new_child(share_mm=bool(flags & CLONE_VM))
        if flags & CLONE_VFORK:
            self.vfork_child = child
            child.vfork_parent = self
        if flags & CLONE_VM:
            k.trace.emit(EventKind.PROCESS, "clone.vm", "clone(CLONE_VM): child {} shares the "
                         "parent's mm", child.pid)
        else:
            self._explain_clone_copy(child)
        return child

    def _explain_clone_copy(self, child: Process) -> None:
        self.kernel.trace.emit(
            EventKind.PROCESS, "clone.no_vm",
            "clone without CLONE_VM is not refused: child {} gets an empty mm (no VMAs: "
            "dup_mmap copies none without an MMU) yet still runs on the same physical memory "
            "as its parent", child.pid)

    def _new_child(self, share_mm: bool) -> Process:
        """``copy_process``: a task sharing our mm, or with a duplicate of it."""
        k = self.kernel
        if share_mm:
            mm = self.mm
            mm.users += 1
        else:
            mm = self._dup_mm()
        child = type(self)(k, k._alloc_pid(), self.name, mm)
        child.parent = self
        child.personality = self.personality
        for fd, f in self.fds.items():
            child.fds[fd] = f
            f.refs += 1
        child.close_on_exec = set(self.close_on_exec)  # dup_fd copies the FD_CLOEXEC bits
        k.processes[child.pid] = child
        return child

    def _dup_mm(self) -> MmStruct:
        """``dup_mm`` without an MMU: only the executable's link, no VMAs at all."""
        mm = self.kernel._new_mm()
        mm.exe = self.mm.exe
        return mm

    @syscall
    def exit(self, code: Any = 0) -> None:
        """``exit(2)``: release the mm (if last user), close files, wake a vfork parent."""
        code = cint(code, "code")
        self._do_exit(code)

    def _die_of_signal(self, sig: int) -> None:
        """Killed by ``sig``: off any futex queue, then ``do_exit`` (a shell shows 128 + sig)."""
        self._leave_futex_queue()
        self.killed_by = sig
        self.fatal_signal = 0
        self._do_exit(128 + sig)
        self.kernel.notify()

    def _leave_futex_queue(self) -> None:
        """A sleeper that dies leaves its futex wait queue."""
        addr = self.futex_wait
        if addr is None:
            return
        waiters = self.kernel.futex_waiters
        q = waiters.get(addr, [])
        if self in q:
            q.remove(self)
        if not q:
            waiters.pop(addr, None)
        self.futex_wait = None

    def _do_exit(self, code: int) -> None:
        k = self.kernel
        self._release_mm()
        for f in list(self.fds.values()):
            k.fput(f)
        self.fds.clear()
        self.close_on_exec.clear()
        self._wake_vfork_parent("exit")
        self.alive = False
        self.exit_code = code
        k.processes.pop(self.pid, None)
        if self.killed_by:
            k.trace.emit(EventKind.PROCESS, "do_exit", "process {} was killed by {} (a shell shows "
                         "status {})", self.pid, SIGNAL_NAMES.get(self.killed_by, self.killed_by), code)
        else:
            k.trace.emit(EventKind.PROCESS, "do_exit", "process {} exited with {}", self.pid, code)

    def _release_mm(self) -> None:
        """``mmput``: the last user of an mm tears down every VMA (``exit_mmap``)."""
        from .mmap import delete_vma

        mm = self.mm
        mm.users -= 1
        if mm.users > 0:
            return
        k = self.kernel
        for vma in list(mm.vmas):
            mm.remove(vma)
            delete_vma(k, vma)
        mm.total_vm = 0

    def _wake_vfork_parent(self, why: str) -> None:
        parent = self.vfork_parent
        if parent is not None:
            parent.vfork_child = None
            self.vfork_parent = None
            self.kernel.trace.emit(EventKind.PROCESS, "vfork.release",
                                   "child {} called {}: parent {} runs again", self.pid, why, parent.pid)

    @syscall
    def execve(self, path: Any, argv: Any = None) -> int:
        """``execve(2)`` through the flat or ELF-FDPIC loader."""
        from .binfmt import do_execve

        path = as_path(path)
        do_execve(self.kernel, self, posixpath.normpath(path), as_argv(argv, path))
        return 0

    # ------------------------------------------------------ IPC and futex
    @syscall
    def shmget(self, key: Any, size: Any, flags: Any = 0) -> int:
        """``shmget(2)``: the segment's pages are gathered at once (contiguous)."""
        from .ipc import do_shmget

        return do_shmget(self.kernel, self, cint(key, "key"), ulong(size, "size"), cint(flags, "flags"))

    @syscall
    def shmat(self, shmid: Any, addr: Any = 0, flags: Any = 0) -> int:
        """``shmat(2)``; on Linux 4.0+ no-MMU this is ENODEV (see the trace)."""
        from .ipc import do_shmat

        return do_shmat(self.kernel, self, cint(shmid, "shmid"), ulong(addr, "addr"), cint(flags, "flags"))

    @syscall
    def shmdt(self, addr: Any) -> int:
        """``shmdt(2)``."""
        from .ipc import do_shmdt

        return do_shmdt(self.kernel, self, ulong(addr, "addr"))

    @syscall
    def shmctl(self, shmid: Any, cmd: Any) -> int:
        """``shmctl(2)``: IPC_RMID."""
        from .ipc import do_shmctl

        return do_shmctl(self.kernel, self, cint(shmid, "shmid"), cint(cmd, "cmd"))

    @syscall
    def shm_open(self, name: Any, flags: Any, mode: Any = 0o600) -> int:
        """``shm_open(3)``: open ``/dev/shm/<name>`` (ramfs on no-MMU).

        glibc adds O_CLOEXEC (POSIX: FD_CLOEXEC is set), so execve closes it.
        """
        name = as_path(name)
        flags = cint(flags, "flags")
        if not name.startswith("/") or "/" in name[1:] or name in ("/", "/.", "/.."):
            raise KernelError(E.EINVAL, "shm_open.bad_name",
                              "a POSIX shm name is one '/' followed by a name without '/'")
        return Process.open.__wrapped__(self, "/dev/shm" + name,  # type: ignore[attr-defined]
                                        flags | O_CLOEXEC, mode)

    @syscall
    def shm_unlink(self, name: Any) -> int:
        """``shm_unlink(3)``."""
        name = as_path(name)
        return Process.unlink.__wrapped__(self, "/dev/shm" + name)  # type: ignore[attr-defined]

    @syscall
    def futex(self, addr: Any, op: Any, val: Any = 0, timeout: Any = None) -> int:
        """``futex(2)``: FUTEX_WAIT and FUTEX_WAKE with the current no-MMU key rules."""
        from .futex import do_futex

        t = None if timeout is None else ulong(timeout, "timeout")
        return do_futex(self.kernel, self, ulong(addr, "addr"), cint(op, "op"), cint(val, "val"), t)

    # -------------------------------------------------------------- ptrace
    @syscall
    def ptrace_attach(self, pid: Any) -> int:
        """``PTRACE_ATTACH``: from now on the target's new read-only private
        file mappings are not shareable (they become private copies)."""
        target = self.kernel.process(cint(pid, "pid"))
        target.ptraced = True
        return 0

    @syscall
    def ptrace_peek(self, pid: Any, addr: Any) -> bytes:
        """``PTRACE_PEEKDATA``: one 8-byte word of an attached tracee."""
        return self._access_remote(self._tracee(pid), ulong(addr, "addr"), 8, None)

    @syscall
    def ptrace_poke(self, pid: Any, addr: Any, data: Any) -> int:
        """``PTRACE_POKEDATA``: up to 8 bytes into an attached tracee."""
        data = as_bytes(data)
        if len(data) > 8:
            raise ArgumentRangeError("PTRACE_POKEDATA writes one word (8 bytes) at most")
        self._access_remote(self._tracee(pid), ulong(addr, "addr"), len(data), data)
        return 0

    def _access_remote(self, target: Process, addr: int, n: int, data: bytes | None) -> bytes:
        """``access_process_vm`` without an MMU: the VMA's MAY flags decide."""
        from .ptrace import access_process_vm

        return access_process_vm(self.kernel, target, addr, n, data)

    def _tracee(self, pid: Any) -> Process:
        target = self.kernel.process(cint(pid, "pid"))
        if not target.ptraced:
            raise KernelError(E.ESRCH, "ptrace_check_attach.not_traced",
                              f"process {target.pid} is not traced; call ptrace_attach({target.pid}) first")
        return target
