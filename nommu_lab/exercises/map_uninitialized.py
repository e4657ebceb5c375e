"""Exercise "map-uninitialized" (note 3 of the document: MAP_UNINITIALIZED).

Kinds: write the calls that reach a goal (here, an attack); judge statements
about when the flag matters against the model.

* ``uninit-recover``: a keystore process held a secret in anonymous memory
  and exited; other programs ran since. On this board
  (``CONFIG_MMAP_ALLOW_UNINITIALIZED``, as on the default board) the learner
  gets the secret back through a mapping of their own made with
  ``MAP_UNINITIALIZED``: ``do_mmap`` skips clearing it, and the buddy
  allocator hands back freed pages with their old contents. The check reads
  the learner's VMA, the region's ``uninitialized`` mark and the bytes there.
* ``uninit-statements``: when the flag is ignored (kernel built without the
  option, file copies, the MMU kernel), what is never cleared, and why it is
  a security matter; each statement is judged by an experiment on the model.
"""

from __future__ import annotations

import random
import string
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_UNINITIALIZED,
    O_RDONLY,
    PROT_READ,
    PROT_WRITE,
)
from ..kernel.errors import KernelError
from . import statements
from .common import PS, hexa, is_int, outcome, read, vma_at
from .framework import Exercise, Marker, Stop, part

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
REVISIT_RECOVER = ("notebook 05-further-notes, note 3: do_mmap clears anonymous memory unless "
                   "MAP_UNINITIALIZED is passed and CONFIG_MMAP_ALLOW_UNINITIALIZED is set; "
                   "the buddy allocator hands back freed pages as they were (notebook 02)")
REVISIT_STATEMENTS = ("notebook 05-further-notes, note 3, and do_mmap / do_mmap_private in "
                      "mm/nommu.c: what is cleared, when, and over which range")
MARKERS = ("wifi-psk=", "api-key=", "root-pw=", "pin=", "token=", "luks-key=")


def secret_of(params: dict[str, Any]) -> bytes:
    """The secret the keystore held: its marker, then characters from ``secret_seed``."""
    rng = random.Random(params["secret_seed"])
    return params["marker"].encode() + "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(16)).encode()


# ---------------------------------------------------------------------------
# the statements' experiments: a previous owner fills pages, frees them, the next one maps
# ---------------------------------------------------------------------------
FILL = b"left behind "


