"""Exercise "futex-handshake" (kinds: reach a goal; explain which rule decided an outcome).

Two processes coordinate through a futex word in a POSIX shared memory
object: a waiter sleeps in ``FUTEX_WAIT`` while the word holds "busy"; a
waker stores "ready" and calls ``FUTEX_WAKE``. Without an MMU every futex is
private and, since Linux 6.7, keyed by its address alone
(``get_futex_key``), so the two meet because the object is mapped at one
address in both. Part three asks three predictions that follow from that
key and from ``futex_wake``: what ``nr_wake <= 0`` does, whether a process
that maps nothing can wake the sleepers, and what ``FUTEX_WAIT`` does on an
address its caller has unmapped (6.12 has no VMA check).

Every check runs on fresh boards and reads the model: the waiter's sleeping
address (``Process.futex_wait``), the word in the object's page cache, the
regions; the predictions are compared with what the model does when the
scenario is run at check time.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from ..boards import default
from ..kernel.constants import (
    FUTEX_WAIT,
    FUTEX_WAKE,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_CREAT,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
    VM_SHARED,
)
from ..kernel.errors import KernelError
from .common import PS
from .framework import Exercise, Marker, Stop, errno_value, part

REVISIT = ("the tutorial's notebook 07-shm-futex-mremap, part 3: FUTEX_WAIT sleeps only while "
           "the word holds the value given; without an MMU the futex key is the address alone")


def word(value: int) -> bytes:
    """A futex word: 32 bits, little-endian, signed (as ``FUTEX_WAIT`` compares it)."""
    return struct.pack("<i", value)


class FutexHandshake(Exercise):
    name = "futex-handshake"
    title = "A futex handshake between two processes, through POSIX shared memory"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        pages = rng.randint(1, 3)
        busy = rng.randint(1, 9)
        stale = rng.randint(10, 99)
        return {
            "ram_mib": rng.choice([4, 8]),
            "name": f"/{rng.choice(['door', 'queue', 'frame', 'slot', 'ring'])}-{rng.randrange(100):02d}",
            "size": pages * PS,
            "offset": rng.randrange(0, pages * PS, 4),
            "busy": busy,
            "ready": busy + rng.randint(1, 50),
            "sleepers": rng.randint(2, 4),
            "nr_wake": rng.choice([0, -1, -3]),
            "outsider_nr_wake": rng.randint(1, 5),
            "stale": stale,
            "stale_offset": rng.randrange(0, PS, 4),
            "stale_wait": rng.choice([stale, stale + 1]),
        }

    def board(self) -> Any:
        return default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)

    @property
    def path(self) -> str:
        return "/dev/shm" + self.params["name"]

    def _word_in_file(self, k: Any) -> int | None:
        """The futex word as the object's page cache holds it (None: no such object)."""
        inode = k.lookup(self.path)
        if inode is None or inode.size < self.params["offset"] + 4:
            return None
        return struct.unpack("<i", k.pagecache_read(inode, self.params["offset"], 4))[0]

    def _sleeping(self, k: Any, sleepers: int = 1) -> tuple[list[Any], Any, int]:
        """The model's own set-up: ``sleepers`` waiters asleep on the word, and a waker.

        Returns the waiters, the waker, and the address of the word (one
        address in every process: the object is mapped in place).
        """
        prm = self.params
        procs = [k.spawn(f"waiter{i}") for i in range(sleepers)] + [k.spawn("waker")]
        fd = procs[0].shm_open(prm["name"], O_CREAT | O_RDWR, 0o600)
        procs[0].ftruncate(fd, prm["size"])
        addrs = [p.mmap(0, prm["size"], PROT_READ | PROT_WRITE, MAP_SHARED,
                        p.shm_open(prm["name"], O_RDWR, 0), 0) for p in procs]
        addr = addrs[0] + prm["offset"]
        procs[0].poke(addr, word(prm["busy"]))
        for p in procs[:-1]:
            p.futex(addr, FUTEX_WAIT, prm["busy"])
        return procs[:-1], procs[-1], addr

    def machine(self) -> tuple[Any, int]:
        """The variant's scenario: its sleepers asleep on the word; the word's address."""
        k = self.board()
        _, _, addr = self._sleeping(k, self.params["sleepers"])
        return k, addr

    # -- part 1 ----------------------------------------------------------------
    @part("futex-sleep", 2, "The waiter sleeps on the word, in shared memory", REVISIT)
    def check_sleep(self, m: Marker, sleep: Any) -> None:
        k = self.board()
        got = m.run(sleep, k, what="sleep(k)")
        if not (isinstance(got, tuple) and len(got) == 4):
            raise Stop("sleep(k) must return (waiter, waker, waiter_addr, waker_addr)")
        waiter, waker, aw, ak = got
        if not all(hasattr(p, "vmas") for p in (waiter, waker)) or waiter is waker:
            raise Stop("the first two results must be two processes (k.spawn(...))")
        if not all(isinstance(a, int) for a in (aw, ak)):
            raise Stop("the last two results must be the addresses mmap returned")
        size = self.params["size"]
        vmas = [next((v for v in p.vmas() if v.start == a), None) for p, a in ((waiter, aw), (waker, ak))]
        shared = all(v is not None and v.path == self.path and v.length >= size
                     and v.flags & VM_SHARED for v in vmas)
        one = shared and aw == ak and vmas[0].region.id == vmas[1].region.id
        m.award(one, 0.5, f"both map {self.path} MAP_SHARED at {aw:#x}, one region",
                f"the waiter and the waker must both map {self.path} ({size} bytes) MAP_SHARED, "
                "at the addresses returned: truncate it from size 0 first, so it can be mapped in place",
                "the tutorial's notebook 07-shm-futex-mremap, part 2 (POSIX shm at one address)")
        busy = self.params["busy"]
        value = self._word_in_file(k)
        m.award(value == busy, 0.5, f"the word at offset {self.params['offset']} holds {busy}",
                f"the word at offset {self.params['offset']} of the object holds {value}, not "
                f"{busy}: store it (4 bytes, little-endian) before the waiter waits")
        target = aw + self.params["offset"]
        asleep = waiter.futex_wait == target and waker.futex_wait is None
        if waiter.futex_wait is None:
            why = ("the waiter is not asleep: FUTEX_WAIT sleeps only if the word holds the value "
                   "you pass (otherwise EAGAIN at once)")
        elif waiter.futex_wait != target:
            why = f"the waiter sleeps on {waiter.futex_wait:#x}, not on the word at {target:#x}"
        else:
            why = "the waker must stay awake (only the waiter waits)"
        m.award(asleep, 1, f"the waiter sleeps in FUTEX_WAIT on {target:#x}", why)

    # -- part 2 ----------------------------------------------------------------
    @part("futex-wake", 2, "The waker releases the waiter", REVISIT)
    def check_wake(self, m: Marker, wake: Any) -> None:
        k = self.board()
        (waiter,), waker, addr = self._sleeping(k)
        got = m.run(wake, waker, addr - self.params["offset"], what="wake(waker, addr)")
        ready = self.params["ready"]
        value = self._word_in_file(k)
        m.award(value == ready, 0.5, f"the word now holds {ready}",
                f"the word holds {value}, not {ready}: store the new value through the "
                "waker's mapping (a wake-up alone does not change the word)")
        awake = waiter.futex_wait is None
        m.award(awake and waker.futex_wait is None, 1, "the waiter was woken",
                "the waiter still sleeps: changing the word does not wake anybody, FUTEX_WAKE on "
                f"the word's address ({addr:#x}) does" if not awake else
                "the waker must not sleep")
        m.award(got == int(awake) and not isinstance(got, bool), 0.5,
                f"wake() returned {got}: the number of waiters FUTEX_WAKE woke",
                f"wake() must return what FUTEX_WAKE returned (the number woken: "
                f"{int(awake)}), not {got!r}")

    # -- part 3 ----------------------------------------------------------------
    def outcomes(self) -> dict[str, Any]:
        """What the model does in the three scenarios of part three (run now, on fresh boards)."""
        prm = self.params
        k, addr = self.machine()
        nr_wake = k.spawn("waker").futex(addr, FUTEX_WAKE, prm["nr_wake"])

        k, addr = self.machine()
        outsider = k.spawn("outsider").futex(addr, FUTEX_WAKE, prm["outsider_nr_wake"])

        k = self.board()
        p = k.spawn("forgetful")
        a = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        p.poke(a + prm["stale_offset"], word(prm["stale"]))
        p.munmap(a, PS)
        try:
            stale: Any = p.futex(a + prm["stale_offset"], FUTEX_WAIT, prm["stale_wait"])
        except KernelError as e:
            stale = e.errno_name
        return {"nr_wake": nr_wake, "outsider": outsider, "stale_wait": stale}

    @part("futex-rules", 3, "Predict three futex outcomes, and know the rule behind each",
          "the tutorial's notebook 07-shm-futex-mremap, part 3, and kernel/futex: "
          "get_futex_key and futex_wake")
    def check_rules(self, m: Marker, predictions: Any) -> None:
        got = m.answer(predictions, what="predictions()")
        if not isinstance(got, dict):
            raise Stop('predictions() must return a dict with the keys "nr_wake", "outsider" '
                       'and "stale_wait"')
        want = self.outcomes()
        prm = self.params
        n = prm["sleepers"]
        g = got.get("nr_wake")
        m.award(g == want["nr_wake"] and not isinstance(g, bool), 1,
                f"FUTEX_WAKE with nr_wake = {prm['nr_wake']} wakes {want['nr_wake']} of the {n}",
                f"{g!r} is not how many FUTEX_WAKE with nr_wake = {prm['nr_wake']} wakes: "
                "futex_wake counts a waiter as woken before it compares the count with nr_wake",
                "kernel/futex/waitwake.c, futex_wake: the loop wakes, then tests ++ret >= nr_wake")
        g = got.get("outsider")
        m.award(g == want["outsider"] and not isinstance(g, bool), 1,
                f"the process that maps nothing wakes {want['outsider']} (the key is the address alone)",
                f"{g!r} is not what the outsider's FUTEX_WAKE returns: without an MMU the key is "
                "the address alone and no VMA is looked up, so whose mapping it is does not matter",
                "get_futex_key in kernel/futex/core.c (no-MMU: every futex private, no VMA check), "
                "notebook 07-shm-futex-mremap")
        g = got.get("stale_wait")
        w = want["stale_wait"]
        if isinstance(w, str):
            ok = errno_value(g) == errno_value(w)
            good = f"FUTEX_WAIT on the unmapped word returns {w} at once: the word holds {prm['stale']}"
        else:
            ok = g == w and not isinstance(g, bool)
            good = (f"FUTEX_WAIT on the unmapped word returns {w}: it sleeps, since the freed page "
                    f"still holds {prm['stale']} and nothing checks the mapping")
        m.award(ok, 1, good,
                f"{g!r} is not what that FUTEX_WAIT returns: 6.12 checks no mapping (only that the "
                "address is 4-byte aligned), then compares the word with whatever the RAM there "
                "holds (a freed page is not cleared)",
                "get_futex_key and futex_wait_setup; notebook 07-shm-futex-mremap, part 3")
