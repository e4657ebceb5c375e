"""Small helpers the exercises share: finding a VMA, measuring a charge, catching a refusal,
and marking the "why does this fail?" answer several exercises ask for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..kernel.errors import KernelError
from .framework import Marker, Stop, errno_value

PS = 4096


def compile_shown(source: str, label: str) -> dict[str, Any]:
    """Run code an exercise shows the learner (a broken program, a launcher, a system),
    with the flag and errno names in scope; returns its namespace (its functions)."""
    from .. import constants

    ns: dict[str, Any] = dict(vars(constants))
    exec(compile(source, f"<{label}>", "exec"), ns)
    return ns


def says(answer: Any, want: str) -> bool:
    """Whether a typed answer is ``want``: a string, ignoring surrounding space and case."""
    return isinstance(answer, str) and answer.strip().upper() == want.upper()


def vma_at(p: Any, addr: Any) -> Any:
    """The VMA of process ``p`` that contains ``addr`` (``p.vmas()``), or None."""
    if not isinstance(addr, int) or isinstance(addr, bool):
        return None
    return next((v for v in p.vmas() if v.start <= addr < v.end), None)


def mmap_copy_pages(k: Any) -> int:
    """Pages the kernel holds for copies and anonymous memory (``MmapCopy`` of /proc/meminfo)."""
    return k.meminfo()["MmapCopy"] * 1024 // k.page_size


def outcome(call: Callable[[], Any]) -> Any:
    """What a call gives: its value, or the :class:`KernelError` that refused it."""
    try:
        return call()
    except KernelError as e:
        return e


def read(p: Any, addr: int, n: int) -> bytes | None:
    """``p.peek(addr, n)``, or None if nothing answers there."""
    try:
        return p.peek(addr, n)
    except KernelError:
        return None


def is_int(v: Any) -> bool:
    """An int that is not a bool (``True`` is not an address)."""
    return isinstance(v, int) and not isinstance(v, bool)


def hexa(v: Any) -> str:
    """An address as hex, or whatever the learner gave, shown as it is."""
    return f"{v:#x}" if is_int(v) else repr(v)


def refusal_of(program: Callable[[], Any], what: str) -> KernelError:
    """Run a program the exercise says is refused, and return the refusal.

    The expected answer is read from the model at check time; a model that
    accepted the program is a broken exercise, not a wrong answer.
    """
    try:
        program()
    except KernelError as e:
        return e
    raise RuntimeError(f"{what} was not refused: the model changed")


def mark_diagnosis(m: Marker, diagnosis: Any, e: KernelError, cause: str, *,
                   errno_hint: str, cause_good: str, cause_bad: str) -> None:
    """Mark a ``diagnosis()`` that returns ``(errno, rule, cause letter)`` for refusal ``e``.

    Half a point for the errno, half for the rule (both read from the
    refusal itself), one for the cause letter ``cause``. ``errno_hint`` says
    how to find the errno; ``cause_good``/``cause_bad`` word the cause.
    """
    got = m.answer(diagnosis, what="diagnosis()")
    if not (isinstance(got, tuple) and len(got) == 3):
        raise Stop("diagnosis() must return (errno, rule, cause letter), e.g. "
                   "(\"EINVAL\", \"some_function.some_check\", \"A\")")
    err, rule, letter = got
    m.award(errno_value(err) == e.errno, 0.5, f"the errno is {e.errno_name}",
            f"{err!r} is not the errno {errno_hint}")
    m.award(isinstance(rule, str) and rule.strip() == e.rule, 0.5, f"the rule is {e.rule}",
            f"{rule!r} is not the rule that refused it (.rule)")
    m.award(says(letter, cause), 1, cause_good,
            f"cause {letter!r} does not explain {e.errno_name} from {e.rule}: {cause_bad}")
