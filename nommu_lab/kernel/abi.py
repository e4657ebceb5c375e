"""The C ABI at the Python boundary: one conversion layer for every kernel.

A real syscall receives registers; the model receives Python objects. Each
argument is converted here, the way the C calling convention would see it,
before the kernel is entered:

* an integer becomes the register value the C type gives it (a negative
  ``unsigned long`` wraps; a signed ``off_t`` register may be written either
  way, ``-4096`` or ``0xfffffffffffff000``);
* anything that is not an integer (or bytes, or a path) raises
  :class:`ArgumentTypeError`, an integer that fits no 64-bit register
  :class:`ArgumentRangeError`. Both are :class:`KernelError` (EINVAL, rule
  ``abi.*``) as well as ``TypeError``/``ValueError``.

The no-MMU and the MMU kernel, their processes and the calls made on the
kernel itself (``sysctl``, the flash driver) all convert through these
functions, so the same wrong argument gets the same answer on both.
"""

from __future__ import annotations

import operator
from typing import Any

from .errors import ArgumentRangeError, ArgumentTypeError

ULONG = (1 << 64) - 1
LLONG_MAX = (1 << 63) - 1
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)


def as_int(v: Any, what: str) -> int:
    """Any Python integer (bools count as 0 and 1), else :class:`ArgumentTypeError`."""
    if isinstance(v, bool):
        return int(v)
    try:
        return operator.index(v)
    except TypeError:
        raise ArgumentTypeError(f"{what} must be an integer, not {type(v).__name__}") from None


def register(v: Any, what: str) -> int:
    """A 64-bit register: any integer from ``-2**63`` to ``2**64 - 1``, as its 64 bits."""
    if type(v) is int and 0 <= v <= ULONG:
        return v
    i = as_int(v, what)
    if not -(1 << 63) <= i <= ULONG:
        raise ArgumentRangeError(f"{what}={i} does not fit in a 64-bit register")
    return i & ULONG


def ulong(v: Any, what: str) -> int:
    """An ``unsigned long`` register value (negative numbers wrap, as in C)."""
    return register(v, what)


def slong(v: Any, what: str) -> int:
    """A signed 64-bit value (``off_t``, ``loff_t``) read from a register.

    A register holds 64 bits, so ``-4096`` and ``0xfffffffffffff000`` are the
    same argument: both come out as -4096, and ``1 << 63`` as ``-2**63``.
    """
    if type(v) is int and -(1 << 63) <= v <= LLONG_MAX:
        return v
    i = register(v, what)
    return i - (1 << 64) if i > LLONG_MAX else i


def cint(v: Any, what: str) -> int:
    """A C ``int`` (fds, flags of open): the low 32 bits, signed.

    Values from ``-2**31`` to ``2**32 - 1`` are accepted (a register's low half
    written signed or unsigned); anything wider is :class:`ArgumentRangeError`.
    """
    if type(v) is int and -(1 << 31) <= v <= INT_MAX:
        return v
    i = as_int(v, what)
    if not -(1 << 31) <= i < (1 << 32):
        raise ArgumentRangeError(f"{what}={i} does not fit in a 32-bit int")
    return i - (1 << 32) if i > INT_MAX else i


def as_bytes(v: Any, what: str = "data") -> bytes:
    """Bytes from bytes, bytearray or memoryview (a str is a TypeError)."""
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise ArgumentTypeError(f"{what} must be bytes, not {type(v).__name__}")


def as_path(v: Any, what: str = "path") -> str:
    """A path string: non-empty, without NUL bytes."""
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{what} must be a str, not {type(v).__name__}")
    if not v or "\0" in v:
        raise ArgumentRangeError(f"{what} must be a non-empty string without NUL bytes")
    return v


def as_argv(v: Any, path: str) -> list[str]:
    """``execve``'s argument vector: None means ``[path]``; else a list or tuple of str.

    Empty strings are allowed (C programs may receive ``""``); NUL bytes are not.
    """
    if v is None:
        return [path]
    if isinstance(v, str | bytes) or not isinstance(v, list | tuple):
        raise ArgumentTypeError(f"argv must be a list of str, not {type(v).__name__}")
    out = []
    for a in v:
        if not isinstance(a, str):
            raise ArgumentTypeError(f"each argv element must be a str, not {type(a).__name__}")
        if "\0" in a:
            raise ArgumentRangeError("an argv string cannot contain a NUL byte")
        out.append(a)
    return out


def as_name(v: Any, what: str) -> str:
    """A name the caller spells as a string (a sysctl, a process name)."""
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{what} must be a str, not {type(v).__name__}")
    return v
