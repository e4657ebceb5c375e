"""Program loading: ``binfmt_flat`` and ``binfmt_elf_fdpic`` as no-MMU runs them.

Loaders call back into mmap, which is the document's point: a program's
text is a read-only private file mapping, so it is shared by every running
instance (mapped in place from flash where the filesystem allows it, else one
shared copy); its data is a private anonymous copy.

The board ships real files in these formats, built here:

* :func:`build_flat` - a bFLT v4 file (64-byte big-endian header);
* :func:`build_elf` - a small ELF64 RISC-V executable; with ``fdpic=True``
  its ``e_flags`` carry :data:`EF_FDPIC` and its segments are mapped
  separately (as on ARM/SH FDPIC), without it it is a plain static PIE that
  the FDPIC loader maps as one anonymous block (all RISC-V can do today).
"""

from __future__ import annotations

import copy
import errno as E
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .constants import (
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    MAP_UNINITIALIZED,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from .errors import KernelError
from .trace import EventKind, Trace
from .vfs import FMODE_CAN_READ, FMODE_READ, File, Inode, page_align

if TYPE_CHECKING:
    from .kernel import Kernel
    from .process import Process

FLAT_MAGIC = b"bFLT"
FLAT_VERSION = 4
FLAT_HDR_SIZE = 64
FLAT_FLAG_RAM = 0x1
FLAT_FLAG_GOTPIC = 0x2
FLAT_FLAG_GZIP = 0x4
FLAT_DATA_ALIGN = 0x20
DATA_START_OFFSET_WORDS = 1  # MAX_SHARED_LIBS without shared-library support
WORD = 8  # sizeof(unsigned long) on riscv64

ELF_MAGIC = b"\x7fELF"
EM_RISCV = 243
ET_DYN = 3
PT_LOAD = 1
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
EF_FDPIC = 0x8000  # the model's stand-in for an FDPIC ABI flag (RISC-V has none)
DEFAULT_FDPIC_STACK = 128 * 1024


# ---------------------------------------------------------------------------
# building program files
# ---------------------------------------------------------------------------
def build_flat(text: bytes, data: bytes, bss: int, stack: int, *, ram: bool = False,
               relocs: int = 0) -> bytes:
    """A bFLT v4 file: header + text, then data, then ``relocs`` 4-byte entries."""
    text_len = FLAT_HDR_SIZE + len(text)
    data_start = text_len
    data_end = data_start + len(data)
    flags = FLAT_FLAG_GOTPIC | (FLAT_FLAG_RAM if ram else 0)
    hdr = FLAT_MAGIC + struct.pack(
        ">IIIIIIIIII", FLAT_VERSION, FLAT_HDR_SIZE, data_start, data_end, data_end + bss,
        stack, data_end, relocs, flags, 0,
    )
    hdr += bytes(FLAT_HDR_SIZE - len(hdr))
    return hdr + text + data + bytes(4 * relocs)


def build_elf(text: bytes, data: bytes, bss: int, stack: int | None, *, fdpic: bool = True) -> bytes:
    """A little ELF64 RISC-V program: a R+X and a R+W PT_LOAD, and PT_GNU_STACK."""
    ps = 4096
    nph = 3
    ehsize, phsize = 64, 56
    text_off = 0
    text_filesz = ehsize + nph * phsize + len(text)
    data_off = page_align(text_filesz, ps)
    data_vaddr = data_off + ps  # leave a page between the segments, as linkers do
    e = ELF_MAGIC + bytes([2, 1, 1, 0]) + bytes(8)
    e += struct.pack("<HHIQQQIHHHHHH", ET_DYN, EM_RISCV, 1, ehsize + nph * phsize, ehsize, 0,
                     EF_FDPIC if fdpic else 0, ehsize, phsize, nph, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", PT_LOAD, PF_R | PF_X, text_off, 0, 0, text_filesz, text_filesz, ps)
    ph += struct.pack("<IIQQQQQQ", PT_LOAD, PF_R | PF_W, data_off, data_vaddr, data_vaddr,
                      len(data), len(data) + bss, ps)
    ph += struct.pack("<IIQQQQQQ", PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, stack or 0, 16)
    body = e + ph + text
    body += bytes(data_off - len(body))
    return body + data


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FlatHeader:
    """The fields of a bFLT header the loader uses."""

    rev: int
    entry: int
    data_start: int
    data_end: int
    bss_end: int
    stack_size: int
    reloc_start: int
    reloc_count: int
    flags: int


@dataclass(frozen=True)
class Segment:
    """One ELF program header."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


def parse_flat(hdr: bytes) -> FlatHeader:
    """Read a bFLT header (ENOEXEC when it is not one the loader accepts)."""
    if len(hdr) < FLAT_HDR_SIZE or hdr[:4] != FLAT_MAGIC:
        raise KernelError(E.ENOEXEC, "load_flat_file.bad_magic", "not a bFLT file")
    f = FlatHeader(*struct.unpack(">IIIIIIIII", hdr[4:40]))
    if f.rev not in (FLAT_VERSION, 2):
        raise KernelError(E.ENOEXEC, "load_flat_file.bad_version", f"bFLT revision {f.rev} is not supported")
    text_len = f.data_start
    data_len = f.data_end - f.data_start
    bss_len = f.bss_end - f.data_end
    if text_len >> 28 or data_len >> 28 or bss_len >> 28 or min(data_len, bss_len) < 0:
        raise KernelError(E.ENOEXEC, "load_flat_file.insane_sizes", "the header's segment sizes make no sense")
    return f


@dataclass(frozen=True)
class ElfHeader:
    """What the loaders use of an ELF file: ``e_flags``, ``e_entry`` and the program headers."""

    flags: int
    entry: int
    segments: list[Segment]

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == PT_LOAD]


def parse_elf(img: bytes) -> ElfHeader:
    """Read an ELF64 header and its program headers."""
    if len(img) < 64 or img[:4] != ELF_MAGIC or img[4] != 2 or img[5] != 1:
        raise KernelError(E.ENOEXEC, "load_elf_fdpic_binary.bad_header", "not a 64-bit little-endian ELF file")
    (e_type, e_machine, _v, e_entry, e_phoff, _shoff, e_flags, _ehsize, e_phentsize,
     e_phnum) = struct.unpack("<HHIQQQIHHH", img[16:58])
    if e_machine != EM_RISCV or e_type != ET_DYN:
        raise KernelError(E.ENOEXEC, "load_elf_fdpic_binary.not_pie",
                          "without an MMU only position-independent (ET_DYN) RISC-V programs load")
    segs = []
    for i in range(e_phnum):
        o = e_phoff + i * e_phentsize
        if o + 56 > len(img):
            raise KernelError(E.ENOEXEC, "load_elf_fdpic_binary.truncated", "program headers run past the file")
        p_type, p_flags, off, vaddr, _paddr, filesz, memsz, _align = struct.unpack("<IIQQQQQQ", img[o:o + 56])
        segs.append(Segment(p_type, p_flags, off, vaddr, filesz, memsz))
    return ElfHeader(e_flags, e_entry, segs)


def entry_address(entry: int, placed: list[tuple[Segment, int]]) -> int:
    """``elf_fdpic_map_file``'s "map the entry point": ``e_entry`` moved by the
    displacement of the PT_LOAD segment that holds it (``placed``: each segment
    with the address its ``p_vaddr`` got); 0 when no segment holds it."""
    for seg, addr in placed:
        if entry and seg.vaddr <= entry < seg.vaddr + seg.memsz:
            return entry - seg.vaddr + addr
    return 0


def _prot(flags: int) -> int:
    return (PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0) | (
        PROT_EXEC if flags & PF_X else 0)


# ---------------------------------------------------------------------------
# execve
# ---------------------------------------------------------------------------
def open_exec(k: Kernel, path: str) -> tuple[Inode, File]:
    """``do_open_execat``: a regular, executable file on an exec-allowed mount."""
    inode = k.lookup(path)
    if inode is None:
        raise KernelError(E.ENOENT, "do_open_execat.enoent", f"{path} does not exist")
    if not inode.is_reg:
        raise KernelError(E.EACCES, "do_open_execat.not_regular", f"{path} is not a regular file")
    if inode.sb.noexec:
        raise KernelError(E.EACCES, "do_open_execat.noexec", f"{path} is on a noexec mount")
    if not inode.mode & 0o111:
        raise KernelError(E.EACCES, "do_open_execat.no_x_bit", f"{path} is not executable (chmod +x)")
    return inode, File(inode, path, FMODE_READ | FMODE_CAN_READ, 0, refs=0)


def do_execve(k: Kernel, task: Process, path: str, argv: list[str]) -> None:
    """``do_execve``: check, dry-run the load on a copy, then load for real.

    The real kernel passes a point of no return after which a failure kills
    the process. The model promises that a refused call changes nothing, so
    it first loads into a deep copy of the machine; only if that succeeds is
    the program loaded for real (the model is deterministic, so the second
    run takes the same decisions).
    """
    inode, probe = open_exec(k, path)
    head = inode.fops.read(probe, FLAT_HDR_SIZE, 0)
    assert isinstance(head, bytes)
    if head[:4] == FLAT_MAGIC:
        loader = _load_flat
    elif head[:4] == ELF_MAGIC:
        loader = _load_elf_fdpic
    else:
        raise KernelError(E.ENOEXEC, "search_binary_handler.no_handler",
                          f"{path} is neither a bFLT nor an ELF file")
    # dry run on a copy: any refusal surfaces here, before anything changes
    # (the trace is left behind: the dry run records nothing, and copying a long trace
    # would cost more than the machine itself)
    shadow = copy.deepcopy(k, {id(k.trace): Trace(0)})
    shadow.trace.enabled = False
    _exec_into(shadow, shadow.processes[task.pid], path, argv, loader)
    _exec_into(k, task, path, argv, loader)


def _exec_into(k: Kernel, task: Process, path: str, argv: list[str], loader: object) -> None:
    inode = k.lookup(path)
    assert inode is not None
    inode.opened += 1
    file = File(inode, path, FMODE_READ | FMODE_CAN_READ, 0, refs=1)
    # begin_new_exec: leave the old mm (a vfork parent keeps it), start an empty one
    task._release_mm()
    task.mm = k._new_mm()
    task.mm.exe = path
    task._wake_vfork_parent("execve")
    task._do_close_on_exec()
    task.name = path.rsplit("/", 1)[-1]
    task.loader_mapping = True
    try:
        loader(k, task, file, argv)  # type: ignore[operator]
    finally:
        task.loader_mapping = False
        k.fput(file)
    k.trace.emit(EventKind.PROCESS, "do_execve", "process {} now runs {}", task.pid, path)


def _args_size(argv: list[str]) -> int:
    strings = sum(len(a.encode()) + 1 for a in argv)
    return strings + (len(argv) + 1) * WORD + WORD  # argv array + empty envp


def _load_flat(k: Kernel, task: Process, file: File, argv: list[str]) -> None:
    """``load_flat_file``: XIP/shared text + anonymous data, or one RAM block."""
    from .mmap import do_mmap

    ps = k.page_size
    raw = file.fops.read(file, FLAT_HDR_SIZE, 0)
    assert isinstance(raw, bytes)
    h = parse_flat(raw)
    text_len = h.data_start
    data_len = h.data_end - h.data_start
    bss_len = h.bss_end - h.data_end
    stack_len = h.stack_size + _args_size(argv)
    stack_len = (stack_len + 15) & ~15
    extra = max(bss_len + stack_len, h.reloc_count * WORD)
    mm = task.mm
    if not h.flags & (FLAT_FLAG_RAM | FLAT_FLAG_GZIP):
        k.trace.emit(EventKind.DECISION, "load_flat_file.rom",
                     "ROM/XIP binary: text is mapped from the file (shared), data gets its own copy")
        textpos = do_mmap(k, task, file, 0, text_len, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0)
        length = page_align(data_len + extra + DATA_START_OFFSET_WORDS * WORD, ps)
        realdatastart = do_mmap(k, task, None, 0, length, PROT_READ | PROT_WRITE | PROT_EXEC,
                                MAP_PRIVATE | MAP_ANONYMOUS, 0)
        datapos = (realdatastart + DATA_START_OFFSET_WORDS * WORD + FLAT_DATA_ALIGN - 1) & ~(FLAT_DATA_ALIGN - 1)
        data = file.fops.read(file, data_len + h.reloc_count * 4, h.data_start)
        assert isinstance(data, bytes)
        k.phys_write(datapos, data)
        memp, memp_size = realdatastart, length
    else:
        k.trace.emit(EventKind.DECISION, "load_flat_file.ram",
                     "RAM binary: text and data are copied into one private block (nothing shared)")
        length = page_align(text_len + data_len + extra + DATA_START_OFFSET_WORDS * WORD, ps)
        textpos = do_mmap(k, task, None, 0, length, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, 0)
        img = file.fops.read(file, text_len + data_len + h.reloc_count * 4, 0)
        assert isinstance(img, bytes)
        k.phys_write(textpos, img[:text_len])
        realdatastart = textpos + text_len
        datapos = (realdatastart + DATA_START_OFFSET_WORDS * WORD + FLAT_DATA_ALIGN - 1) & ~(FLAT_DATA_ALIGN - 1)
        k.phys_write(datapos, img[text_len:])
        memp, memp_size = textpos, length
    mm.start_code = textpos + FLAT_HDR_SIZE
    mm.end_code = textpos + text_len
    mm.start_brk = datapos + data_len + bss_len
    mm.brk = (mm.start_brk + 3) & ~3
    mm.end_brk = memp + memp_size - stack_len
    mm.start_stack = mm.end_brk + stack_len - _args_size(argv)
    mm.entry = textpos + h.entry
    k.trace.emit(EventKind.DECISION, "load_flat_file.layout",
                 "brk may grow from {:#x} to {:#x} ({} bytes between bss and stack); stack top {:#x}",
                 mm.brk, mm.end_brk, mm.end_brk - mm.brk, memp + memp_size)


def _load_elf_fdpic(k: Kernel, task: Process, file: File, argv: list[str]) -> None:
    """``load_elf_fdpic_binary``: FDPIC segments one by one, or one const-disp block."""
    from .mmap import do_mmap

    ps = k.page_size
    img = file.fops.read(file, file.inode.size, 0)
    assert isinstance(img, bytes)
    elf = parse_elf(img)
    segs, loads = elf.segments, elf.loads
    if not loads:
        raise KernelError(E.ENOEXEC, "load_elf_fdpic_binary.no_load", "the program has no PT_LOAD segment")
    stack_size = DEFAULT_FDPIC_STACK
    stack_prot = PROT_READ | PROT_WRITE
    for s in segs:
        if s.type == PT_GNU_STACK:
            if s.memsz:
                stack_size = s.memsz
            if s.flags & PF_X:
                stack_prot |= PROT_EXEC
    stack_size = max(page_align(stack_size, ps), 2 * ps)
    mm = task.mm
    placed: list[tuple[Segment, int]] = []  # each PT_LOAD and where its p_vaddr landed
    if elf.flags & EF_FDPIC:
        k.trace.emit(EventKind.DECISION, "elf_fdpic_map_file_by_direct_mmap",
                     "FDPIC program: each segment is mapped on its own; read-only text is shareable")
        for s in loads:
            disp = s.vaddr & (ps - 1)
            prot = _prot(s.flags)
            addr = do_mmap(k, task, file, 0, s.memsz + disp, prot, MAP_PRIVATE, (s.offset - disp) // ps)
            if prot & PROT_WRITE and s.memsz > s.filesz:
                k.mem.zero(addr + disp + s.filesz, s.memsz - s.filesz)
            placed.append((s, addr + disp))
        mm.start_code = placed[0][1] - (loads[0].vaddr & (ps - 1))
    else:
        k.trace.emit(EventKind.DECISION, "elf_fdpic_map_file_constdisp_on_uclinux",
                     "not an FDPIC program: all segments go into one anonymous RWX block "
                     "at constant displacement (never shared between instances)")
        lo = min(s.vaddr & ~(ps - 1) for s in loads)
        hi = max(s.vaddr + s.memsz for s in loads)
        base = do_mmap(k, task, None, 0, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, 0)
        for s in loads:
            k.phys_write(base + s.vaddr - lo, img[s.offset:s.offset + s.filesz])
            placed.append((s, base + s.vaddr - lo))
        mm.start_code = base
    stack = do_mmap(k, task, None, 0, stack_size, stack_prot,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED | MAP_GROWSDOWN, 0)
    mm.start_brk = mm.brk = mm.end_brk = stack
    mm.start_stack = stack + stack_size - _args_size(argv)
    mm.entry = entry_address(elf.entry, placed)
    if not mm.entry:
        k.trace.emit(EventKind.HAZARD, "elf_fdpic_map_file.no_entry",
                     "e_entry {:#x} lies in no PT_LOAD segment: Linux starts the program at "
                     "address 0, where its first fetch faults", elf.entry)
    k.trace.emit(EventKind.DECISION, "elf_fdpic.stack",
                 "stack of {} bytes at {:#x} (MAP_UNINITIALIZED); the brk area has zero size, so "
                 "brk() can never grow", stack_size, stack)
