"""The one error a syscall of the model can raise.

A real syscall returns ``-errno``; the model raises :class:`KernelError`,
an :class:`OSError` whose ``errno`` is the value the real kernel returns.
It also carries ``rule`` (a stable id naming the kernel check that refused
the call, e.g. ``"validate_mmap_request.map_fixed"``) and ``sentence`` (one
sentence a student can act on).
"""

from __future__ import annotations

import errno as _errno
import os


class NommuLabWarning(UserWarning):
    """A warning raised by nommu-lab itself (tests treat these as errors)."""


class KernelError(OSError):
    """A refused syscall: the real errno, the rule that fired, and why.

    Invariant: when a syscall raises this, the kernel model is exactly as it
    was before the call (not one page, region, VMA or refcount changed).
    """

    def __init__(self, err: int | None, rule: str, sentence: str) -> None:
        super().__init__(err, sentence)
        self.rule = rule
        self.sentence = sentence

    @property
    def errno_name(self) -> str:
        """The symbolic name of the errno, e.g. ``"EINVAL"``."""
        if self.errno is None:
            return "BUG"
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        return f"{self.errno_name} [{self.rule}]: {self.sentence}"

    def __reduce__(self):  # keep pickling (used by snapshots) working
        return (type(self), (self.errno, self.rule, self.sentence))

    def hide_advice(self) -> None:
        """Exam mode (``Kernel.exam``): keep the errno and the rule, drop the advice.

        The sentence becomes what a real program gets, the C library's text for
        the errno (``strerror``), so a "predict" or "diagnose" question is not
        answered for the learner by the message.
        """
        text = strerror(self.errno) if self.errno is not None else "the kernel would crash (BUG)"
        self.sentence = text
        self.strerror = text
        self.args = (self.errno, text)


class KernelBug(KernelError):
    """A call that would crash the real kernel (``BUG()``/oops).

    The model refuses it instead, leaves its state untouched, and says so.
    ``errno`` is ``None`` because the real kernel never returns at all.
    """

    def __init__(self, rule: str, sentence: str) -> None:
        super().__init__(None, rule, sentence)

    def __reduce__(self):  # its constructor takes (rule, sentence): no errno
        return (type(self), (self.rule, self.sentence))


class ArgumentTypeError(KernelError, TypeError):
    """An argument that no C register could hold: not an integer, not bytes.

    It is a :class:`KernelError` (so "a syscall raises only KernelError"
    holds) and a :class:`TypeError` (what Python code expects for a wrong
    type). ``errno`` is EINVAL.
    """

    def __init__(self, sentence: str) -> None:
        super().__init__(_errno.EINVAL, "abi.type", sentence)

    def __reduce__(self):
        return (type(self), (self.sentence,))


class ArgumentRangeError(KernelError, ValueError):
    """An integer too large for a 64-bit register (or a value the call forbids)."""

    def __init__(self, sentence: str) -> None:
        super().__init__(_errno.EINVAL, "abi.range", sentence)

    def __reduce__(self):
        return (type(self), (self.sentence,))


def strerror(err: int) -> str:
    """The C library's text for an errno."""
    return os.strerror(err)
