"""The exercise framework: per-student variants, parts, checks and feedback.

An exercise is a subclass of :class:`Exercise`. It chooses every parameter of
its scenario from a seed derived from the student id and its own name
(:func:`seed_for`, a SHA-256, never Python's per-process ``hash()``), builds
its board from those parameters alone, and declares its graded parts with
:func:`part`. A part's check receives the learner's answer (a function or a
value), computes the expected answer from the model *at check time* and
marks it with a :class:`Marker`: each criterion earns points or says what is
wrong and what to revisit. Nothing in a released notebook holds the answer.

A check cell in a notebook is one line, ``ex.check("grade-id", answer)``. It
prints the feedback, records a :class:`PartResult` in :data:`RESULTS` (which
the grader reads: checks never parse printed text) and returns a
:class:`Score`, a float whose text is the score, which is what nbgrader's
autograder reads as partial credit.

The student id comes, in this order, from the grader (``NOMMU_LAB_STUDENT``,
taken from the submission's path), from nbgrader's autograder (its working
folder is ``autograded/<student>/<assignment>``), or from the ``STUDENT_ID``
the learner wrote in the notebook's first cell; without one the learner gets
the practice variant.
"""

from __future__ import annotations

import errno as _errno
import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..kernel import KernelError

#: environment variable the grader sets to the id taken from the submission
STUDENT_ENV = "NOMMU_LAB_STUDENT"
#: the variant a learner works on before writing a student id
PRACTICE_ID = "practice"

F = TypeVar("F", bound=Callable[..., Any])


def seed_for(exercise: str, student: str) -> int:
    """The variant's seed: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(f"nommu-lab\0{exercise}\0{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def resolve_student(written: str | None) -> tuple[str, str]:
    """``(student id, where it came from)``: the grader, nbgrader, the notebook or practice."""
    env = os.environ.get(STUDENT_ENV, "").strip()
    if env:
        return env, "the grader"
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        cwd = Path.cwd()  # nbgrader runs a notebook in autograded/<student>/<assignment>/
        if cwd.parent.parent.name == "autograded":
            return cwd.parent.name, "nbgrader"
    written = (written or "").strip() if isinstance(written, str) else ""
    if written:
        return written, "STUDENT_ID"
    return PRACTICE_ID, "practice"


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
class Score(float):
    """A part's score. Its text is the bare number: nbgrader reads it as partial credit."""

    def __repr__(self) -> str:
        return repr(float(self))


@dataclass(frozen=True)
class Finding:
    """One criterion of a part: met or not, what it is worth, what to revisit."""

    ok: bool
    points: float
    text: str
    revisit: str = ""


@dataclass
class PartResult:
    """The outcome of one check: what the grader records and the learner reads."""

    exercise: str
    student: str
    part: str
    title: str
    score: float
    points: float
    findings: list[Finding] = field(default_factory=list)

    def text(self) -> str:
        """The feedback, as printed under a check cell."""
        mark = "✓" if self.score >= self.points else ("✗" if self.score == 0 else "~")
        lines = [f"{mark} {self.part}: {_num(self.score)}/{_num(self.points)}  {self.title}"]
        for f in self.findings:
            lines.append(f"  {'✓' if f.ok else '✗'} {f.text}")
            if not f.ok and f.revisit:
                lines.append(f"    revisit: {f.revisit}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"exercise": self.exercise, "student": self.student, "part": self.part,
                "title": self.title, "score": self.score, "points": self.points,
                "findings": [f.__dict__ for f in self.findings]}


def _num(x: float) -> str:
    return f"{x:g}"


#: every check made in this Python process, in order (the grader reads it)
RESULTS: list[PartResult] = []


