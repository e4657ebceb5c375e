"""Exercise "private-file-mappings" (cases 3 and 4 of the document).

Kinds: write the calls that reach a goal; explain which rule decided an
outcome; predict and check against the model.

* ``pf-share``: two readers must share one read-only mapping of the
  variant's file (one ``vm_region``, usage 2) although they need different,
  overlapping byte ranges, while a writer gets its own writable copy. The
  shareable-region search of ``do_mmap`` reuses a region only for the same
  pages or a subset of them; on a disk file an inexact overlap is refused
  (EINVAL), on ramfs it makes a second copy. ``MAP_PRIVATE`` with
  ``PROT_WRITE`` is always a fresh copy (case 4).
* ``pf-direct``: for the variant's mappings, direct (in place) or copy, and
  the rule that decided it (``validate_mmap_request``'s capabilities, the
  file's ``get_unmapped_area``). The kind is read from the model's region.
* ``pf-eof``: a mapping longer than its file: a copy is cleared after EOF,
  romfs refuses a direct mapping past EOF (``romfs_get_unmapped_area``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_PRIVATE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
    VM_WRITE,
)
from .common import PS, hexa, outcome, read, says, vma_at
from .framework import Exercise, Marker, Stop, errno_value, part

REVISIT_SHARE = ("notebook 03-private-file-mappings: do_mmap reuses an existing region for the "
                 "same pages of the same file or a subset of them; an inexact overlap is EINVAL "
                 "on a copy-only file; PROT_WRITE private mappings are never shared "
                 "(04-shared-file-mappings contrasts MAP_SHARED)")
REVISIT_DIRECT = ("notebook 03-private-file-mappings: validate_mmap_request's capabilities "
                  "(NOMMU_MAP_DIRECT / NOMMU_MAP_COPY), then the file's get_unmapped_area")
REVISIT_EOF = ("notebook 03-private-file-mappings: do_mmap_private clears a copy after EOF; "
               "romfs_get_unmapped_area refuses a range past EOF")

#: why a read-only or writable private mapping is direct or a copy (the same list for everybody)
CAUSES: dict[str, str] = {
    "A": "The filesystem offers only copies: its files have no NOMMU_MAP_DIRECT capability.",
    "B": "The file is in RAM, but its pages are not physically contiguous, so ramfs declines "
         "to map it in place.",
    "C": "The file lies in memory-mapped flash, so the kernel maps it in place (XIP).",
    "D": "The file's page-cache pages are physically contiguous, so ramfs maps it in place.",
    "E": "A private mapping with PROT_WRITE is always a copy, never the file itself.",
    "F": "Without an MMU every private file mapping is a copy.",
}
ROM_FILES = ("/rom/data/pattern.bin", "/rom/data/page.bin", "/rom/etc/motd")


@dataclass(frozen=True)
class MappedObject:
    """A file the ``pf-direct`` question maps whole, with which protection, and why."""

    path: str
    prot: int
    cause: str  # the letter of CAUSES that explains the outcome


def objects(params: dict[str, Any]) -> dict[str, MappedObject]:
    """The objects ``pf-direct`` may ask about (the board has every file)."""
    rom = params["rom_file"]
    return {
        "rom_ro": MappedObject(rom, PROT_READ, "C"),
        "rom_rw": MappedObject(rom, PROT_READ | PROT_WRITE, "E"),
        "disk_ro": MappedObject("/mnt/disk/archive.bin", PROT_READ, "A"),
        "written_ro": MappedObject("/tmp/journal.log", PROT_READ, "B"),
        "truncated_ro": MappedObject("/dev/shm/table", PROT_READ, "D"),
        "truncated_rw": MappedObject("/dev/shm/table", PROT_READ | PROT_WRITE, "E"),
        "one_page_ro": MappedObject("/tmp/flag.txt", PROT_READ, "D"),
    }


def data(seed: int, n: int) -> bytes:
    """Seeded bytes: the contents of a variant's file."""
    return random.Random(seed).randbytes(n)


def prot_name(prot: int) -> str:
    return "PROT_READ | PROT_WRITE" if prot & PROT_WRITE else "PROT_READ"


