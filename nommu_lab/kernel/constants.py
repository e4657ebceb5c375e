"""Real Linux values for the flags the model understands.

Every number here is the one a RISC-V Linux user space passes (asm-generic
headers), so code written against the model reads like real C.
"""

from __future__ import annotations

# --- mmap protection (include/uapi/asm-generic/mman-common.h) -------------
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4

# --- mmap flags -------------------------------------------------------------
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_DROPPABLE = 0x08
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_ANON = MAP_ANONYMOUS
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000

MAP_FAILED = -1

# --- mremap -----------------------------------------------------------------
MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

# --- open (asm-generic/fcntl.h) -----------------------------------------------
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_ACCMODE = 0o3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DIRECTORY = 0o200000
O_CLOEXEC = 0o2000000

# --- clone ------------------------------------------------------------------
CSIGNAL = 0xFF
SIGCHLD = 17
SIGILL, SIGKILL, SIGSEGV = 4, 9, 11
SIGNAL_NAMES = {SIGILL: "SIGILL", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV"}
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_THREAD = 0x00010000

# --- System V IPC -------------------------------------------------------------
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000

# --- futex ------------------------------------------------------------------
FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_PRIVATE_FLAG = 128
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | 256)

# --- vm_flags (include/linux/mm.h) --------------------------------------------
VM_NONE = 0x0
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_GROWSDOWN = 0x100
VM_MAYOVERLAY = 0x200  # no-MMU only, since 6.3
VM_PFNMAP = 0x400
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_DONTEXPAND = 0x40000
VM_MAPPED_COPY = 0x01000000  # VM_ARCH_1: region memory is a kernel copy
VM_DONTDUMP = 0x04000000

# --- mmap capabilities (include/linux/fs.h) ---------------------------------
NOMMU_MAP_COPY = 0x00000001
NOMMU_MAP_DIRECT = 0x00000008
NOMMU_MAP_READ = VM_MAYREAD
NOMMU_MAP_WRITE = VM_MAYWRITE
NOMMU_MAP_EXEC = VM_MAYEXEC
NOMMU_VMFLAGS = NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

# --- personality ----------------------------------------------------------------
READ_IMPLIES_EXEC = 0x0400000

# --- file mode bits (stat) ------------------------------------------------------
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

__all__ = [name for name in dir() if name.isupper()]
