"""Exercise "mremap-rules" (the document's section on no-MMU mremap).

Kinds: predict, with the reason, what a sequence of calls does; reach a goal.

A process holds four mappings: ``buf`` (anonymous, perhaps shrunk already,
perhaps with untrimmed slack), ``ring`` (POSIX shm, ``MAP_SHARED``),
``table`` (a read-only private copy of a disk file) and ``scratch`` (a
writable private copy of a disk file, or ``MAP_SHARED | MAP_ANONYMOUS``).

* ``mremap-predict``: for the variant's sequence of ``mremap`` calls, run in
  order on one process, the learner predicts each result: the address, or
  the errno with the reason, one letter of :data:`REASONS`. The check runs
  the calls on a fresh machine: the errno comes from the model's refusal,
  and a reason is right when it *holds* for that call in the machine's
  state just before it (read from the process's VMAs and regions), so no
  rule id and no ordering of ``do_mremap``'s tests is stored here.
* ``mremap-goal``: make ``buf`` a given number of pages with its data kept,
  in place when ``do_mremap`` allows it (the region's first length), else by
  a new mapping and a copy, without leaking the old one.
"""

from __future__ import annotations

import random
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
)
from ..kernel.errors import KernelError
from ..kernel.region import is_nommu_shared_mapping
from .common import PS, hexa, is_int, outcome, read, says
from .framework import Exercise, Marker, Stop, errno_value, part

RW = PROT_READ | PROT_WRITE
REVISIT = ("notebook 07-shm-futex-mremap, part 4: do_mremap finds the VMA with "
           "find_vma_exact, refuses shareable mappings and any length above the region's "
           "(vm_end - vm_start), and never moves a mapping")

#: why an mremap call is refused (the same list for everybody)
REASONS: dict[str, str] = {
    "A": "The old or the new length is zero (once rounded up to whole pages).",
    "B": "The address is not page aligned.",
    "C": "MREMAP_FIXED asks for a different address: nothing moves without an MMU.",
    "D": "The address is page aligned, but no mapping of the process starts there with "
         "exactly that (page-rounded) old length.",
    "E": "The mapping is shareable (MAP_SHARED, or a read-only private file mapping): it may "
         "be neither moved nor resized.",
    "F": "The new length is more than the region's length (vm_end - vm_start, what was first "
         "mapped): the block's untrimmed slack does not count.",
}
FLAGS = {"0": 0, "MREMAP_MAYMOVE": MREMAP_MAYMOVE, "MREMAP_FIXED": MREMAP_FIXED,
         "MREMAP_FIXED | MREMAP_MAYMOVE": MREMAP_FIXED | MREMAP_MAYMOVE}
#: intents the call generator draws from; each makes one call from the current lengths
INTENTS = ("shrink", "grow_back", "beyond", "shareable", "wrong_old", "inside", "fixed_other",
           "fixed_same", "zero", "scratch", "unaligned")


def _page_align(n: int) -> int:
    return (n + PS - 1) // PS * PS


def buf_data(params: dict[str, Any]) -> bytes:
    """What ``buf`` holds at its start (made from ``data_seed``)."""
    return random.Random(params["data_seed"]).randbytes(params["data_len"])


