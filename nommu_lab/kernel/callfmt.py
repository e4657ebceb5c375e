"""A syscall as a person writes it: named flags, hex addresses, every argument.

``format_call("mmap", (0, 0x3000, 3, 34))`` gives
``mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)``:
the arguments a caller left out appear with the value the call used, flag
words are spelled with the names of ``<sys/mman.h>`` and friends, and bits
without a name stay visible as hex. The trace, the lab's event log and its
time-travel list all word calls with this one function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import constants as C

Namer = Callable[[int], str]


def _bits(value: int, names: Sequence[tuple[int, str]]) -> list[str]:
    """Names of the set bits, then any bits left over in hex."""
    out = []
    for bit, name in names:
        if value & bit:
            out.append(name)
            value &= ~bit
    if value:
        out.append(hex(value))
    return out


def prot_names(prot: int) -> str:
    """``PROT_READ|PROT_WRITE``; ``PROT_NONE`` for 0."""
    return "|".join(_bits(prot, [(C.PROT_READ, "PROT_READ"), (C.PROT_WRITE, "PROT_WRITE"),
                                 (C.PROT_EXEC, "PROT_EXEC")])) or "PROT_NONE"


_MAP_TYPES = {C.MAP_SHARED: "MAP_SHARED", C.MAP_PRIVATE: "MAP_PRIVATE",
              C.MAP_SHARED_VALIDATE: "MAP_SHARED_VALIDATE", C.MAP_DROPPABLE: "MAP_DROPPABLE"}
_MAP_BITS = [(C.MAP_FIXED, "MAP_FIXED"), (C.MAP_ANONYMOUS, "MAP_ANONYMOUS"),
             (C.MAP_GROWSDOWN, "MAP_GROWSDOWN"), (C.MAP_DENYWRITE, "MAP_DENYWRITE"),
             (C.MAP_EXECUTABLE, "MAP_EXECUTABLE"), (C.MAP_LOCKED, "MAP_LOCKED"),
             (C.MAP_NORESERVE, "MAP_NORESERVE"), (C.MAP_POPULATE, "MAP_POPULATE"),
             (C.MAP_NONBLOCK, "MAP_NONBLOCK"), (C.MAP_STACK, "MAP_STACK"),
             (C.MAP_HUGETLB, "MAP_HUGETLB"), (C.MAP_SYNC, "MAP_SYNC"),
             (C.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
             (C.MAP_UNINITIALIZED, "MAP_UNINITIALIZED")]


def map_flag_names(flags: int) -> str:
    """``MAP_PRIVATE|MAP_ANONYMOUS``: the mapping type first, then the other bits."""
    mtype = flags & C.MAP_TYPE
    head = [_MAP_TYPES[mtype]] if mtype in _MAP_TYPES else ([hex(mtype)] if mtype else [])
    return "|".join(head + _bits(flags & ~C.MAP_TYPE, _MAP_BITS)) or "0"


_O_BITS = [(C.O_CREAT, "O_CREAT"), (C.O_EXCL, "O_EXCL"), (C.O_NOCTTY, "O_NOCTTY"),
           (C.O_TRUNC, "O_TRUNC"), (C.O_APPEND, "O_APPEND"), (C.O_NONBLOCK, "O_NONBLOCK"),
           (C.O_DIRECTORY, "O_DIRECTORY"), (C.O_CLOEXEC, "O_CLOEXEC")]


def open_flag_names(flags: int) -> str:
    """``O_RDWR|O_CREAT``: the access mode first (``O_RDONLY`` is 0, so always named)."""
    acc = {C.O_RDONLY: "O_RDONLY", C.O_WRONLY: "O_WRONLY", C.O_RDWR: "O_RDWR"}.get(
        flags & C.O_ACCMODE, "O_ACCMODE")
    return "|".join([acc, *_bits(flags & ~C.O_ACCMODE, _O_BITS)])


def mremap_flag_names(flags: int) -> str:
    """``MREMAP_MAYMOVE|MREMAP_FIXED``; 0 for none."""
    return "|".join(_bits(flags, [(C.MREMAP_MAYMOVE, "MREMAP_MAYMOVE"),
                                  (C.MREMAP_FIXED, "MREMAP_FIXED"),
                                  (C.MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP")])) or "0"


def clone_flag_names(flags: int) -> str:
    """``CLONE_VM|CLONE_VFORK|SIGCHLD``: flag bits, then the exit signal."""
    sig = flags & C.CSIGNAL
    names = _bits(flags & ~C.CSIGNAL, [(C.CLONE_VM, "CLONE_VM"), (C.CLONE_FS, "CLONE_FS"),
                                       (C.CLONE_FILES, "CLONE_FILES"),
                                       (C.CLONE_SIGHAND, "CLONE_SIGHAND"),
                                       (C.CLONE_PTRACE, "CLONE_PTRACE"),
                                       (C.CLONE_VFORK, "CLONE_VFORK"),
                                       (C.CLONE_THREAD, "CLONE_THREAD")])
    if sig:
        names.append("SIGCHLD" if sig == C.SIGCHLD else str(sig))
    return "|".join(names) or "0"


def ipc_flag_names(flags: int) -> str:
    """``IPC_CREAT|0o600``: the IPC bits, then the permission bits in octal."""
    names = _bits(flags & ~0o777, [(C.IPC_CREAT, "IPC_CREAT"), (C.IPC_EXCL, "IPC_EXCL"),
                                   (C.IPC_NOWAIT, "IPC_NOWAIT")])
    if flags & 0o777 or not names:
        names.append(oct(flags & 0o777))
    return "|".join(names)


def shmat_flag_names(flags: int) -> str:
    """``SHM_RDONLY|SHM_RND``; 0 for none."""
    return "|".join(_bits(flags, [(C.SHM_RDONLY, "SHM_RDONLY"), (C.SHM_RND, "SHM_RND"),
                                  (C.SHM_REMAP, "SHM_REMAP"), (C.SHM_EXEC, "SHM_EXEC")])) or "0"


def shmctl_cmd_name(cmd: int) -> str:
    """``IPC_RMID``, ``IPC_SET`` or ``IPC_STAT``."""
    return {C.IPC_RMID: "IPC_RMID", C.IPC_SET: "IPC_SET", C.IPC_STAT: "IPC_STAT"}.get(cmd, str(cmd))


def futex_op_name(op: int) -> str:
    """``FUTEX_WAIT`` or ``FUTEX_WAKE``, with ``|FUTEX_PRIVATE_FLAG`` if set."""
    base = {C.FUTEX_WAIT: "FUTEX_WAIT", C.FUTEX_WAKE: "FUTEX_WAKE"}.get(op & C.FUTEX_CMD_MASK,
                                                                       str(op & C.FUTEX_CMD_MASK))
    return base + ("|FUTEX_PRIVATE_FLAG" if op & C.FUTEX_PRIVATE_FLAG else "")


def hex_value(v: int) -> str:
    """Addresses, lengths and offsets in hex (0 stays 0; negative numbers as passed)."""
    return hex(v) if v > 0 else str(v)


def octal(v: int) -> str:
    """File modes in octal."""
    return oct(v) if v >= 0 else str(v)


_NO_DEFAULT = object()

#: each syscall's parameters in order: (name, default, how to word the value)
SIGNATURES: dict[str, tuple[tuple[str, Any, Namer | None], ...]] = {
    "mmap": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value),
             ("prot", _NO_DEFAULT, prot_names), ("flags", _NO_DEFAULT, map_flag_names),
             ("fd", -1, None), ("offset", 0, hex_value)),
    "munmap": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value)),
    "mremap": (("addr", _NO_DEFAULT, hex_value), ("old_len", _NO_DEFAULT, hex_value),
               ("new_len", _NO_DEFAULT, hex_value), ("flags", 0, mremap_flag_names),
               ("new_addr", 0, hex_value)),
    "mprotect": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value),
                 ("prot", _NO_DEFAULT, prot_names)),
    "msync": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value),
              ("flags", 0, None)),
    "madvise": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value),
                ("advice", 0, None)),
    "mlock": (("addr", _NO_DEFAULT, hex_value), ("length", _NO_DEFAULT, hex_value)),
    "brk": (("addr", 0, hex_value),),
    "open": (("path", _NO_DEFAULT, None), ("flags", 0, open_flag_names), ("mode", 0o644, octal)),
    "shm_open": (("name", _NO_DEFAULT, None), ("flags", _NO_DEFAULT, open_flag_names),
                 ("mode", 0o600, octal)),
    "pread": (("fd", _NO_DEFAULT, None), ("n", _NO_DEFAULT, None),
              ("offset", _NO_DEFAULT, hex_value)),
    "pwrite": (("fd", _NO_DEFAULT, None), ("data", _NO_DEFAULT, None),
               ("offset", _NO_DEFAULT, hex_value)),
    "ftruncate": (("fd", _NO_DEFAULT, None), ("length", _NO_DEFAULT, hex_value)),
    "poke": (("addr", _NO_DEFAULT, hex_value), ("data", _NO_DEFAULT, None)),
    "clone": (("flags", 0, clone_flag_names),),
    "shmget": (("key", _NO_DEFAULT, None), ("size", _NO_DEFAULT, hex_value),
               ("flags", 0, ipc_flag_names)),
    "shmat": (("shmid", _NO_DEFAULT, None), ("addr", 0, hex_value),
              ("flags", 0, shmat_flag_names)),
    "shmdt": (("addr", _NO_DEFAULT, hex_value),),
    "shmctl": (("shmid", _NO_DEFAULT, None), ("cmd", _NO_DEFAULT, shmctl_cmd_name)),
    "futex": (("addr", _NO_DEFAULT, hex_value), ("op", _NO_DEFAULT, futex_op_name),
              ("val", 0, None), ("timeout", None, None)),
    "ptrace_peek": (("pid", _NO_DEFAULT, None), ("addr", _NO_DEFAULT, hex_value)),
    "ptrace_poke": (("pid", _NO_DEFAULT, None), ("addr", _NO_DEFAULT, hex_value),
                    ("data", _NO_DEFAULT, None)),
    "exit": (("code", 0, None),),
    "execve": (("path", _NO_DEFAULT, None), ("argv", None, None)),
}


def arg_namer(name: str, index: int) -> Namer | None:
    """How argument ``index`` of call ``name`` is spelled when it is a flag word, a
    command or a mode (``prot_names`` for mmap's third argument); None for a
    plain number, an address or a length (callers may word those their own way)."""
    sig = SIGNATURES.get(name)
    if sig is None or index >= len(sig):
        return None
    namer = sig[index][2]
    return None if namer is hex_value else namer


def format_value(v: Any, namer: Namer | None = None) -> str:
    """One argument: named through ``namer`` when it is an integer, else as Python shows it."""
    if isinstance(v, int) and not isinstance(v, bool):
        if namer is not None:
            return namer(v)
        return hex(v) if abs(v) > 4096 else str(v)
    if isinstance(v, bytes | bytearray) and len(v) > 16:
        return repr(bytes(v[:16])) + f"...({len(v)} bytes)"
    return repr(v)


def format_call(name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> str:
    """``name(arg, ...)`` with every parameter the call used, flags named.

    Arguments the caller left out are shown with their defaults; a call that
    does not fit its signature (too many arguments, an unknown keyword) is
    shown exactly as it was made.
    """
    sig = SIGNATURES.get(name)
    kwargs = kwargs or {}
    if sig is None or len(args) > len(sig) or set(kwargs) - {p for p, _, _ in sig}:
        parts = [format_value(a) for a in args] + [f"{k}={format_value(v)}" for k, v in kwargs.items()]
        return f"{name}({', '.join(parts)})"
    parts = []
    for i, (pname, default, namer) in enumerate(sig):
        if i < len(args):
            v = args[i]
        elif pname in kwargs:
            v = kwargs[pname]
        elif default is _NO_DEFAULT:
            break  # the call itself will refuse a missing argument
        else:
            v = default
        parts.append(format_value(v, namer))
    # trailing optional arguments the call did not pass and that carry no information
    while len(parts) > len(args) and sig[len(parts) - 1][1] is None:
        parts.pop()
    return f"{name}({', '.join(parts)})"