def _previous_owner(params: dict[str, Any], *, mmu: bool = False, allow: bool = True,
                    trim: int = 1, pages: int = 4, exit_: bool = True) -> tuple[Any, int]:
    """A board where a process filled ``pages`` pages of anonymous memory and went away."""
    k = default(mmu, ram_size=params["ram_mib"] << 20, nr_trim_pages=trim,
                allow_uninitialized=allow, exam=True)
    prev = k.spawn("previous")
    a = prev.mmap(0, pages * PS, RW, ANON, -1, 0)
    prev.poke(a, (FILL * (pages * PS // len(FILL) + 1))[:pages * PS])
    if exit_:
        prev.exit(0)
    return k, a


def _leftover_seen(params: dict[str, Any], flags: int, **kw: Any) -> bool | None:
    """Map the same length again with ``flags``: does the memory show the old bytes?

    None if the mmap was refused."""
    k, _ = _previous_owner(params, **kw)
    p = k.spawn("next")
    a = outcome(lambda: p.mmap(0, 4 * PS, RW, flags, -1, 0))
    if isinstance(a, KernelError):
        return None
    return FILL in p.peek(a, 4 * PS)


def _ignored_without_config(params: dict[str, Any]) -> bool:
    return _leftover_seen(params, ANON | MAP_UNINITIALIZED, allow=False) is False


def _refused_without_config(params: dict[str, Any]) -> bool:
    k, _ = _previous_owner(params, allow=False)
    p = k.spawn("next")
    e = outcome(lambda: p.mmap(0, 4 * PS, RW, ANON | MAP_UNINITIALIZED, -1, 0))
    return isinstance(e, KernelError)


def _file_copy_tail(params: dict[str, Any]) -> bool:
    """A short disk file mapped with the flag: is the copy's tail the previous owner's?"""
    k, _ = _previous_owner(params, pages=1)
    k.create_file("/mnt/disk/short.txt", b"short file\n")
    p = k.spawn("next")
    a = p.mmap(0, PS, RW, MAP_PRIVATE | MAP_UNINITIALIZED, p.open("/mnt/disk/short.txt", O_RDONLY), 0)
    return FILL in p.peek(a, PS)


def _exit_keeps_bytes(params: dict[str, Any]) -> bool:
    """After exit, do the freed pages still hold the bytes (nobody cleared them)?"""
    k, a = _previous_owner(params)
    return k.region_at(a) is None and FILL in k.phys_read(a, 4 * PS)


def _slack_not_cleared(params: dict[str, Any]) -> bool:
    """Trimming off, no flag: a 3-page request in the freed 4-page block; is page 4 cleared?"""
    k, _ = _previous_owner(params, trim=0)
    p = k.spawn("next")
    b = p.mmap(0, 3 * PS, RW, ANON, -1, 0)
    r = k.region_at(b)
    return r is not None and r.vm_top > r.vm_end and FILL in k.phys_read(r.vm_end, r.vm_top - r.vm_end)


STATEMENTS: dict[str, statements.Statement] = {
    "ignored": statements.Statement(
        "On a kernel built without CONFIG_MMAP_ALLOW_UNINITIALIZED "
        "(nl.boards.default(allow_uninitialized=False)), mmap with MAP_UNINITIALIZED succeeds "
        "and the memory is cleared.",
        _ignored_without_config,
        "without the option do_mmap ignores the flag (since 5.3 the bit always exists; the "
        "kernel checks the config option) and clears the memory as usual"),
    "refused": statements.Statement(
        "On a kernel built without CONFIG_MMAP_ALLOW_UNINITIALIZED, mmap with MAP_UNINITIALIZED "
        "is refused.",
        _refused_without_config,
        "the flag is ignored, never an error: no check of validate_mmap_request looks at it"),
    "shared_anon": statements.Statement(
        "MAP_SHARED|MAP_ANONYMOUS with MAP_UNINITIALIZED also gets the previous owner's bytes "
        "back on this board.",
        lambda prm: _leftover_seen(prm, MAP_SHARED | MAP_ANONYMOUS | MAP_UNINITIALIZED) is True,
        "anonymous MAP_SHARED is an ordinary private copy without an MMU, and the flag applies "
        "to every anonymous mapping"),
    "file_copy": statements.Statement(
        "MAP_UNINITIALIZED on a private mapping of a short file leaves the copy's bytes after "
        "EOF as the previous owner left them.",
        _file_copy_tail,
        "a file copy is the file's bytes, then zeroes to the end (do_mmap_private): the flag "
        "means nothing for files"),
    "other_process": statements.Statement(
        "The old bytes MAP_UNINITIALIZED returns can be another process's, which exited, not "
        "only the caller's own.",
        lambda prm: _leftover_seen(prm, ANON | MAP_UNINITIALIZED) is True,
        "pages go back to one page allocator for the whole machine, whoever freed them: that "
        "is why the flag is a security matter"),
    "exit_clears": statements.Statement(
        "When a process exits, the kernel clears its anonymous memory before the pages go "
        "back to the allocator.",
        lambda prm: not _exit_keeps_bytes(prm),
        "freeing pages never clears them; clearing happens when the next anonymous mapping "
        "is made (unless MAP_UNINITIALIZED is honoured)"),
    "slack": statements.Statement(
        "With vm.nr_trim_pages = 0 and no MAP_UNINITIALIZED, the pages between the end of a "
        "request and the end of its power-of-two block are not cleared either.",
        _slack_not_cleared,
        "do_mmap clears [vm_start, vm_end), the length asked for, not the slack up to vm_top: "
        "old bytes stay there, readable by anyone without an MMU"),
    "mmu": statements.Statement(
        "The MMU kernel (nl.boards.default(mmu=True)) also hands back the previous owner's "
        "bytes to MAP_UNINITIALIZED.",
        lambda prm: _leftover_seen(prm, ANON | MAP_UNINITIALIZED, mmu=True) is True,
        "with an MMU the flag is ignored: pages are cleared when first touched, which costs "
        "little, so there is nothing to save"),
}


class MapUninitialized(Exercise):
    name = "map-uninitialized"
    title = "MAP_UNINITIALIZED: recover a secret, and say when the flag is ignored"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        while True:  # draw again until the secret survives the programs that ran after it
            prm = self._draw(rng)
            if type(self)(self.student, prm).secret_address() is not None:
                return prm

    def _draw(self, rng: random.Random) -> dict[str, Any]:
        pages = rng.randint(3, 12)
        secret_page = rng.randrange(pages)
        return {
            "ram_mib": rng.choice([4, 8]),
            "before": [rng.choice([1, 2, 3, 5, 8]) for _ in range(rng.randint(0, 2))],
            "keystore_pages": pages,
            "secret_at": secret_page * PS + rng.randrange(0, PS - 64, 16),
            "marker": rng.choice(MARKERS),
            "secret_seed": rng.randrange(1 << 32),
            "after": [[rng.choice([1, 1, 2, 3, 4, 6]), rng.random() < 0.5]
                      for _ in range(rng.randint(1, 3))],
            "statements": statements.draw(rng, STATEMENTS, 6),
        }

    def board(self) -> Any:
        """The machine after the keystore exited and other programs ran."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, exam=self.exam)
        for i, pages in enumerate(prm["before"]):
            k.spawn(f"service{i}").mmap(0, pages * PS, RW, ANON, -1, 0)
        keystore = k.spawn("keystore")
        a = keystore.mmap(0, prm["keystore_pages"] * PS, RW, ANON, -1, 0)
        keystore.poke(a + prm["secret_at"], secret_of(prm))
        keystore.exit(0)
        for i, (pages, kept) in enumerate(prm["after"]):
            p = k.spawn(f"job{i}")
            b = p.mmap(0, pages * PS, RW, ANON, -1, 0)
            if not kept:
                p.munmap(b, pages * PS)
        return k

    def secret_address(self) -> int | None:
        """Where the secret still lies in free memory, or None if a later program cleared it."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, exam=True)
        for pages in prm["before"]:
            k.spawn("service").mmap(0, pages * PS, RW, ANON, -1, 0)
        addr = k.spawn("keystore").mmap(0, prm["keystore_pages"] * PS, RW, ANON, -1, 0) + prm["secret_at"]
        k = self.board()
        intact = k.phys_read(addr, len(secret_of(prm))) == secret_of(prm)
        return addr if intact and k.region_at(addr) is None else None

    def listed_statements(self) -> list[tuple[str, str]]:
        """Part 2's statements, lettered, as the notebook prints them."""
        return statements.lettered(self.params, STATEMENTS, self.params["statements"])

    # -- part 1 --------------------------------------------------------------
    @part("uninit-recover", 3, "Recover the keystore's secret through a mapping of your own",
          REVISIT_RECOVER)
    def check_recover(self, m: Marker, recover: Any) -> None:
        k = self.board()
        out = m.run(recover, k, what="recover(k)")
        if not (isinstance(out, tuple) and len(out) == 2 and hasattr(out[0], "vmas")):
            raise Stop("recover(k) must return (process, address of the secret's first byte)")
        p, addr = out
        secret = secret_of(self.params)
        v = vma_at(p, addr)
        region = k.region_at(addr) if is_int(addr) else None
        own = (v is not None and v.path is None and addr + len(secret) <= v.end
               and region is not None and region.uninitialized)
        if not m.award(own, 1, f"{hexa(addr)} is in an anonymous mapping of yours made with "
                       "MAP_UNINITIALIZED (and honoured)",
                       f"{hexa(addr)} is not inside an anonymous mapping of process {p.pid} that "
                       "was made with MAP_UNINITIALIZED: reading freed memory at any address also "
                       "works without an MMU, but the task is to get it back through mmap"):
            return
        m.award(read(p, addr, len(secret)) == secret, 2,
                f"the secret ({self.params['marker']}...) is at {hexa(addr)}",
                f"the secret is not at {hexa(addr)}: search your mapping for "
                f"{self.params['marker']!r} and return where it starts")

    # -- part 2 --------------------------------------------------------------
    @part("uninit-statements", 3, "When is the flag ignored, and why does it matter?",
          REVISIT_STATEMENTS)
    def check_statements(self, m: Marker, true_statements: Any) -> None:
        got = m.answer(true_statements, what="true_statements()")
        statements.mark(m, got, self.params, STATEMENTS, self.params["statements"], 3)
