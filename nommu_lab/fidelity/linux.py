"""Linux numbers the scenario language and the oracle need.

The values are those of RISC-V Linux user space (asm-generic headers), the
same as ``nommu_lab.constants``; they are kept here too so that the fidelity
package (and the oracle build) work without importing the model.  A test
checks that both tables agree.
"""

from __future__ import annotations

import errno as _errno

PAGE_SIZE = 4096

SYMBOLS: dict[str, int] = {
    # mmap protection and flags
    "PROT_NONE": 0x0, "PROT_READ": 0x1, "PROT_WRITE": 0x2, "PROT_EXEC": 0x4,
    "MAP_SHARED": 0x01, "MAP_PRIVATE": 0x02, "MAP_SHARED_VALIDATE": 0x03,
    "MAP_DROPPABLE": 0x08, "MAP_TYPE": 0x0F, "MAP_FIXED": 0x10, "MAP_ANONYMOUS": 0x20,
    "MAP_ANON": 0x20, "MAP_GROWSDOWN": 0x0100, "MAP_DENYWRITE": 0x0800,
    "MAP_EXECUTABLE": 0x1000, "MAP_LOCKED": 0x2000, "MAP_NORESERVE": 0x4000,
    "MAP_POPULATE": 0x8000, "MAP_NONBLOCK": 0x10000, "MAP_STACK": 0x20000,
    "MAP_HUGETLB": 0x40000, "MAP_SYNC": 0x80000, "MAP_FIXED_NOREPLACE": 0x100000,
    "MAP_UNINITIALIZED": 0x4000000,
    # mremap
    "MREMAP_MAYMOVE": 1, "MREMAP_FIXED": 2, "MREMAP_DONTUNMAP": 4,
    # open
    "O_RDONLY": 0o0, "O_WRONLY": 0o1, "O_RDWR": 0o2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_NOCTTY": 0o400, "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000,
    "O_DIRECTORY": 0o200000, "O_CLOEXEC": 0o2000000,
    # clone
    "CLONE_VM": 0x100, "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_VFORK": 0x4000,
    # System V IPC
    "IPC_PRIVATE": 0, "IPC_CREAT": 0o1000, "IPC_EXCL": 0o2000, "SHM_RDONLY": 0o10000,
    "SHM_RND": 0o20000,
    # futex
    "FUTEX_WAIT": 0, "FUTEX_WAKE": 1, "FUTEX_PRIVATE_FLAG": 128,
}

#: errno number -> name, as Linux numbers them (asm-generic/errno-base.h, errno.h)
ERRNO_NAMES: dict[int, str] = {
    num: name
    for name, num in vars(_errno).items()
    if name.startswith("E") and isinstance(num, int) and name not in ("EWOULDBLOCK", "EDEADLOCK", "ENOTSUP")
}


def errno_name(num: int) -> str:
    """``22`` -> ``"EINVAL"``."""
    return ERRNO_NAMES.get(num, f"E{num}")


#: the signals a scenario's process can be killed by, as Linux numbers them
SIGNAL_NAMES: dict[int, str] = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 9: "SIGKILL", 11: "SIGSEGV"}


def signal_name(num: int) -> str:
    """``9`` -> ``"SIGKILL"``."""
    return SIGNAL_NAMES.get(num, f"signal {num}")
