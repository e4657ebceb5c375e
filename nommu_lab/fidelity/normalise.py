"""Turn a raw transcript into relations that both sides can be compared on.

Absolute addresses differ between the model and the real kernel (and even
between two boots), so they are never compared.  What is compared, per step:

``result``
    ``"ok"``, an errno name (``"EINVAL"``), or a number where the number is the
    lesson (bytes written, a futex wake count, a sysctl value, a file size).
addresses (mmap, mremap, shmat)
    ``page_aligned``; ``block_aligned`` (aligned to the power-of-two block
    the buddy allocator would hand out for that length); ``align16``;
    ``same_as`` (the live labels with the same address); ``inside`` (the live
    mappings it lies in, as ``label+offset``); ``sign_extended`` (kernel bug 4);
    ``reuses`` (an unmapped label's address; only with ``!reuse``).
``mmapcopy_delta_pages``
    the change of ``MmapCopy`` since the previous ``meminfo`` step, in pages
    (``"baseline"`` for the first).  Starting, exec'ing or ending a process
    loads or frees a program image, which is board-specific (the model's
    hello is not the oracle's runner), so the first ``meminfo`` after a
    ``spawn``, ``exec`` or ``exit`` is a new baseline.
``lines``
    /proc maps lines whose address is a label's, with the address replaced by
    the label: ``a len=0x3000 rw-p off=0x0 dev=no ino=no``, then the path.
    Lines of mappings the scenario did not make (program images, stacks of
    helper processes) are left out.  A line for a mapping that was already
    unmapped (kernel bugs 1 and 2) shows as ``label(unmapped)``.  Labels of
    an address space die with it (exec, or exit of its last user).
``bytes``
    what peek/read returned, in hex.
``result`` of a step during which its process was killed
    ``"killed by SIGKILL"`` (the signal), whatever the call would have returned.
``zones``
    /proc/buddyinfo by its shape, one entry a zone: node, zone name, how many
    orders are counted, and whether the line is printed exactly as
    ``frag_show_print`` (mm/vmstat.c) prints it.  The counts depend on the
    machine's RAM and history, so they are not compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nommu_lab.fidelity.linux import PAGE_SIZE, errno_name, signal_name
from nommu_lab.fidelity.scenario import Ref, Scenario, Step
from nommu_lab.fidelity.transcript import RawStep

Relations = dict[str, Any]

_MAPS = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*?)\s*$"
)


_BUDDYINFO = re.compile(r"Node (\d+), zone +(\S+)((?: +\d+)*) ?\Z")


def is_error(ret: int) -> bool:
    return -4095 <= ret < 0


def block_bytes(length: int) -> int:
    """Size of the buddy block a copy of ``length`` bytes is carved from."""
    pages = max(1, -(-length // PAGE_SIZE))
    order = (pages - 1).bit_length()
    return PAGE_SIZE << order


def sign_extended(addr: int) -> bool:
    """An address that went through a 32-bit int on a 64-bit kernel (bug 4)."""
    return addr >> 31 == 0x1FFFFFFFF


@dataclass
class _Mapping:
    label: str
    addr: int
    length: int
    mm: int  # which address space made it


@dataclass
class MapsLine:
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str


def buddyinfo_shape(line: str) -> str:
    """One /proc/buddyinfo line reduced to what both machines share.

    ``frag_show_print`` (mm/vmstat.c) prints ``"Node %d, zone %8s "``, then
    ``"%6lu "`` for every order, then a newline.  The shape keeps the node,
    the zone name and the number of orders, and says when the line is not in
    that format (the line itself is then kept, to show what differs).
    """
    m = _BUDDYINFO.match(line)
    if m is None:
        return f"not a buddyinfo line: {line!r}"
    node, zone, counts = m.groups()
    numbers = counts.split()
    shape = f"Node {node}, zone {zone}: {len(numbers)} orders"
    exact = f"Node {node}, zone {zone:>8} " + "".join(f"{int(n):6d} " for n in numbers)
    return shape if line == exact else f"{shape}, not frag_show_print's format: {line!r}"


def parse_maps_line(line: str) -> MapsLine | None:
    """One line of /proc/maps or /proc/PID/maps; None if it is not one."""
    m = _MAPS.match(line)
    if not m:
        return None
    s, e, perms, off, dev, ino, path = m.groups()
    return MapsLine(int(s, 16), int(e, 16), perms, int(off, 16), dev, int(ino), path)


class Normaliser:
    """Walks one scenario's raw steps, keeping track of the labelled mappings."""

    def __init__(self, sc: Scenario, steps: list[RawStep]) -> None:
        self.sc = sc
        self.raw = steps
        self.live: list[_Mapping] = []
        self.dead: list[_Mapping] = []
        self.last_copy: int | None = None
        # address spaces: process -> mm number; vfork and clone(CLONE_VM) share
        self.mm: dict[str, int] = {}
        self.alive: set[str] = set()
        self.next_mm = 0

    # ------------------------------------------------------------- values
    def value(self, a: object) -> int:
        if isinstance(a, Ref):
            if a.step >= len(self.raw):
                return a.offset
            st = self.raw[a.step]
            got = st.get("ret2", 0) if a.which else st.get("ret", 0)
            return int(got) + a.offset
        if isinstance(a, int):
            return a
        return 0

    def label_at(self, addr: int, mm: int | None = None) -> str | None:
        """The live label at ``addr``; address space ``mm``'s own first (a region
        two processes map has the same address in both)."""
        live = sorted(self.live, key=lambda m: m.mm != mm)
        for m in live:
            if m.addr == addr:
                return m.label
        for m in live:
            if m.addr < addr < m.addr + m.length:
                return f"{m.label}+{addr - m.addr:#x}"
        return None

    def dead_label_at(self, addr: int, length: int) -> str | None:
        """A line for a mapping already gone (kernel bugs 1 and 2 print such)."""
        for m in reversed(self.dead):
            if m.addr == addr and -(-m.length // PAGE_SIZE) * PAGE_SIZE == length:
                return f"{m.label}(unmapped)"
        return None

    # ---------------------------------------------------------- relations
    def address(self, st: Step, addr: int, length: int) -> Relations:
        rel: Relations = {
            "result": "ok",
            "page_aligned": addr % PAGE_SIZE == 0,
            "block_aligned": addr % block_bytes(length) == 0,
            "align16": addr % 16 == 0,
            "sign_extended": sign_extended(addr),
            "same_as": sorted(m.label for m in self.live if m.addr == addr),
            "inside": sorted(
                f"{m.label}+{addr - m.addr:#x}" for m in self.live if m.addr < addr < m.addr + m.length
            ),
        }
        if st.check_reuse:
            rel["reuses"] = sorted(m.label for m in self.dead if m.addr == addr)
        return rel

    def maps(self, lines: list[str], mm: int | None = None) -> list[str]:
        """Maps lines by their shape; ``mm``: whose /proc/PID/maps (None: /proc/maps)."""
        shapes: list[str] = []
        for text in lines:
            ml = parse_maps_line(text)
            if ml is None:
                continue
            label = self.label_at(ml.start, mm) or self.dead_label_at(ml.start, ml.end - ml.start)
            if label is None:
                continue
            shapes.append(
                f"{label} len={ml.end - ml.start:#x} {ml.perms} off={ml.offset:#x} "
                f"dev={'no' if ml.dev == '00:00' else 'yes'} ino={'yes' if ml.inode else 'no'}"
                + (f" {ml.path}" if ml.path else "")
            )
        return sorted(shapes)

    def kill(self, mm: int, addr: int, length: int | None) -> None:
        """An unmap at ``addr`` in address space ``mm`` ends the labels there.

        Only that address space's: without an MMU another process's mapping
        of the same region has the same address and stays mapped.
        """
        for m in list(self.live):
            if m.mm != mm or m.addr != addr:
                continue
            if length is None or -(-length // PAGE_SIZE) >= -(-m.length // PAGE_SIZE):
                self.live.remove(m)
                self.dead.append(m)

    def shm_size(self, st: Step) -> int:
        ref = st.args[0]
        if isinstance(ref, Ref):
            src = self.sc.steps[ref.step]
            if src.op == "shmget":
                return self.value(src.args[1])
        return PAGE_SIZE

    def new_mm(self) -> int:
        self.next_mm += 1
        return self.next_mm

    def drop_mm(self, mm: int) -> None:
        """An address space was torn down: its mappings are gone."""
        if any(self.mm.get(p) == mm for p in self.alive):
            return
        for m in [m for m in self.live if m.mm == mm]:
            self.live.remove(m)
            self.dead.append(m)

    def processes(self, st: Step, ok: bool) -> None:
        """Follow which process uses which address space."""
        if not ok:
            return
        if st.new_proc is not None:
            if st.op == "vfork" or (st.op == "clone" and self.value(st.args[0]) & 0x100):
                self.mm[st.new_proc] = self.mm.get(st.proc, 0)
            else:
                self.mm[st.new_proc] = self.new_mm()
            self.alive.add(st.new_proc)
        elif st.op in ("exec", "exit"):
            old = self.mm.get(st.proc, 0)
            if st.op == "exit":
                self.alive.discard(st.proc)
            else:
                self.mm[st.proc] = self.new_mm()
            self.drop_mm(old)

    def step(self, st: Step, raw: RawStep) -> Relations:
        rel = self._step(st, raw)
        self.processes(st, rel.get("result") == "ok")
        return rel

    def _step(self, st: Step, raw: RawStep) -> Relations:
        if st.op in ("spawn", "exec", "exit"):
            self.last_copy = None
        if "error" in raw:
            return {"result": "model raised " + str(raw["error"])}
        if "killed" in raw:
            sig = int(raw["killed"])
            return {"result": f"killed by {signal_name(sig)}" if sig else "killed"}
        ret = int(raw.get("ret", 0))
        kind = st.result_kind
        if is_error(ret):
            return {"result": errno_name(-ret)}
        if kind == "addr":
            if st.op == "mmap":
                length = self.value(st.args[1])
            elif st.op == "mremap":
                length = self.value(st.args[2])
            else:
                length = self.shm_size(st)
            rel = self.address(st, ret, length)
            mm = self.mm.get(st.proc, 0)
            if st.op == "mremap":
                old = self.value(st.args[0])
                for m in self.live:
                    if m.mm == mm and m.addr == old:
                        m.length = length
            for lab in st.labels:
                self.live.append(_Mapping(lab, ret, length, mm))
            return rel
        if kind == "meminfo":
            pages = ret * 1024 // PAGE_SIZE
            delta: int | str = "baseline" if self.last_copy is None else pages - self.last_copy
            self.last_copy = pages
            return {"mmapcopy_delta_pages": delta}
        if kind == "maps":
            mm = self.mm.get(st.proc) if st.op == "maps" else None
            return {"result": "ok", "lines": self.maps(list(raw.get("lines", [])), mm)}
        if kind == "buddyinfo":
            return {"result": "ok", "zones": [buddyinfo_shape(t) for t in raw.get("lines", [])]}
        if kind == "bytes":
            return {"result": "ok", "bytes": raw.get("bytes") or ""}
        if kind == "count":
            return {"result": ret}
        if kind == "value":
            return {"result": ret if len(st.args) == 1 else "ok"}
        mm = self.mm.get(st.proc, 0)
        if st.op == "munmap":
            self.kill(mm, self.value(st.args[0]), self.value(st.args[1]))
        elif st.op == "shmdt":
            self.kill(mm, self.value(st.args[0]), None)
        return {"result": "ok"}


def normalise(sc: Scenario, raw: dict[str, Any]) -> list[Relations | None]:
    """Relations for every step of ``sc``; None for steps the side never ran."""
    steps: list[RawStep] = list(raw.get("steps", []))
    abandoned = raw.get("abandoned")
    stop = abandoned["step"] if abandoned else len(sc.steps)
    norm = Normaliser(sc, steps)
    out: list[Relations | None] = []
    for st in sc.steps:
        if st.index >= len(steps) or st.index > stop or (abandoned and st.index == stop):
            out.append(None)
            continue
        out.append(norm.step(st, steps[st.index]))
    return out
