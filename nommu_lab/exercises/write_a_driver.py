"""Exercise "write-a-driver" (kinds: reach a goal as the driver; predict the kernel's calls).

Part one: the learner writes (or configures) a character driver whose
``mmap`` behaviour meets the variant's requirements: shared maps in place
at the device's memory, writable or not, executable or not, private
writable maps as copies of the device's bytes or refused, mappings past the
end refused. What decides each outcome is ``validate_mmap_request``
(``mm/nommu.c``), from the driver's ``mmap_capabilities`` (or the
character-device default), then the driver's ``get_unmapped_area`` and
``mmap``. The check registers a fresh instance on a fresh board for every
request, maps it and reads the VMAs, the regions and the bytes.

Part two: a second process maps a range of a device that a first process
has mapped already (the same range, a part of it, or an overlapping range;
shared in place or a private copy). The learner predicts which driver
methods the kernel calls for the second mapping, what it gets, and how
many times ``vm_ops->close`` runs when both go away. The check runs the
scenario with a :class:`~nommu_lab.kernel.devices.SimpleDriver` and reads
its call log.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_PRIVATE,
    MAP_SHARED,
    NOMMU_MAP_COPY,
    NOMMU_MAP_READ,
    O_RDWR,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from ..kernel.devices import SimpleDriver
from ..kernel.errors import KernelError
from ..kernel.memory import PageState
from ..kernel.vfs import FileOperations
from .common import PS
from .framework import Exercise, Marker, Stop, errno_value, part

REVISIT = ("the tutorial's notebook 08-drivers: mmap_capabilities (DIRECT, COPY, READ, WRITE, "
           "EXEC) and what validate_mmap_request does with each")

#: the second mapping of part two, relative to the first
RELATIONS = ("exact", "subset", "overlap")
#: the memory of part two's driver, in pages
REUSE_PAGES = 6


@dataclass
class ReuseRun:
    """Part two's scenario after the second mmap."""

    driver: SimpleDriver
    calls: list[str]  # the driver's methods called for the second mapping (not mmap_capabilities)
    result: str  # "shared", "new", or the errno name of the refusal
    mappings: list[tuple[Any, int | None, int]]  # (process, address or None, pages)


