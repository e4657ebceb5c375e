"""System V shared memory on no-MMU (``ipc/shm.c``).

``shmget`` makes an unlinked ramfs file and gathers its pages at once with
``ramfs_nommu_expand_for_mapping``. ``shmat`` then maps a *wrapper* file
whose operations have ``mmap`` and ``get_unmapped_area`` but no
``mmap_capabilities`` and no read method. Since Linux 4.0
``validate_mmap_request`` therefore sees a regular file with the default
``COPY`` capability, drops COPY (no read), and refuses the shared mapping
with ENODEV. The document says SysV SHM works; the code says otherwise, and
Linux 6.12 under QEMU agrees with the code.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .constants import (
    IPC_CREAT,
    IPC_EXCL,
    IPC_PRIVATE,
    IPC_RMID,
    MAP_FIXED,
    MAP_SHARED,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    S_IFREG,
    SHM_EXEC,
    SHM_RDONLY,
    SHM_REMAP,
)
from .errors import KernelError
from .trace import EventKind
from .vfs import FMODE_READ, FMODE_WRITE, File, FileOperations, Inode

if TYPE_CHECKING:
    from .kernel import Kernel
    from .mm import VmArea
    from .process import Process

SHMMIN = 1
SHMMAX = (1 << 63) - (1 << 24)


class ShmWrapperOps(FileOperations):
    """``shm_file_operations``: mmap and get_unmapped_area, nothing else.

    No ``mmap_capabilities`` and no read method: exactly what makes
    ``shmat`` fail on current no-MMU kernels.
    """

    name = "sysv-shm"
    can_read = False

    def __init__(self, backing: Inode) -> None:
        self.backing = backing

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        return self.backing.fops.get_unmapped_area(file, addr, length, pgoff, flags)

    def mmap(self, file: File, vma: VmArea) -> int:
        return self.backing.fops.mmap(file, vma)


@dataclass(eq=False)
class ShmFile(File):
    """The file ``shmat`` maps (``shm_file_data``): its VMAs carry ``shm_vm_ops``.

    ``shmdt`` detaches only VMAs mapping such a file, whatever other files are
    called (a regular file may be named ``/SYSV...`` too).
    """


@dataclass(eq=False)
class ShmSegment:
    """One SysV segment: its id, key, size and the ramfs inode holding it."""

    shmid: int
    key: int
    size: int
    inode: Inode
    wrapper: Inode
    removed: bool = False
    nattch: int = 0


def do_shmget(k: Kernel, task: Process, key: int, size: int, flags: int) -> int:
    """``newseg`` / ``ksys_shmget``: find or create a segment; pages gathered now."""
    if key != IPC_PRIVATE:
        for seg in k.shm_segments.values():
            if seg.key == key and not seg.removed:
                if flags & IPC_CREAT and flags & IPC_EXCL:
                    raise KernelError(E.EEXIST, "ipc.eexist", f"a segment with key {key} exists (IPC_EXCL)")
                if size > seg.size:
                    raise KernelError(E.EINVAL, "shm_more_checks.size",
                                      f"the segment with key {key} is only {seg.size} bytes")
                return seg.shmid
        if not flags & IPC_CREAT:
            raise KernelError(E.ENOENT, "ipc.enoent", f"no segment has key {key}; pass IPC_CREAT")
    if size < SHMMIN or size > SHMMAX:
        raise KernelError(E.EINVAL, "newseg.size", f"a segment must be 1 to {SHMMAX} bytes")
    ps = k.page_size
    err = k.ramfs_expand_check(size)
    if err < 0:
        rule = "newseg.efbig" if err == -E.EFBIG else "newseg.enomem"
        raise KernelError(-err, rule, "the segment's pages could not be gathered in one contiguous block")
    # ---- nothing can fail from here on ----
    inode = k._new_inode(k.mounts["/dev/shm"].sb, S_IFREG | (flags & 0o777), k._ramfs_ops)
    inode.nlink = 0  # shm files are never linked into a directory
    err = k.ramfs_resize(inode, size)
    assert err == 0
    inode.opened += 1  # the segment itself holds the file
    wrapper_ops = k.register_ops(ShmWrapperOps(inode))
    wrapper = Inode(inode.ino, S_IFREG | 0o600, inode.sb, wrapper_ops, key=k.next_id())
    shmid = k.next_id()
    k.shm_segments[shmid] = ShmSegment(shmid, key, size, inode, wrapper)
    k.trace.emit(EventKind.ALLOC, "newseg", "SysV segment {} ({} bytes, {:n page}) allocated at "
                 "shmget time, contiguous", shmid, size, (size + ps - 1) // ps)
    return shmid


def _segment(k: Kernel, shmid: int) -> ShmSegment:
    seg = k.shm_segments.get(shmid)
    if seg is None or seg.removed:
        raise KernelError(E.EINVAL, "shm_obtain_object_check.bad_id", f"{shmid} is not a segment id")
    return seg


def do_shmat(k: Kernel, task: Process, shmid: int, addr: int, flags: int) -> int:
    """``do_shmat``: an address becomes MAP_FIXED (EINVAL); NULL maps the wrapper."""
    from .mmap import do_mmap

    seg = _segment(k, shmid)
    if not addr and flags & SHM_REMAP:
        raise KernelError(E.EINVAL, "do_shmat.remap_needs_address",
                          "SHM_REMAP replaces what is mapped at an address; it needs one")
    if addr:
        # shmat turns any address into MAP_FIXED, which validate_mmap_request refuses
        mflags = MAP_SHARED | MAP_FIXED
    else:
        mflags = MAP_SHARED
    prot = PROT_READ | (0 if flags & SHM_RDONLY else PROT_WRITE) | (PROT_EXEC if flags & SHM_EXEC else 0)
    fmode = FMODE_READ | (0 if flags & SHM_RDONLY else FMODE_WRITE)
    seg.wrapper.opened += 1
    file = File(seg.wrapper, f"/SYSV{seg.key:08x}", fmode, 0, refs=1)
    try:
        got = do_mmap(k, task, file, 0, seg.size, prot, mflags, 0)
    except KernelError as e:
        seg.wrapper.opened -= 1
        if e.rule == "validate_mmap_request.map_fixed":
            # the caller passed an address, not MAP_FIXED: the advice is about the address
            raise KernelError(E.EINVAL, e.rule,
                              f"shmat was given the address {addr:#x}, and do_shmat turns any "
                              "address into MAP_FIXED, which mmap refuses without an MMU (the "
                              "kernel decides where memory lives): pass 0 as the address. (Even "
                              "then SysV shmat fails on no-MMU since Linux 4.0: use shm_open, "
                              "ftruncate and mmap)") from None
        if e.rule == "validate_mmap_request.shared_needs_direct":
            raise KernelError(E.ENODEV, "do_shmat.no_capabilities",
                              "the shm attach file declares no mmap capabilities and cannot be "
                              "read, so the regular-file default (COPY) is dropped and a shared "
                              "mapping is refused: SysV shmat does not work on no-MMU since Linux "
                              "4.0 (the document predates this); use POSIX shm_open + ftruncate + "
                              "mmap instead") from None
        raise
    k.fput(file)
    seg.nattch += 1
    return got


def do_shmdt(k: Kernel, task: Process, addr: int) -> int:
    """``ksys_shmdt``: unmap the attachment starting at addr."""
    from .mmap import do_munmap

    for v in task.mm.vmas:
        if v.vm_start == addr and v.vm_file is not None and isinstance(v.vm_file.fops, ShmWrapperOps):
            do_munmap(k, task, addr, v.vm_end - v.vm_start)
            return 0
    raise KernelError(E.EINVAL, "ksys_shmdt.not_attached", f"no shm segment is attached at {addr:#x}")


def do_shmctl(k: Kernel, task: Process, shmid: int, cmd: int) -> int:
    """``shmctl(IPC_RMID)``: the segment goes (its pages with the last user)."""
    seg = _segment(k, shmid)
    if cmd != IPC_RMID:
        raise KernelError(E.EINVAL, "shmctl.cmd", "the model supports IPC_RMID only")
    seg.removed = True
    seg.inode.opened -= 1
    k.maybe_evict(seg.inode)
    del k.shm_segments[shmid]
    return 0
