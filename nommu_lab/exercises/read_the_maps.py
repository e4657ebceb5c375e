"""Exercise "read-the-maps" (kind: read a /proc dump and answer).

The learner gets the text of ``/proc/maps`` and ``/proc/buddyinfo`` of a
machine after a seeded workload (processes mapping anonymous memory of
various sizes, freeing some, a program file mapped from flash, a POSIX shm
object shared by two processes) and answers three questions that need the
kernel's rules, not only the text: which line is an in-place (XIP) flash
mapping, how many pages an anonymous mapping really holds under this
``vm.nr_trim_pages`` (``do_mmap_private``'s trimming), and the largest
anonymous mapping that can still succeed (one buddy block of
``get_order(len)``). The expected answers are read from the rebuilt machine
at check time.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from ..boards import FLASH_BASE, FLASH_SIZE, default
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from ..kernel.errors import KernelError
from .common import PS
from .framework import Exercise, Marker, part

ROM_FILES = ("/rom/data/pattern.bin", "/rom/data/page.bin", "/rom/etc/motd", "/rom/bin/hello")
#: page counts that are not powers of two, so trimming decides the charge
ODD_PAGES = (3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 17, 19, 21, 25)
#: large mappings that take the biggest free blocks, by RAM size (MiB)
BIG_PAGES = {4: (70, 100, 150, 200, 260), 8: (150, 300, 450, 600, 700, 900)}


class ReadTheMaps(Exercise):
    name = "read-the-maps"
    title = "Read /proc/maps and /proc/buddyinfo"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        while True:  # draw again until the workload fits the RAM drawn (rarely more than once)
            params = self._draw(rng)
            try:
                type(self)(self.student, params).machine()
                return params
            except KernelError:
                continue

    def _draw(self, rng: random.Random) -> dict[str, Any]:
        ram_mib = rng.choice([4, 8])
        workload = []
        for i in range(rng.randint(6, 10)):
            pages = rng.choice((1, 2, 4, 8, 16, 32, *ODD_PAGES))
            workload.append([f"worker{i % 3}", pages, rng.random() < 0.7])  # [process, pages, kept]
        for _ in range(rng.randint(1, 2)):  # big ones split the largest blocks
            big = rng.choice(BIG_PAGES[ram_mib])
            workload.insert(rng.randrange(len(workload) + 1), ["cache", big, rng.random() < 0.6])
        target = rng.randrange(len(workload) + 1)
        workload.insert(target, [f"worker{target % 3}", rng.choice(ODD_PAGES), True])
        return {
            "ram_mib": ram_mib,
            "nr_trim_pages": rng.choice([0, 1, 2, 4]),
            "rom_file": rng.choice(ROM_FILES),
            "shm_pages": rng.randint(1, 4),
            "workload": workload,
            "target": target,
        }

    def machine(self) -> tuple[Any, int]:
        """The machine after the workload, and the address of the mapping asked about."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, nr_trim_pages=prm["nr_trim_pages"], exam=self.exam)
        procs: dict[str, Any] = {}
        viewer = k.spawn("viewer")
        viewer.mmap(0, 2 * PS if prm["rom_file"].endswith("hello") else PS, PROT_READ | PROT_EXEC,
                    MAP_PRIVATE, viewer.open(prm["rom_file"], O_RDONLY), 0)
        freed, target_addr = [], 0
        for i, (name, pages, kept) in enumerate(prm["workload"]):
            p = procs.get(name) or procs.setdefault(name, k.spawn(name))
            a = p.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if i == prm["target"]:
                target_addr = a
            if not kept:
                freed.append((p, a, pages * PS))
        for p, a, n in freed:
            p.munmap(a, n)
        for who in ("writer", "reader"):
            p = k.spawn(who)
            fd = p.open("/dev/shm/status", O_CREAT | O_RDWR, 0o600)
            if who == "writer":
                p.ftruncate(fd, prm["shm_pages"] * PS)
            p.mmap(0, prm["shm_pages"] * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return k, target_addr

    @functools.cached_property
    def _seen(self) -> tuple[str, str, int]:
        k, target = self.machine()
        return k.proc_maps(), k.proc_buddyinfo(), target

    def dump(self) -> str:
        """What the learner reads: /proc/maps and /proc/buddyinfo, as ``cat`` prints them."""
        maps, buddyinfo, _ = self._seen
        return f"$ cat /proc/maps\n{maps}$ cat /proc/buddyinfo\n{buddyinfo}"

    @property
    def maps(self) -> str:
        """The text of /proc/maps after the workload."""
        return self._seen[0]

    @property
    def buddyinfo(self) -> str:
        """The text of /proc/buddyinfo after the workload."""
        return self._seen[1]

    @property
    def target(self) -> int:
        """The address of the anonymous mapping question 2 asks about."""
        return self._seen[2]

    @part("maps-flash", 1, "Which line maps a file in place from flash?",
          "the tutorial's notebook on private file mappings: romfs on NOR flash maps "
          "read-only files in place (XIP), at unaligned flash addresses")
    def check_flash(self, m: Marker, answer: Any) -> None:
        got = m.answer(answer, what="flash_mapping_start()")
        k, _ = self.machine()
        flash = [r for r in k.regions() if FLASH_BASE <= r.start < FLASH_BASE + FLASH_SIZE]
        want = flash[0].start
        m.award(got == want, 1, f"{want:#010x}: the line whose address is in the flash, not in RAM",
                f"{got!r} is not the start of the in-place mapping: RAM starts at 0x80000000, "
                "and a direct mapping of a romfs file points into the flash chip")

    @part("maps-charge", 2, "How much RAM does that anonymous mapping really hold?",
          "the tutorial's trimming notebook: an n-page copy takes a 2^order block and gives "
          "back the tail only if vm.nr_trim_pages != 0 and the tail is at least that long")
    def check_charge(self, m: Marker, answer: Any) -> None:
        got = m.answer(answer, what="pages_held()")
        k, addr = self.machine()
        region = next(r for r in k.regions() if r.start == addr)
        want = (region.top - region.start) // PS
        shown = (region.end - region.start) // PS
        if got == shown and shown != want:
            m.award(False, 2, "", f"{got} is what /proc/maps shows (the length asked for); "
                    f"the RAM it holds depends on vm.nr_trim_pages = {self.params['nr_trim_pages']}")
            return
        m.award(got == want, 2, f"{want} pages ({shown} asked for, vm.nr_trim_pages = "
                f"{self.params['nr_trim_pages']})",
                f"{got!r} pages is not what the mapping at {addr:#x} holds")

    @part("maps-largest", 2, "The largest anonymous mmap that can succeed now",
          "the tutorial's notebook on power-of-two allocation and /proc/buddyinfo: a copy "
          "needs one free block of 2^order pages, whatever the total free memory")
    def check_largest(self, m: Marker, answer: Any) -> None:
        got = m.answer(answer, what="largest_mmap_pages()")
        k, _ = self.machine()
        want = k.largest_free_block() // PS
        total = sum(n << order for order, n in enumerate(k.buddyinfo()))
        if got == total and total != want:
            m.award(False, 2, "", f"{got} pages is all the free memory; a mapping needs it in "
                    "one block")
            return
        m.award(got == want, 2, f"{want} pages: the largest free block in /proc/buddyinfo",
                f"{got!r} pages is not the largest request that can succeed")