class WriteADriver(Exercise):
    name = "write-a-driver"
    title = "Write a driver whose mmap does what the device needs"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        pages = rng.randint(2, 6)
        offset = rng.randrange(pages)
        dev = rng.choice(["adc", "dsp", "fpga", "camera", "modem", "codec"])
        relation = rng.choice(RELATIONS)
        first = (rng.randrange(0, 3), rng.randint(2, 3))  # (page offset, pages) within REUSE_PAGES
        o1, l1 = first
        if relation == "exact":
            second = first
        elif relation == "subset":
            o2 = rng.randrange(o1, o1 + l1)
            l2 = rng.randint(1, o1 + l1 - o2 - (o2 == o1))
            second = (o2, l2)
        else:  # starts inside it and ends past it, still inside the device's 6 pages
            o2 = rng.randrange(o1 + 1, o1 + l1)
            second = (o2, o1 + l1 - o2 + rng.randint(1, REUSE_PAGES - (o1 + l1)))
        return {
            "ram_mib": rng.choice([4, 8]),
            "path": f"/dev/{dev}{rng.randrange(4)}",
            "pages": pages,
            "shared_write": rng.choice([True, False]),
            "private": rng.choice(["copy", "refused"]),
            "exec": rng.choice([True, False]),
            "offset": offset,
            "length": rng.randint(1, pages - offset),
            "marker": f"{dev} regs rev{rng.randint(1, 9)}".encode(),
            "reuse_kind": rng.choice(["shared", "private"]),
            "first": list(first),
            "second": list(second),
        }

    def board(self) -> Any:
        return default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)

    @property
    def requirements(self) -> list[str]:
        """Part one's requirements, as the notebook states them."""
        prm = self.params
        return [
            f"it has {prm['pages']} pages of memory, set aside when it is registered, and "
            "keeps their address in its attribute `base`",
            "MAP_SHARED, PROT_READ: mapped in place, at base plus the offset asked for",
            "MAP_SHARED, PROT_READ | PROT_WRITE: " + (
                "mapped in place too" if prm["shared_write"] else
                "refused (the memory may not be written through a mapping)"),
            "MAP_PRIVATE, PROT_READ | PROT_WRITE: " + (
                "a copy in RAM that starts with the device's bytes (writes to it never reach "
                "the device)" if prm["private"] == "copy" else "refused"),
            "MAP_SHARED, PROT_READ | PROT_EXEC: " + (
                "mapped in place" if prm["exec"] else "refused (nothing may run from it)"),
            "a mapping that runs past the end of the device's memory: refused",
        ]

    # -- part 1 ----------------------------------------------------------------
    def _fresh(self, m: Marker, make_driver: Any) -> tuple[Any, Any, Any, int]:
        """A fresh board with a fresh instance of the learner's driver, a process and an fd."""
        k = self.board()
        drv = m.run(make_driver, what="make_driver()")
        if not isinstance(drv, FileOperations):
            raise Stop(f"make_driver() must return a driver (an nl.FileOperations, e.g. an "
                       f"nl.SimpleDriver), not {type(drv).__name__}")
        try:
            k.register_driver(self.params["path"], drv)
        except Exception as e:  # the learner's attach() runs here
            raise Stop(f"registering the driver failed: {type(e).__name__}: {e}") from None
        p = k.spawn("app")
        try:
            fd = p.open(self.params["path"], O_RDWR)
        except KernelError as e:
            raise Stop(f"opening {self.params['path']} read/write failed: {e.errno_name} [{e.rule}]") from None
        return k, drv, p, fd

    def _device(self, k: Any) -> Any:
        """The driver registered at the variant's path on ``k``."""
        return k.lookup(self.params["path"]).fops

    def _map(self, p: Any, fd: int, n: int, prot: int, flags: int, pgoff: int) -> int | KernelError:
        try:
            return p.mmap(0, n * PS, prot, flags, fd, pgoff * PS)
        except KernelError as e:
            return e

    @part("driver-caps", 3, "A driver that meets the device's requirements", REVISIT)
    def check_caps(self, m: Marker, make_driver: Any) -> None:
        prm = self.params
        pages, off, n = prm["pages"], prm["offset"], prm["length"]
        k, drv, _, _ = self._fresh(m, make_driver)
        base = getattr(drv, "base", None)
        ok = isinstance(base, int) and k.addressable(base, pages * PS) and base % PS == 0 and all(
            k.mem.state[k.mem.addr_to_pfn(base) + i] == PageState.DEVICE for i in range(pages))
        if not m.award(ok, 0.5, f"{pages} pages of device memory at base = {base:#x}" if ok else "",
                       f"the driver's base ({base!r}) is not the start of {pages} pages set aside "
                       "for it: in attach(kernel), base = kernel.reserve_device_memory(pages) "
                       "(nl.SimpleDriver does this with memory_pages)"):
            return

        def request(prot: int, flags: int, length: int = n, pgoff: int = off) -> tuple[Any, Any, Any]:
            """One request on a board of its own, the device holding the marker at pgoff."""
            k2, drv2, p2, fd2 = self._fresh(m, make_driver)
            if pgoff < prm["pages"]:
                k2.phys_write(drv2.base + pgoff * PS, prm["marker"])
            return k2, p2, self._map(p2, fd2, length, prot, flags, pgoff)

        def in_place(k2: Any, a: Any, what: str) -> tuple[bool, str]:
            if isinstance(a, KernelError):
                return False, f"{what} was refused ({a.errno_name} [{a.rule}]); it must be mapped in place"
            want = self._device(k2).base + off * PS
            if a != want:
                return False, f"{what} went to {a:#x}, not to the device's memory at base + {off * PS:#x}"
            return True, ""

        def refused(a: Any, what: str) -> tuple[bool, str]:
            if isinstance(a, KernelError):
                return True, ""
            return False, f"{what} was mapped at {a:#x}; it must be refused"

        k2, _, a = request(PROT_READ, MAP_SHARED)
        good, why = in_place(k2, a, "MAP_SHARED, PROT_READ")
        m.award(good, 0.5, "MAP_SHARED, PROT_READ is mapped in place", why)

        k2, _, a = request(PROT_READ | PROT_WRITE, MAP_SHARED)
        good, why = (in_place(k2, a, "MAP_SHARED read/write") if prm["shared_write"]
                     else refused(a, "MAP_SHARED read/write"))
        m.award(good, 0.5, "MAP_SHARED read/write is " + (
            "mapped in place" if prm["shared_write"] else "refused"), why)

        k2, p2, a = request(PROT_READ | PROT_WRITE, MAP_PRIVATE)
        if prm["private"] == "copy":
            good, why = self._is_copy(k2, p2, a)
        else:
            good, why = refused(a, "MAP_PRIVATE read/write")
        m.award(good, 0.5, "MAP_PRIVATE read/write is " + (
            "a copy of the device's bytes" if prm["private"] == "copy" else "refused"), why)

        k2, _, a = request(PROT_READ | PROT_EXEC, MAP_SHARED)
        good, why = (in_place(k2, a, "MAP_SHARED read/exec") if prm["exec"]
                     else refused(a, "MAP_SHARED read/exec"))
        m.award(good, 0.5, "MAP_SHARED read/exec is " + (
            "mapped in place" if prm["exec"] else "refused"), why)

        bad = []
        for length, pgoff in ((pages + 1, 0), (2, pages - 1), (1, pages)):
            _, _, a = request(PROT_READ, MAP_SHARED, length, pgoff)
            if not isinstance(a, KernelError):
                bad.append(f"{length} page(s) at page {pgoff} was mapped at {a:#x}")
        m.award(not bad, 0.5, "mappings past the end of the device are refused",
                "; ".join(bad) + ": get_unmapped_area must refuse a range past the device's "
                "memory (return -EINVAL)")

    def _is_copy(self, k: Any, p: Any, a: Any) -> tuple[bool, str]:
        """A private read/write map: a copy in RAM of the device's bytes, not the device."""
        prm = self.params
        if isinstance(a, KernelError):
            return False, (f"MAP_PRIVATE read/write was refused ({a.errno_name} [{a.rule}]); it must "
                           "be a copy: the driver must allow COPY and be readable")
        region = next((r for r in k.regions() if r.start <= a < r.end), None)
        dev_base = self._device(k).base
        marker = prm["marker"]
        if region is None or not region.copy:
            return False, f"MAP_PRIVATE read/write at {a:#x} is not a copy"
        if p.peek(a, len(marker)) != marker:
            return False, (f"the copy at {a:#x} does not hold the device's bytes ({marker!r}): "
                           "the kernel fills a copy with the driver's read()")
        p.poke(a, bytes(len(marker)))
        if k.phys_read(dev_base + prm["offset"] * PS, len(marker)) != marker:
            return False, "a write to the private copy changed the device's memory"
        return True, ""

    # -- part 2 ----------------------------------------------------------------
    def _reuse_setup(self) -> tuple[SimpleDriver, int, int]:
        """Part two's driver, and the protection and flags both processes map it with."""
        if self.params["reuse_kind"] == "shared":
            return (SimpleDriver("dev", memory_pages=REUSE_PAGES),
                    PROT_READ | PROT_WRITE, MAP_SHARED)
        return (SimpleDriver("dev", memory_pages=REUSE_PAGES,
                             capabilities=NOMMU_MAP_COPY | NOMMU_MAP_READ),
                PROT_READ, MAP_PRIVATE)

    @property
    def reuse_scenario(self) -> str:
        """Part two's scenario, as the notebook prints it."""
        (o1, l1), (o2, l2) = self.params["first"], self.params["second"]
        if self.params["reuse_kind"] == "shared":
            drv = f'nl.SimpleDriver("dev", memory_pages={REUSE_PAGES})'
            how = "PROT_READ | PROT_WRITE, MAP_SHARED"
        else:
            drv = (f'nl.SimpleDriver("dev", memory_pages={REUSE_PAGES}, '
                   "capabilities=NOMMU_MAP_COPY | NOMMU_MAP_READ)")
            how = "PROT_READ, MAP_PRIVATE"
        return "\n".join([
            f'driver = k.register_driver("/dev/dev0", {drv})',
            'first, second = k.spawn("first"), k.spawn("second")',
            f"a = first.mmap(0, {l1} * PAGE, {how}, first.open(\"/dev/dev0\", O_RDWR), {o1} * PAGE)",
            f"b = second.mmap(0, {l2} * PAGE, {how}, second.open(\"/dev/dev0\", O_RDWR), {o2} * PAGE)",
            "# then each process munmaps what it mapped",
        ])

    def machine(self) -> tuple[Any, ReuseRun]:
        """Part two's scenario up to the second mapping: the board, and what happened."""
        prm = self.params
        k = self.board()
        drv, prot, flags = self._reuse_setup()
        k.register_driver("/dev/dev0", drv)
        (o1, l1), (o2, l2) = prm["first"], prm["second"]
        first, second = k.spawn("first"), k.spawn("second")
        a = first.mmap(0, l1 * PS, prot, flags, first.open("/dev/dev0", O_RDWR), o1 * PS)
        fd = second.open("/dev/dev0", O_RDWR)
        before = len(drv.calls)
        try:
            b: int | None = second.mmap(0, l2 * PS, prot, flags, fd, o2 * PS)
        except KernelError as e:
            b, result = None, e.errno_name
        if b is not None:
            ra = next(v.region.id for v in first.vmas() if v.start == a)
            rb = next(v.region.id for v in second.vmas() if v.start == b)
            result = "shared" if ra == rb else "new"
        calls = [c.split("(")[0] for c in drv.calls[before:] if c != "mmap_capabilities"]
        return k, ReuseRun(drv, calls, result, [(first, a, l1), (second, b, l2)])

    def reuse_outcome(self) -> tuple[list[str], str, int]:
        """Run part two's scenario now: the driver's calls for the second mapping, its
        result ("shared", "new" or an errno name), and how many times close ran."""
        _, run = self.machine()
        closes = run.driver.closes
        for p, addr, pages in run.mappings:
            if addr is not None:
                p.munmap(addr, pages * PS)
        return run.calls, run.result, run.driver.closes - closes

    @part("driver-reuse", 2, "Predict what a second mapping asks of the driver",
          "the tutorial's notebook 08-drivers, parts 4 and 5: do_mmap's search for a shareable "
          "region, do_mmap_shared_file on reuse, and delete_vma")
    def check_reuse(self, m: Marker, second_mapping: Any) -> None:
        got = m.answer(second_mapping, what="second_mapping()")
        if not (isinstance(got, tuple) and len(got) == 3):
            raise Stop("second_mapping() must return (calls, result, closes)")
        calls, result, closes = got
        want_calls, want_result, want_closes = self.reuse_outcome()
        names = list(calls) if isinstance(calls, (list, tuple)) else None
        m.award(names == want_calls, 1,
                f"the kernel calls {want_calls or 'nothing'} for the second mapping",
                f"{calls!r} is not what the kernel calls on the driver for the second mapping "
                "(leave out mmap_capabilities): think about whether it finds a region to share, "
                "and whether that region is the device itself or a copy")
        if isinstance(result, str) and errno_value(result) is not None:
            same = errno_value(result) == errno_value(want_result)
        else:
            same = result == want_result
        m.award(same, 0.5, f"the second mapping: {want_result}",
                f"{result!r} is not what the second mapping gets (\"shared\": the first one's "
                "region; \"new\": a region of its own; or the errno name of the refusal)")
        m.award(closes == want_closes and not isinstance(closes, bool), 0.5,
                f"close runs {want_closes} time(s) when both go",
                f"{closes!r} is not how many times vm_ops->close runs when the mappings go: "
                "it is called for each VMA removed that the driver accepted with its mmap")
