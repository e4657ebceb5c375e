"""Exercise "trim-setting" (kind: choose a setting and justify it with a measurement).

Each student gets a seeded workload of anonymous ``mmap``/``munmap`` calls
(a small board, a few hundred steps), a list of candidate values of
``vm.nr_trim_pages`` and a criterion ("fewest failed allocations, then most
free memory", or "largest free block, then fewest failures"). The learner
writes the measurement (play the workload on a board and read
``/proc/meminfo`` and ``/proc/buddyinfo``), measures every candidate,
chooses one by the criterion, and finally reads the first failed request
the way ``do_mmap_private`` sees it: one free block of order
``get_order(n)`` is needed, however much memory is free in smaller pieces.

Nothing is stored: every check plays the workload again on fresh boards
(``TrimSetting._reference``) and compares the learner's figures with the
model's, and the choice with the best candidate by the stated criterion.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..boards import default
from ..kernel.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from ..kernel.errors import KernelError
from .common import PS
from .framework import Exercise, Marker, Stop, part

KB = PS // 1024
REVISIT = ("the tutorial's page-trimming notebook (10-page-trimming): do_mmap_private takes "
           "a 2^order block, then gives back the excess only if vm.nr_trim_pages is not 0 "
           "and the excess is at least that many pages")

Op = tuple[Any, ...]  # ("map", ident, pages) or ("unmap", ident)


@dataclass(frozen=True)
class Measurement:
    """What one run of the workload leaves: the three figures the learner reports."""

    mem_free_kb: int  # MemFree in /proc/meminfo after the last step
    largest_kb: int  # the largest free block after the last step
    failed: int  # mmap calls refused with ENOMEM

    def figures(self) -> tuple[int, int, int]:
        return self.mem_free_kb, self.largest_kb, self.failed


@dataclass(frozen=True)
class Failure:
    """The machine at the moment of a refused request (the refusal changes nothing)."""

    pages: int
    mem_free_kb: int
    largest_kb: int


def get_order(pages: int) -> int:
    """The kernel's ``get_order``: the smallest order whose block holds ``pages`` pages."""
    return max(0, (pages - 1).bit_length())


#: criterion name -> (the sentence the task states, the sort key: smaller is better)
CRITERIA: dict[str, tuple[str, Callable[[int, Measurement], tuple[int, ...]]]] = {
    "failures": ("the fewest failed allocations; among equals, the most free memory at the end; "
                 "then the smaller setting",
                 lambda s, r: (r.failed, -r.mem_free_kb, s)),
    "largest": ("the largest free block at the end; among equals, the fewest failed "
                "allocations; then the most free memory; then the smaller setting",
                lambda s, r: (-r.largest_kb, r.failed, -r.mem_free_kb, s)),
}


def make_script(seed: int, steps: int, max_pages: int, p_unmap: float) -> list[Op]:
    """The calls, fixed by the seed: they do not depend on the kernel's answers."""
    rng = random.Random(seed)
    script: list[Op] = []
    issued: list[int] = []
    for step in range(steps):
        if issued and rng.random() < p_unmap:
            script.append(("unmap", issued.pop(rng.randrange(len(issued)))))
        else:
            script.append(("map", step, rng.randint(1, max_pages)))
            issued.append(step)
    return script