# ---------------------------------------------------------------------------
# marking one part
# ---------------------------------------------------------------------------
class Stop(Exception):
    """Raised by a check when nothing more can be marked (the answer is missing or broke)."""

    def __init__(self, text: str, revisit: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.revisit = revisit


@dataclass
class Attempt:
    """What running the learner's code gave: a value, or the error it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Marker:
    """Collects the findings of one part; each criterion is worth some of its points."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.findings: list[Finding] = []

    @property
    def earned(self) -> float:
        return sum(f.points for f in self.findings if f.ok)

    def award(self, ok: bool, points: float, good: str, bad: str, revisit: str = "") -> bool:
        """One criterion: ``points`` if ``ok``; otherwise say ``bad`` and what to revisit."""
        self.findings.append(Finding(bool(ok), points, good if ok else bad,
                                     "" if ok else (revisit or self.part.revisit)))
        return bool(ok)

    def note(self, text: str, revisit: str = "") -> None:
        """A remark worth no points (why the part stopped, what was run)."""
        self.findings.append(Finding(False, 0.0, text, revisit))

    def attempt(self, fn: Any, *args: Any, what: str | None = None) -> Attempt:
        """Run the learner's ``fn(*args)``; a failure is noted (not raised) and returned."""
        what = what or f"{getattr(fn, '__name__', 'your answer')}()"
        if not callable(fn):
            raise Stop(f"{what}: expected a function, got {type(fn).__name__}")
        try:
            return Attempt(fn(*args))
        except NotImplementedError:
            raise Stop(f"{what} is not written yet (it raises NotImplementedError)") from None
        except KernelError as e:
            self.note(f"{what} was refused: {e.errno_name} [{e.rule}]",
                      revisit=f"the kernel rule {e.rule}; " + self.part.revisit)
            return Attempt(error=e)
        except Exception as e:  # the learner's bug, reported, never raised
            self.note(f"{what} raised {type(e).__name__}: {e}")
            return Attempt(error=e)

    def run(self, fn: Any, *args: Any, what: str | None = None) -> Any:
        """Run the learner's ``fn(*args)``; stop the part if it fails."""
        a = self.attempt(fn, *args, what=what)
        if not a.ok:
            failed = self.findings.pop()  # said once, as the reason the part stopped
            raise Stop(failed.text, failed.revisit)
        return a.value

    def answer(self, fn: Any, what: str | None = None) -> Any:
        """The value a learner's answer function returns (or the value itself)."""
        return self.run(fn, what=what) if callable(fn) else fn


# ---------------------------------------------------------------------------
# parts and exercises
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A graded part: its check cell's nbgrader grade id, points, title, what to revisit."""

    id: str
    points: float
    title: str
    revisit: str = ""
    method: str = ""


def part(grade_id: str, points: float, title: str, revisit: str = "") -> Callable[[F], F]:
    """Declare a check method ``(self, marker, answer)`` as the part ``grade_id``."""

    def deco(fn: F) -> F:
        fn.__part__ = Part(grade_id, float(points), title, revisit, fn.__name__)  # type: ignore[attr-defined]
        return fn

    return deco


#: every exercise, by name (filled by subclassing :class:`Exercise`)
EXERCISES: dict[str, type[Exercise]] = {}


class Exercise:
    """One exercise: a variant (``params``) and its parts.

    Subclasses set ``name`` and ``title``, implement :meth:`choose` (every
    parameter, from a seeded ``random.Random``) and usually :meth:`board`
    (the scenario, from ``self.params`` alone), and declare parts with
    :func:`part`. ``exam`` makes every board the exercise builds refuse
    calls without advice (errno and rule only).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    exam: ClassVar[bool] = True
    parts: ClassVar[dict[str, Part]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        found = {}
        for klass in reversed(cls.__mro__):
            for v in vars(klass).values():
                p = getattr(v, "__part__", None)
                if isinstance(p, Part):
                    found[p.id] = p
        cls.parts = found
        if cls.name:
            if cls.name in EXERCISES and EXERCISES[cls.name] is not cls:
                raise ValueError(f"two exercises are named {cls.name!r}")
            EXERCISES[cls.name] = cls

    def __init__(self, student: str = PRACTICE_ID, params: dict[str, Any] | None = None) -> None:
        self.student = student
        self.seed = seed_for(self.name, student)
        self.params: dict[str, Any] = (dict(params) if params is not None
                                       else self.choose(random.Random(self.seed)))

    # -- what a subclass provides ------------------------------------------
    def choose(self, rng: random.Random) -> dict[str, Any]:
        """Every parameter of the variant (printed, so the scenario can be rebuilt)."""
        raise NotImplementedError

    def board(self) -> Any:
        """A fresh board with the scenario set up (from ``self.params`` alone)."""
        from ..boards import default

        return default(ram_size=self.params.get("ram_mib", 8) << 20, exam=self.exam)

    # -- what every exercise has -------------------------------------------
    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts.values())

    def describe(self, source: str = "") -> str:
        """The variant: who it is for and every parameter, one a line."""
        who = f"student {self.student!r}" + (f" (from {source})" if source else "")
        lines = [f"{self.title} [{self.name}], the variant of {who}"]
        if self.student == PRACTICE_ID:
            lines.append("  (write your student id in the first cell and run the notebook "
                         "again to get your own variant)")
        width = max((len(k) for k in self.params), default=0)
        lines += [f"  {k:<{width}} = {_show(v)}" for k, v in self.params.items()]
        lines.append(f"  (rebuild it: nl.exercises.get({self.name!r})(params=ex.params))")
        return "\n".join(lines)

    def check(self, grade_id: str, answer: Any) -> Score:
        """Mark one part, print its feedback, record it, and return the score."""
        p = self.parts.get(grade_id)
        if p is None:
            raise KeyError(f"{self.name} has no part {grade_id!r}; parts: {', '.join(self.parts)}")
        m = Marker(p)
        try:
            getattr(self, p.method)(m, answer)
        except Stop as s:
            m.note(s.text, s.revisit)
        except Exception as e:  # a check must give a mark whatever the learner did
            m.note(f"the check could not finish: {type(e).__name__}: {e}")
        score = round(min(max(m.earned, 0.0), p.points), 6)
        result = PartResult(self.name, self.student, p.id, p.title, score, p.points, m.findings)
        RESULTS.append(result)
        print(result.text())
        return Score(score)


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        return repr(v) if len(v) <= 48 else f"{len(v)} bytes, starting {v[:24]!r}"
    if isinstance(v, int) and not isinstance(v, bool) and v >= 4096:
        return f"{v} ({v:#x})"
    return repr(v)


def errno_value(v: Any) -> int | None:
    """An errno given as a number or as its name (``"ENODEV"``, ``errno.ENODEV``)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return getattr(_errno, v.strip().upper(), None)
    return None


def get(name: str) -> type[Exercise]:
    """The exercise class called ``name``."""
    from . import catalog  # noqa: F401  (registers every exercise)

    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise {name!r}; known: {', '.join(sorted(EXERCISES))}") from None


def start(name: str, student_id: str | None = None) -> Exercise:
    """The exercise ``name`` for this student (see the module docstring), its variant printed."""
    student, source = resolve_student(student_id)
    ex = get(name)(student)
    print(ex.describe(source))
    return ex