class PrivateFileMappings(Exercise):
    name = "private-file-mappings"
    title = "Private file mappings: share a copy, know when it is direct, and what lies past EOF"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        fs = rng.choice(["disk", "ramfs"])
        word = rng.choice(["calib", "lookup", "glyphs", "model", "manual", "tiles"])
        npages = rng.randint(6, 9)
        size = (npages - 1) * PS + rng.randrange(200, PS - 200)
        # page ranges: [first, end) for each reader; the file has npages pages
        layout = rng.choice(["b_contains_a", "a_contains_b", "overlap"])
        lo, hi = rng.randint(0, 1), rng.randint(npages - 1, npages)
        if layout == "overlap":
            mid = rng.randint(lo + 2, hi - 2)
            pa, pb = (lo, mid + 1), (mid - 1, hi)
            if rng.random() < 0.5:
                pa, pb = pb, pa
        else:
            first = rng.randint(lo + 1, lo + 2)
            inner = (first, max(first + 1, rng.randint(hi - 2, hi - 1)))
            pa, pb = ((inner, (lo, hi)) if layout == "b_contains_a" else ((lo, hi), inner))

        def byte_range(pages: tuple[int, int]) -> list[int]:
            start = pages[0] * PS + rng.randrange(0, PS // 2, 16)
            end = min(size, (pages[1] - 1) * PS + rng.randrange(PS // 2, PS, 16))
            return [start, end]

        patch_off = rng.randrange(PS, size - 64, 8)
        disk_pages = rng.randint(1, 3)
        return {
            "ram_mib": rng.choice([4, 8]),
            "path": f"/mnt/disk/{word}.dat" if fs == "disk" else f"/tmp/{word}.dat",
            "size": size,
            "data_seed": rng.randrange(1 << 32),
            "reader_a": byte_range(pa),
            "reader_b": byte_range(pb),
            "patch_offset": patch_off,
            "patch": f"patched by writer {rng.randrange(100, 999)}".encode(),
            "rom_file": rng.choice(ROM_FILES),
            "objects": rng.sample(sorted(objects({"rom_file": ""})), 4),
            "eof_size": disk_pages * PS - rng.randrange(1, PS - 1),
            "eof_pages": disk_pages + rng.randint(1, 2),
        }

    # -- the board -----------------------------------------------------------
    @property
    def file_data(self) -> bytes:
        """The contents of the variant's file (made from ``data_seed``)."""
        return data(self.params["data_seed"], self.params["size"])

    def board(self) -> Any:
        """The variant's file, and the files part 2 and part 3 map."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, exam=self.exam)
        seed = prm["data_seed"]
        k.create_file(prm["path"], self.file_data)  # on /tmp: written, so not contiguous
        k.create_file("/mnt/disk/archive.bin", data(seed + 1, 3 * PS + 1000))
        k.create_file("/mnt/disk/short.bin", data(seed + 2, prm["eof_size"]))
        k.create_file("/tmp/journal.log", data(seed + 3, 3 * PS - 500))
        k.create_file("/tmp/flag.txt", data(seed + 4, 600))
        setup = k.spawn("setup")
        fd = setup.open("/dev/shm/table", O_CREAT | O_RDWR, 0o644)
        setup.ftruncate(fd, 2 * PS + 300)  # from size 0: contiguous pages
        setup.pwrite(fd, data(seed + 5, 2 * PS + 300), 0)
        setup.exit(0)
        return k

    def mapped_objects(self) -> list[MappedObject]:
        """The mappings part 2 asks about, in the variant's order."""
        table = objects(self.params)
        return [table[key] for key in self.params["objects"]]

    # -- part 1 --------------------------------------------------------------
    def _file_bytes(self, k: Any) -> bytes:
        probe = k.spawn("probe")
        return probe.pread(probe.open(self.params["path"], O_RDONLY), self.params["size"], 0)

    def _shows_file(self, p: Any, v: Any) -> bool:
        """Does the whole of a reader's mapping (up to EOF) hold the file's bytes?"""
        off = v.pgoff * PS
        n = max(0, min(v.end - v.start, self.params["size"] - off))
        return read(p, v.start, n) == self.file_data[off:off + n]

    @part("pf-share", 3, "Two readers share one read-only mapping; the writer gets its own copy",
          REVISIT_SHARE)
    def check_share(self, m: Marker, share: Any) -> None:
        prm = self.params
        k = self.board()
        out = m.run(share, k, what="share(k)")
        if not (isinstance(out, tuple) and len(out) == 6):
            raise Stop("share(k) must return (reader_a, reader_b, writer, addr_a, addr_b, addr_w)")
        a, b, w, addr_a, addr_b, addr_w = out
        if not all(hasattr(p, "vmas") for p in (a, b, w)):
            raise Stop("the first three results must be processes (k.spawn(...))")
        if len({a.pid, b.pid, w.pid}) != 3:
            raise Stop("reader_a, reader_b and writer must be three different processes")
        content = self.file_data
        vmas = {}
        for who, p, addr, (lo, hi) in (("reader_a", a, addr_a, prm["reader_a"]),
                                        ("reader_b", b, addr_b, prm["reader_b"])):
            v = vma_at(p, addr)
            ok = (v is not None and v.path == prm["path"] and not v.flags & VM_WRITE
                  and v.pgoff * PS + (addr - v.start) == lo and addr + (hi - lo) <= v.end)
            vmas[who] = v if ok else None
            m.award(ok, 0.5, f"{who} maps bytes {lo}..{hi} of the file at {hexa(addr)}, read-only",
                    f"{who} has no read-only mapping of {prm['path']} that shows bytes {lo}..{hi} "
                    f"at {hexa(addr)} (the file offset must be page aligned: map from the page "
                    "that holds the first byte, and add the rest to the address)")
        va, vb = vmas["reader_a"], vmas["reader_b"]
        shared = va is not None and vb is not None and va.region.id == vb.region.id
        m.award(shared, 1, f"one region for both readers (usage {va.region.usage if shared else 0})",
                "the readers do not use one region: the second request must cover the same "
                "pages as the first, or a subset of them; otherwise it cannot reuse the region")
        vw = vma_at(w, addr_w)
        own = (vw is not None and vw.path == prm["path"] and bool(vw.flags & VM_WRITE)
               and vw.region.copy and vw.region.usage == 1
               and read(w, addr_w, len(prm["patch"])) == prm["patch"]
               and vw.pgoff * PS + (addr_w - vw.start) == prm["patch_offset"])
        m.award(own, 0.5, "the writer has its own writable copy, patched at the right offset",
                f"the writer has no writable private copy of {prm['path']} holding the patch at "
                f"file offset {prm['patch_offset']} (at addr_w)")
        intact = self._file_bytes(k) == content and all(
            self._shows_file(p, v) for p, v in ((a, va), (b, vb)) if v is not None)
        m.award(intact, 0.5, "the file and the readers do not see the patch",
                "the patch reached the file or a reader: a store into a read-only mapping is not "
                "stopped without an MMU; only a PROT_WRITE private mapping is a copy of its own")

    # -- part 2 --------------------------------------------------------------
    def kind_of(self, obj: MappedObject) -> str:
        """``"direct"`` or ``"copy"``: the whole file mapped MAP_PRIVATE on a fresh board."""
        k = self.board()
        p = k.spawn("probe")
        a = p.mmap(0, k.lookup(obj.path).size, obj.prot, MAP_PRIVATE, p.open(obj.path, O_RDONLY), 0)
        return "copy" if vma_at(p, a).region.copy else "direct"

    @part("pf-direct", 2, "Direct or copy, and why", REVISIT_DIRECT)
    def check_direct(self, m: Marker, kinds: Any) -> None:
        got = m.answer(kinds, what="kinds()")
        objs = self.mapped_objects()
        if not (isinstance(got, list | tuple) and len(got) == len(objs)
                and all(isinstance(g, tuple | list) and len(g) == 2 for g in got)):
            raise Stop(f"kinds() must return a list of {len(objs)} pairs (\"direct\" or \"copy\", "
                       "cause letter), one per mapping, in the order listed")
        share = 2 / len(objs)
        for i, (obj, (kind, cause)) in enumerate(zip(objs, got, strict=True), 1):
            want = self.kind_of(obj)
            what = f"{i}. {obj.path} {prot_name(obj.prot)}"
            m.award(says(kind, want), share / 2,
                    f"{what}: {want}",
                    f"{what}: {kind!r} is not what the kernel does (map it and look at the "
                    "region: is it a copy?)")
            m.award(says(cause, obj.cause), share / 2,
                    f"{what}: {obj.cause}, {CAUSES[obj.cause]}",
                    f"{what}: cause {cause!r} does not explain it: which capability does the "
                    "file offer, and what did get_unmapped_area answer?")

    # -- part 3 --------------------------------------------------------------
    @part("pf-eof", 1, "A mapping longer than its file", REVISIT_EOF)
    def check_eof(self, m: Marker, past_eof: Any) -> None:
        prm = self.params
        got = m.answer(past_eof, what="past_eof()")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Stop("past_eof() must return (zero bytes after EOF in the disk copy, "
                       "errno name of the romfs request or None)")
        zeros, rom = got
        length = prm["eof_pages"] * PS
        k = self.board()
        p = k.spawn("probe")
        a = p.mmap(0, length, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/short.bin", O_RDONLY), 0)
        tail = p.peek(a + prm["eof_size"], length - prm["eof_size"])
        want_zeros = len(tail) - len(tail.lstrip(b"\0"))
        m.award(zeros == want_zeros, 0.5,
                f"{want_zeros} zero bytes follow EOF in the copy",
                f"{zeros!r} is not the number of zero bytes between EOF and the end of the "
                f"{length}-byte copy of /mnt/disk/short.bin")
        k = self.board()
        p = k.spawn("probe")
        r = outcome(lambda: p.mmap(0, length, PROT_READ, MAP_PRIVATE,
                                   p.open(prm["rom_file"], O_RDONLY), 0))
        want = getattr(r, "errno_name", None)
        ok = (rom is None) if want is None else (errno_value(rom) == r.errno)
        m.award(ok, 0.5, f"{prm['rom_file']}: " + (f"{want} [{r.rule}]" if want else "it maps"),
                f"{rom!r} is not what mapping {length} bytes of {prm['rom_file']} gives (None if "
                "it succeeds, else the errno)")