def play(k: Any, script: list[Op]) -> tuple[Measurement, list[Failure]]:
    """Run ``script`` in a new process on ``k``: the figures and every refused request."""
    p = k.spawn("workload")
    live: dict[int, tuple[int, int]] = {}
    failures: list[Failure] = []
    for op in script:
        if op[0] == "map":
            _, ident, pages = op
            try:
                live[ident] = (p.mmap(0, pages * PS, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), pages)
            except KernelError:  # ENOMEM: no free block of get_order(pages)
                failures.append(Failure(pages, k.meminfo()["MemFree"], k.largest_free_block() // 1024))
        elif op[1] in live:  # a request that failed has nothing to unmap
            addr, pages = live.pop(op[1])
            p.munmap(addr, pages * PS)
    return Measurement(k.meminfo()["MemFree"], k.largest_free_block() // 1024, len(failures)), failures


def _ints(v: Any, n: int) -> tuple[int, ...] | None:
    """``v`` as a tuple of ``n`` whole numbers (numpy integers too), or None."""
    if not isinstance(v, (tuple, list)) or len(v) != n:
        return None
    out = []
    for x in v:
        if isinstance(x, bool) or not hasattr(x, "__index__"):
            return None
        out.append(int(x))
    return tuple(out)


class TrimSetting(Exercise):
    name = "trim-setting"
    title = "Choose vm.nr_trim_pages for a workload, and justify it with a measurement"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        while True:  # draw again until the variant has one clear answer (a few draws at most)
            ram_mib = rng.choice([2, 4])
            params: dict[str, Any] = {
                "ram_mib": ram_mib,
                "seed": rng.randrange(1 << 32),
                "steps": rng.randint(150, 240),
                "max_pages": rng.choice([16, 20, 24, 32] if ram_mib == 2 else [24, 32, 40, 48]),
                "p_unmap": rng.choice([0.35, 0.4, 0.45]),
                "settings": [0, *sorted(rng.sample([1, 2, 3, 4, 6, 8, 12, 16], 4))],
                "criterion": rng.choice(["failures", "failures", "largest"]),
            }
            params["why_setting"] = rng.choice(params["settings"][1:])
            if self._clear(params):
                return params

    def _clear(self, params: dict[str, Any]) -> bool:
        """Every candidate fails some requests, the best one wins on more than the
        tie-break, and the first failure of part 3 came with more memory free than it asked for."""
        ex = type(self)(self.student, params)
        runs = {s: ex._reference(s) for s in params["settings"]}
        if min(r.failed for r in runs.values()) == 0:
            return False
        first = ex._first_failure(params["why_setting"])
        if first.mem_free_kb <= first.pages * KB:
            return False
        key = CRITERIA[params["criterion"]][1]
        first, second = sorted(runs, key=lambda s: key(s, runs[s]))[:2]
        return key(first, runs[first])[:-1] != key(second, runs[second])[:-1]

    # -- what the notebook uses ------------------------------------------------
    def script(self) -> list[Op]:
        """The workload: ``("map", ident, pages)`` or ``("unmap", ident)``, in order."""
        prm = self.params
        return make_script(prm["seed"], prm["steps"], prm["max_pages"], prm["p_unmap"])

    def board(self, nr_trim_pages: int = 1) -> Any:
        """A fresh board of the variant's RAM size, with ``vm.nr_trim_pages`` set."""
        return default(ram_size=self.params["ram_mib"] << 20, nr_trim_pages=nr_trim_pages,
                       exam=self.exam)

    @property
    def criterion(self) -> str:
        """The criterion the choice is graded by, as the task states it."""
        return CRITERIA[self.params["criterion"]][0]

    def machine(self, nr_trim_pages: int | None = None) -> tuple[Any, Measurement]:
        """The board after the workload at a setting (the first candidate by default)."""
        k = self.board(self.params["settings"][0] if nr_trim_pages is None else nr_trim_pages)
        return k, play(k, self.script())[0]

    # -- the model's own measurements (computed at check time) ----------------
    def _reference(self, nr_trim_pages: int) -> Measurement:
        """The workload played by the model on a fresh board at this setting."""
        return self.machine(nr_trim_pages)[1]

    def _first_failure(self, nr_trim_pages: int) -> Failure:
        """The first request the model refuses at this setting, and the machine at that moment."""
        return play(self.board(nr_trim_pages), self.script())[1][0]

    def _best(self) -> int:
        """The candidate the criterion picks, from the model's measurements."""
        key = CRITERIA[self.params["criterion"]][1]
        return min(self.params["settings"], key=lambda s: key(s, self._reference(s)))

    # -- part 1 ----------------------------------------------------------------
    @part("trim-measure", 2, "Measure the workload", REVISIT)
    def check_measure(self, m: Marker, measure: Any) -> None:
        settings = self.params["settings"]
        right = {"failed": 0, "free": 0, "largest": 0}
        wrong: dict[str, str] = {}
        probes = (settings[0], settings[-1])
        for s in probes:
            k = self.board(s)
            got = _ints(m.run(measure, k, what=f"measure(k) at nr_trim_pages={s}"), 3)
            if got is None:
                raise Stop("measure(k) must return three whole numbers: (MemFree in kB, the "
                           "largest free block in kB, the number of failed mmap calls)")
            free, largest, failed = got
            want = self._reference(s)
            on_board = (k.meminfo()["MemFree"], k.largest_free_block() // 1024)
            for name, g, w in (("failed", failed, want.failed),
                               ("free", free, want.mem_free_kb),
                               ("largest", largest, want.largest_kb)):
                if g == w:
                    right[name] += 1
                elif name not in wrong:
                    wrong[name] = self._why_wrong(name, g, w, s, on_board)
        n = len(probes)
        m.award(right["failed"] == n, 0.75, "the number of failed mmap calls is right",
                wrong.get("failed", ""))
        m.award(right["free"] == n, 0.75, "MemFree after the last step is right",
                wrong.get("free", ""))
        m.award(right["largest"] == n, 0.5, "the largest free block after the last step is right",
                wrong.get("largest", ""),
                "/proc/buddyinfo in the tutorial's notebook 10-page-trimming, part 1; "
                "k.largest_free_block() is in bytes")

    def _why_wrong(self, name: str, got: int, want: int, s: int, on_board: tuple[int, int]) -> str:
        head = f"at nr_trim_pages={s} you reported {got}"
        if name == "failed":
            return (f"{head} failed mmap calls; the model counts {want}: play every step in order, "
                    "count each ENOMEM and carry on (a map that failed has nothing to unmap later)")
        unit = "MemFree" if name == "free" else "the largest free block"
        board_value = on_board[0] if name == "free" else on_board[1]
        if got in (want * 1024, want // KB):
            return f"{head} for {unit}: the figure is wanted in kB (the model says {want} kB)"
        if got == board_value:
            return (f"{head} kB for {unit}, which is what your board shows, but the workload "
                    f"played in order leaves {want} kB: did you skip or reorder steps?")
        return f"{head} for {unit}; after the workload the model has {want} kB"

    # -- part 2 ----------------------------------------------------------------
    @part("trim-choose", 3, "Choose a setting by the criterion, with the figures that justify it",
          REVISIT)
    def check_choose(self, m: Marker, choose: Any) -> None:
        got = m.answer(choose, what="choose()")
        if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict)):
            raise Stop("choose() must return (setting, figures) where figures is a dict "
                       "{setting: (MemFree kB, largest free block kB, failed)}")
        chosen, figures = got
        settings = self.params["settings"]
        refs = {s: self._reference(s) for s in settings}
        theirs = {s: _ints(figures.get(s), 3) for s in settings}
        good = [s for s in settings if theirs[s] == refs[s].figures()]
        missing = [s for s in settings if theirs[s] is None]
        bad = [s for s in settings if s not in good and s not in missing]
        if missing:
            why = f"no figures for nr_trim_pages = {', '.join(map(str, missing))}: measure every candidate"
        else:
            why = "the figures for " + ", ".join(
                f"{s} (you: {theirs[s]}, the model: {refs[s].figures()})" for s in bad[:2])
        m.award(not missing and not bad, 1,
                f"the figures for all {len(settings)} candidates match the model's",
                why if len(good) == 0 else f"{len(good)} of {len(settings)} candidates right; {why}")
        key = CRITERIA[self.params["criterion"]][1]
        best = min(settings, key=lambda s: key(s, refs[s]))
        if isinstance(chosen, bool) or not isinstance(chosen, int):
            m.award(False, 2, "", f"the setting must be a whole number, not {type(chosen).__name__}")
            return
        if chosen == best:
            m.award(True, 2, f"nr_trim_pages = {best}: {self.criterion}", "")
            return
        if chosen not in settings:
            bad_choice = f"{chosen} is not one of the candidates {settings}"
        else:
            mine = {s: f for s, f in theirs.items() if f is not None}
            by_mine = min(mine, key=lambda s: key(s, Measurement(*mine[s]))) if len(mine) == len(settings) else None
            if by_mine == chosen:
                bad_choice = (f"{chosen} follows from your figures, but they are not the model's: "
                              "fix the measurement and choose again")
            else:
                bad_choice = (f"{chosen} is not the best by the criterion ({self.criterion}); "
                              f"compare it with the figures you measured")
        m.award(False, 2, "", bad_choice)

    # -- part 3 ----------------------------------------------------------------
    @part("trim-why", 2, "Why did the first request fail?",
          "the tutorial's page-trimming notebook, part 3: a copy needs one free block of "
          "order get_order(n); trimming happens only after that block was found")
    def check_why(self, m: Marker, first_failure: Any) -> None:
        got = _ints(m.answer(first_failure, what="first_failure()"), 4)
        if got is None:
            raise Stop("first_failure() must return four whole numbers: (pages asked for, the "
                       "order of block it needed, MemFree in kB, the largest free block in kB)")
        pages, order, free, largest = got
        s = self.params["why_setting"]
        f = self._first_failure(s)
        m.award(pages == f.pages, 0.5, f"the first request to fail asked for {f.pages} pages",
                f"{pages} pages is not the first request that failed at nr_trim_pages={s}")
        want_order = get_order(f.pages)
        m.award(order == want_order, 0.5,
                f"it needed a block of order {want_order} ({1 << want_order} pages)",
                f"order {order} is not what {f.pages} pages need: get_order(n) is the smallest "
                "order whose block of 2^order pages holds n pages")
        m.award(free == f.mem_free_kb, 0.5,
                f"{f.mem_free_kb} kB were free at that moment, more than the {f.pages * KB} kB asked for",
                f"{free} kB is not MemFree at the moment of the refusal (read it right after the "
                "refused call: a refusal changes nothing)")
        m.award(largest == f.largest_kb, 0.5,
                f"but the largest free block was {f.largest_kb} kB, smaller than the "
                f"{(1 << want_order) * KB} kB block needed",
                f"{largest} kB is not the largest free block at the moment of the refusal")