class MremapRules(Exercise):
    name = "mremap-rules"
    title = "mremap without an MMU: predict each call, then reach a size"

    # -- the variant ---------------------------------------------------------
    def choose(self, rng: random.Random) -> dict[str, Any]:
        while True:  # draw again until every call is decided by a reason the check can see
            prm = self._draw(rng)
            ex = type(self)(self.student, prm)
            if ex._well_formed():
                return prm

    def _draw(self, rng: random.Random) -> dict[str, Any]:
        buf_pages = rng.choice([3, 5, 6, 7, 9, 10, 11, 12, 13])
        buf_now = rng.randint(1, buf_pages - 1) if rng.random() < 0.6 else buf_pages
        prm: dict[str, Any] = {
            "ram_mib": rng.choice([4, 8]),
            "nr_trim_pages": rng.choice([0, 0, 1, 2]),
            "buf_pages": buf_pages,
            "buf_now": buf_now,
            "data_len": rng.randint(100, min(buf_now * PS, 3000)),
            "data_seed": rng.randrange(1 << 32),
            "ring": f"/{rng.choice(['audio', 'frames', 'events', 'status'])}",
            "ring_pages": rng.randint(1, 4),
            "table_pages": rng.randint(1, 3),
            "scratch": rng.choice(["shared_anon", "private_copy"]),
            "scratch_pages": rng.randint(2, 5),
        }
        prm["calls"] = self._calls(rng, prm)
        prm["goal_pages"] = rng.choice([rng.randint(buf_now + 1, buf_pages + 2),
                                         rng.randint(buf_pages + 1, 2 * buf_pages)])
        return prm

    def _calls(self, rng: random.Random, prm: dict[str, Any]) -> list[list[Any]]:
        """Six calls ``[mapping, addr delta, old_len, new_len, flags, new_addr delta]``."""
        cur = {"buf": prm["buf_now"], "scratch": prm["scratch_pages"]}
        fixed = {"ring": prm["ring_pages"], "table": prm["table_pages"]}
        must = ["shareable", "beyond", rng.choice(["wrong_old", "inside", "fixed_other", "zero",
                                                   "unaligned"])]
        rest = rng.sample([i for i in INTENTS if i not in must], 3)
        intents = must + rest
        rng.shuffle(intents)
        calls: list[list[Any]] = []
        for intent in intents:
            n = cur["buf"]
            odd = rng.choice([0, 0, 100, 1000])  # a length need not be page aligned
            if intent == "shrink" and n >= 2:
                new = rng.randint(1, n - 1)
                calls.append(["buf", 0, n * PS - odd, new * PS, "0", None])
                cur["buf"] = new
            elif intent in ("grow_back", "shrink") and n < prm["buf_pages"]:
                new = rng.randint(n + 1, prm["buf_pages"])
                calls.append(["buf", 0, n * PS, new * PS - odd, rng.choice(["0", "MREMAP_MAYMOVE"]), None])
                cur["buf"] = new
            elif intent == "beyond":
                new = prm["buf_pages"] + rng.randint(1, 3)
                calls.append(["buf", 0, n * PS, new * PS, rng.choice(["0", "MREMAP_MAYMOVE"]), None])
            elif intent == "shareable":  # a shrink or the same size: only shareability refuses it
                name = rng.choice(sorted(fixed))
                new = max(1, fixed[name] - rng.choice([0, 1]))
                calls.append([name, 0, fixed[name] * PS, new * PS, "0", None])
            elif intent == "wrong_old":
                old = n + rng.choice([1, 2]) if n == 1 else n + rng.choice([-1, 1])
                calls.append(["buf", 0, old * PS, max(1, n - 1) * PS, "0", None])
            elif intent == "inside" and n >= 2:
                calls.append(["buf", PS, (n - 1) * PS, PS, "0", None])
            elif intent == "fixed_other":
                calls.append(["buf", 0, n * PS, n * PS, "MREMAP_FIXED | MREMAP_MAYMOVE", 0x40000])
            elif intent == "fixed_same" or (intent == "grow_back" and n >= 2):
                new = rng.randint(1, n)
                calls.append(["buf", 0, n * PS, new * PS, "MREMAP_FIXED", 0])
                cur["buf"] = new
            elif intent == "zero":
                calls.append(["buf", 0, n * PS, 0, "0", None])
            elif intent == "scratch":
                s = cur["scratch"]
                new = rng.randint(1, s - 1) if s >= 2 else s
                calls.append(["scratch", 0, s * PS, new * PS, "0", None])
                cur["scratch"] = new
            else:  # "unaligned", or an intent that did not fit the current lengths
                calls.append(["buf", rng.choice([16, 256, 2048]), n * PS, n * PS, "0", None])
        return calls

    # -- the machine ---------------------------------------------------------
    def scenario(self) -> tuple[Any, Any, dict[str, int]]:
        """A fresh machine: the board, the process ``app`` and its four mappings' addresses."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, nr_trim_pages=prm["nr_trim_pages"], exam=self.exam)
        k.create_file("/mnt/disk/table.bin", random.Random(prm["data_seed"] + 1).randbytes(4 * PS))
        p = k.spawn("app")
        maps = {"buf": p.mmap(0, prm["buf_pages"] * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)}
        p.poke(maps["buf"], buf_data(prm))
        if prm["buf_now"] != prm["buf_pages"]:
            p.mremap(maps["buf"], prm["buf_pages"] * PS, prm["buf_now"] * PS, 0)
        fd = p.shm_open(prm["ring"], O_CREAT | O_RDWR, 0o600)
        p.ftruncate(fd, prm["ring_pages"] * PS)
        maps["ring"] = p.mmap(0, prm["ring_pages"] * PS, RW, MAP_SHARED, fd, 0)
        table = p.open("/mnt/disk/table.bin", O_RDONLY)
        maps["table"] = p.mmap(0, prm["table_pages"] * PS, PROT_READ, MAP_PRIVATE, table, 0)
        n = prm["scratch_pages"] * PS
        maps["scratch"] = (p.mmap(0, n, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
                           if prm["scratch"] == "shared_anon"
                           else p.mmap(0, n, RW, MAP_PRIVATE, table, 0))
        return k, p, maps

    def board(self) -> Any:
        return self.scenario()[0]

    def call_source(self, call: list[Any]) -> str:
        """One call as the notebook prints it."""
        name, delta, old, new, flags, new_addr = call
        addr = f'maps["{name}"]' + (f" + {delta:#x}" if delta else "")
        tail = "" if new_addr is None else (f", {addr}" if new_addr == 0 else f", {addr} + {new_addr:#x}")
        return f"p.mremap({addr}, {old:#x}, {new:#x}, {flags}{tail})"

    @staticmethod
    def call_args(call: list[Any], maps: dict[str, int]) -> tuple[int, int, int, int, int]:
        name, delta, old, new, flags, new_addr = call
        addr = maps[name] + delta
        return addr, old, new, FLAGS[flags], 0 if new_addr is None else addr + new_addr

    @staticmethod
    def reasons_holding(p: Any, args: tuple[int, int, int, int, int]) -> set[str]:
        """The letters of :data:`REASONS` that are true of this call, in ``p``'s state now."""
        addr, old, new, flags, new_addr = args
        held = set()
        if _page_align(old) == 0 or _page_align(new) == 0:
            held.add("A")
        if addr % PS:
            held.add("B")
        if flags & MREMAP_FIXED and new_addr != addr:
            held.add("C")
        exact = next((v for v in p.vmas() if v.start == addr and v.end == addr + _page_align(old)), None)
        if exact is None:
            if not addr % PS:
                held.add("D")
            return held
        if is_nommu_shared_mapping(exact.flags):
            held.add("E")
        if _page_align(new) > exact.region.end - exact.region.start:
            held.add("F")
        return held

    def outcomes(self) -> list[tuple[Any, set[str]]]:
        """Each call's result on a fresh machine (address or refusal), and the reasons holding."""
        _, p, maps = self.scenario()
        out = []
        for call in self.params["calls"]:
            args = self.call_args(call, maps)
            held = self.reasons_holding(p, args)
            out.append((outcome(lambda a=args: p.mremap(*a)), held))
        return out

    def _well_formed(self) -> bool:
        """Every refusal has exactly one reason that holds, no success has one, and the kinds vary."""
        try:
            results = self.outcomes()
        except KernelError:
            return False
        errnos = set()
        for r, held in results:
            if isinstance(r, KernelError):
                if len(held) != 1:
                    return False
                errnos.add(r.errno_name)
            elif held:
                return False
        return {"EINVAL", "EPERM", "ENOMEM"} <= errnos and any(is_int(r) for r, _ in results)

    # -- part 1 --------------------------------------------------------------
    @part("mremap-predict", 3, "What each mremap call does, and why", REVISIT)
    def check_predict(self, m: Marker, predict: Any) -> None:
        got = m.answer(predict, what="predict()")
        results = self.outcomes()
        if not (isinstance(got, list | tuple) and len(got) == len(results)):
            raise Stop(f"predict() must return a list of {len(results)} results, one per call: "
                       "the address a call returns, or (errno, reason letter)")
        share = 3 / len(results)
        for i, (call, g, (r, held)) in enumerate(zip(self.params["calls"], got, results, strict=True), 1):
            what = f"call {i}, {self.call_source(call)}"
            if not isinstance(r, KernelError):
                m.award(is_int(g) and g == r, share, f"{what}: returns {r:#x}",
                        f"{what}: {hexa(g)} is not what it returns (it succeeds; without an MMU "
                        "a mapping never moves)")
                continue
            if not (isinstance(g, tuple | list) and len(g) == 2):
                m.award(False, share, "", f"{what}: {g!r} is wrong: this call is refused; answer "
                        "(errno, reason letter)")
                continue
            err, letter = g
            m.award(errno_value(err) == r.errno, share / 2, f"{what}: {r.errno_name}",
                    f"{what}: {err!r} is not the errno it fails with")
            (why,) = held
            m.award(says(letter, why), share / 2,
                    f"{what}: reason {why}, {REASONS[why]}",
                    f"{what}: reason {letter!r} is not what refuses it (look at the process's "
                    "VMAs and their regions just before the call)")

    # -- part 2 --------------------------------------------------------------
    @part("mremap-goal", 2, "Make buf the goal size, keeping its data", REVISIT)
    def check_goal(self, m: Marker, grow: Any) -> None:
        prm = self.params
        goal = prm["goal_pages"] * PS
        _, p, maps = self.scenario()
        old = maps["buf"]
        a = m.run(grow, p, dict(maps), what="grow(p, maps)")
        v = next((v for v in p.vmas() if is_int(a) and v.start == a), None)
        data = buf_data(prm)
        m.award(v is not None and v.path is None and v.end - v.start == goal
                and read(p, a, len(data)) == data, 1,
                f"an anonymous mapping of {prm['goal_pages']} pages at {hexa(a)}, holding buf's data",
                f"there is no anonymous mapping of exactly {prm['goal_pages']} pages starting at "
                f"{hexa(a)} whose first {len(data)} bytes are buf's data")
        _, q, qmaps = self.scenario()
        in_place = is_int(outcome(lambda: q.mremap(qmaps["buf"], prm["buf_now"] * PS, goal, 0)))
        if in_place:
            m.award(a == old, 1, "in place, at buf's own address: mremap could grow it there",
                    f"do_mremap can resize buf to {prm['goal_pages']} pages where it is (at most "
                    f"the region's {prm['buf_pages']} pages): keep its address {old:#x}")
        else:
            left = any(v.start == old for v in p.vmas())
            m.award(not left and a != old, 1,
                    "moved by hand, and the old mapping is gone (nothing leaks)",
                    f"{prm['goal_pages']} pages is more than buf's region ({prm['buf_pages']} pages): "
                    "mremap cannot do it, so map anew, copy, and unmap the old buf")
