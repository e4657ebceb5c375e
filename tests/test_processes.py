"""Processes: fork/vfork/clone/exit/execve and the two loaders (kernel/fork.c,
fs/exec.c, fs/binfmt_flat.c, fs/binfmt_elf_fdpic.c).

Issue 3's "done when": two instances of one program share one text region
(usage 2) and have their own data; exit of both returns every page.
"""

from __future__ import annotations

from errno import *

import numpy as np
import pytest
from _nommu import ANON, FLASH_BASE, PS, RW, board, refused, region_of

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState


def snapshot_mem(k):
    return k.meminfo(), k.mem.state.copy(), k.mem.free_blocks()


def assert_mem_back(k, snap):
    mi, state, blocks = snap
    assert k.meminfo() == mi
    free = (PageState.FREE, PageState.TRIMMED)
    assert (np.isin(k.mem.state, free) == np.isin(state, free)).all()
    assert k.mem.free_blocks() == blocks
    k.check()


# --- fork / vfork / clone ---------------------------------------------------------
def test_fork_is_enosys_on_riscv(k):
    """Seen on Linux 6.12: RISC-V has no fork syscall (ENOSYS)."""
    p = k.spawn()
    refused(k, p.fork, errno=ENOSYS, rule="fork.no_syscall")


def test_fork_is_einval_where_the_syscall_exists():
    """kernel/fork.c / docs/linux-vs-document.md row 1: architectures with a fork syscall return EINVAL on no-MMU."""
    k = nl.Kernel(4 << 20, arch="arm")
    p = k.spawn()
    refused(k, p.fork, errno=EINVAL, rule="fork.nommu")


def test_vfork_child_shares_mm_parent_suspended(k):
    """kernel/fork.c: vfork = CLONE_VFORK|CLONE_VM: same VMAs; the parent waits (the public API, docs/design.md)."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    c = p.vfork()
    b = c.mmap(0, PS, RW, ANON)
    assert {v.start for v in p.vmas()} == {a, b}
    refused(k, p.mmap, 0, PS, RW, ANON, errno=EAGAIN, rule="vfork.parent_suspended")
    assert p.maps() == c.maps()  # reading the parent is allowed
    assert p.peek(a, 4) == bytes(4)
    c.exit(0)
    assert p.mmap(0, PS, RW, ANON)
    assert len(p.vmas()) == 3  # the child's mapping stays in the shared mm


def test_vfork_child_exec_releases_parent_keeps_its_mm(k):
    """exit/exec: execve replaces the child's mm; the vfork parent keeps its own and runs again."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    c = p.vfork()
    c.execve("/rom/bin/hello")
    assert [v.start for v in p.vmas()] == [a]
    assert all(v.start != a for v in c.vmas())
    p.munmap(a, PS)
    k.check()


def test_clone_vm_shares_mm(k):
    """kernel/fork.c: clone(CLONE_VM) shares the mm: a mapping by either appears in both."""
    p = k.spawn()
    c = p.clone(CLONE_VM)
    a = c.mmap(0, PS, RW, ANON)
    assert [v.start for v in p.vmas()] == [a]
    p.munmap(a, PS)
    assert c.vmas() == []


def test_clone_without_vm_empty_mm_same_memory(k):
    """Seen on Linux 6.12: clone without CLONE_VM succeeds; empty mm, yet writes into the parent's memory."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    c = p.clone(SIGCHLD)
    assert c.maps() == "" and c.vmas() == []
    c.poke(a, b"child")
    assert p.peek(a, 5) == b"child"


def test_exited_process_makes_no_calls(k):
    """A process that has exited can make no more calls (ESRCH)."""
    p = k.spawn()
    p.exit(3)
    with pytest.raises(nl.KernelError) as ei:
        p.mmap(0, PS, RW, ANON)
    assert ei.value.errno == ESRCH and p.exit_code == 3


def test_exit_removes_every_vma_and_returns_pages(k):
    """exit/exec: exit_mmap removes every VMA; copies are freed when usage reaches 0."""
    snap = snapshot_mem(k)
    p, q = k.spawn(), k.spawn()
    p.mmap(0, 3 * PS, RW, ANON)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    b = q.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, q.open("/mnt/disk/pattern.bin"), 0)
    assert a == b
    p.exit(0)
    assert region_of(k, b).usage == 1
    q.exit(0)
    assert k.regions() == []
    assert_mem_back(k, snap)


# --- flat loader ------------------------------------------------------------------
def test_two_flat_xip_instances_share_text_own_data(k):
    """load_flat_file ROM/XIP flat: text mapped from the file (shared, XIP on romfs-on-MTD); data own copy."""
    snap = snapshot_mem(k)
    p, q = k.spawn(), k.spawn()
    p.execve("/rom/bin/hello")
    q.execve("/rom/bin/hello")
    tp = [v for v in p.vmas() if v.path == "/rom/bin/hello"]
    tq = [v for v in q.vmas() if v.path == "/rom/bin/hello"]
    assert len(tp) == len(tq) == 1 and tp[0].start == tq[0].start
    assert FLASH_BASE <= tp[0].start < FLASH_BASE + (1 << 20)  # XIP from flash
    assert tp[0].region.usage == 2 and tp[0].perms == "r-xp"
    dp = [v for v in p.vmas() if v.path is None]
    dq = [v for v in q.vmas() if v.path is None]
    assert len(dp) == len(dq) == 1 and dp[0].start != dq[0].start
    assert dp[0].perms == "rwxp" and dp[0].region.usage == 1
    assert sum(1 for r in k.regions() if r.path == "/rom/bin/hello") == 1
    assert k.meminfo()["MmapCopy"] == 2 * (dp[0].length // 1024)
    p.exit(0)
    q.exit(0)
    assert_mem_back(k, snap)


def test_two_flat_instances_from_disk_share_one_text_copy(k):
    """load_flat_file: without XIP the text is one copy shared by every instance (usage 2)."""
    snap = snapshot_mem(k)
    p, q = k.spawn(), k.spawn()
    p.execve("/mnt/disk/bin/hello")
    mc1 = k.meminfo()["MmapCopy"]
    q.execve("/mnt/disk/bin/hello")
    text = [r for r in k.regions() if r.path == "/mnt/disk/bin/hello"]
    assert len(text) == 1 and text[0].usage == 2 and text[0].copy
    data = next(v for v in q.vmas() if v.path is None)
    assert k.meminfo()["MmapCopy"] - mc1 == data.region.top // 1024 - data.region.start // 1024
    p.exit(0)
    q.exit(0)
    assert_mem_back(k, snap)


def test_flat_ram_binary_is_one_private_block(k):
    """load_flat_file RAM binary: one anonymous RWX mapping holding everything; nothing shared."""
    p, q = k.spawn(), k.spawn()
    p.execve("/rom/bin/hello-ram")
    q.execve("/rom/bin/hello-ram")
    assert all(v.path is None for v in p.vmas()) and len(p.vmas()) == 1
    assert p.vmas()[0].perms == "rwxp"
    assert p.vmas()[0].start != q.vmas()[0].start
    assert all(r.usage == 1 for r in k.regions())
    assert p.maps().rstrip("\n").endswith("[stack]")


def test_flat_brk_limits(k):
    """brk / load_flat_file: brk moves only within [start_brk, end_brk]; otherwise unchanged."""
    p = k.spawn()
    p.execve("/rom/bin/hello")
    mm = p.mm
    cur = p.brk(0)
    assert cur == mm.brk and mm.start_brk <= cur < mm.end_brk
    data = next(v for v in p.vmas() if v.path is None)
    assert data.start <= mm.start_brk and mm.end_brk <= data.end
    free = k.meminfo()["MemFree"]
    assert p.brk(mm.end_brk) == mm.end_brk  # grow to the limit: no pages taken
    assert k.meminfo()["MemFree"] == free
    assert p.brk(mm.end_brk + 1) == mm.end_brk  # beyond: unchanged
    assert p.brk(mm.start_brk - 1) == mm.end_brk  # below start: unchanged
    assert p.brk(mm.start_brk) == mm.start_brk  # shrinking always allowed


# --- ELF-FDPIC ------------------------------------------------------------------
def test_fdpic_text_shared_data_private_stack_uninitialized(k):
    """binfmt_elf_fdpic: FDPIC segments mapped one by one: RO text shareable (XIP), RW data private copy,
    stack MAP_UNINITIALIZED of PT_GNU_STACK size; brk area has zero size."""
    p, q = k.spawn(), k.spawn()
    p.execve("/rom/bin/hello-fdpic")
    q.execve("/rom/bin/hello-fdpic")
    tp = next(v for v in p.vmas() if v.perms == "r-xp")
    tq = next(v for v in q.vmas() if v.perms == "r-xp")
    assert tp.start == tq.start and tp.region.usage == 2 and not tp.region.copy
    dp = next(v for v in p.vmas() if v.path and v.perms == "rw-p")
    dq = next(v for v in q.vmas() if v.path and v.perms == "rw-p")
    assert dp.start != dq.start and dp.region.copy and dp.pgoff == 1
    stack = [line for line in p.maps().splitlines() if line.endswith("[stack]")]
    assert len(stack) == 1
    lo, hi = (int(x, 16) for x in stack[0].split()[0].split("-"))
    assert hi - lo == 16 * 1024
    stack_vma = next(v for v in p.vmas() if v.start == lo)
    assert stack_vma.flags & VM_GROWSDOWN and not stack_vma.flags & VM_EXEC  # binfmt_elf_fdpic
    mm = p.mm
    assert mm.start_brk == mm.brk == mm.end_brk == lo
    assert p.brk(lo + PS) == lo  # brk never grows


def test_fdpic_stack_is_not_cleared_with_the_board_option(k):
    """binfmt_elf_fdpic (seen on Linux 6.12): the ELF-FDPIC stack is allocated with MAP_UNINITIALIZED."""
    p = k.spawn()
    a = p.mmap(0, 8 * PS, RW, ANON)
    p.poke(a, b"\xab" * (8 * PS))
    p.munmap(a, 8 * PS)
    q = k.spawn()
    q.execve("/rom/bin/hello-fdpic")
    stack = next(v for v in q.vmas() if v.path is None)
    assert a <= stack.start and stack.end <= a + 8 * PS  # the block just freed
    assert q.peek(stack.start, stack.length) == b"\xab" * stack.length
    assert any(e.rule == "do_mmap.map_uninitialized" for e in k.trace)


def test_static_pie_one_block_and_default_stack(k):
    """Seen on Linux 6.12: a static PIE loaded by ELF-FDPIC gets one anonymous RWX block (not shared)
    and a 128 KiB [stack]."""
    p, q = k.spawn(), k.spawn()
    p.execve("/rom/bin/hello-pie")
    q.execve("/rom/bin/hello-pie")
    vp = p.vmas()
    assert len(vp) == 2 and all(v.path is None for v in vp)
    block = next(v for v in vp if v.perms == "rwxp")
    assert block.start not in [v.start for v in q.vmas()]
    stack = next(line for line in p.maps().splitlines() if line.endswith("[stack]"))
    lo, hi = (int(x, 16) for x in stack.split()[0].split("-"))
    assert hi - lo == 128 * 1024


@pytest.mark.parametrize("mmu", [False, True])
@pytest.mark.parametrize("program", ["/rom/bin/hello-fdpic", "/rom/bin/hello-pie"])
def test_load_elf_fdpic_binary_starts_at_e_entry(mmu, program):
    """load_elf_fdpic_binary (load_elf_binary with an MMU) starts the program at e_entry
    moved by its segment's load displacement, not at the segment's start (the ELF header,
    whose third word is 0: SIGILL after 2 instructions). The board's ELF programs point
    e_entry at their text, so both run 8 instructions on both kernels."""
    from nommu_lab.boards import _TEXT, program_files
    from nommu_lab.kernel.binfmt import parse_elf

    k = board(mmu=mmu)
    elf = parse_elf(program_files()[program])
    text = elf.loads[0]
    assert text.vaddr == text.offset == 0 and 0 < elf.entry < text.filesz
    p = k.spawn()
    p.execve(program)
    assert p.mm.entry == p.mm.start_code + elf.entry  # one displacement: text at vaddr 0
    assert p.peek(p.mm.entry, 16) == _TEXT[:16]
    assert p.run(8) == 8 and p.alive
    k.check()


def test_elf_fdpic_map_file_no_entry_is_named(k):
    """An e_entry inside no PT_LOAD segment: Linux starts at address 0 (a fault at once);
    the model names it at exec and refuses to run the CPU from there."""
    from nommu_lab.kernel.binfmt import build_elf

    img = bytearray(build_elf(b"\x13\x00\x00\x00" * 16, b"d", bss=0, stack=None))
    img[24:32] = (1 << 40).to_bytes(8, "little")  # e_entry far beyond every segment
    p = k.spawn()
    fd = p.open("/tmp/broken", O_CREAT | O_RDWR, 0o755)
    p.write(fd, bytes(img))
    p.close(fd)
    p.execve("/tmp/broken")
    assert any(e.rule == "elf_fdpic_map_file.no_entry" for e in k.trace)
    refused(k, p.run, 8, errno=ENOEXEC, rule="cpu.no_entry")


def test_cpu_illegal_instruction_outside_flash_says_so(k):
    """SIGILL from a RAM copy of a program whose text is zeros: the sentence does not
    blame the flash (only a fetch from a busy chip does)."""
    from nommu_lab.kernel.binfmt import build_flat

    p = k.spawn()
    fd = p.open("/tmp/zeros", O_CREAT | O_RDWR, 0o755)
    p.write(fd, build_flat(bytes(64), b"d", bss=0, stack=4096, ram=True))
    p.close(fd)
    p.execve("/tmp/zeros")
    seq = k.trace.last_seq
    assert p.run(8) == 0 and p.killed_by == SIGILL
    (ev,) = [e for e in k.trace.since(seq) if e.rule == "cpu.illegal_instruction"]
    assert "flash" not in ev.text and "never an instruction" in ev.text
    assert [e.text for e in k.trace.since(seq) if e.rule == "do_exit"] == [
        f"process {p.pid} was killed by SIGILL (a shell shows status 132)"]


def test_exit_of_all_exec_programs_returns_every_page(k):
    """Issue 3: exit of every instance returns every page (meminfo back to boot)."""
    snap = snapshot_mem(k)
    procs = []
    for path in ("/rom/bin/hello", "/rom/bin/hello-ram", "/rom/bin/hello-fdpic",
                 "/rom/bin/hello-pie", "/mnt/disk/bin/hello", "/rom/bin/hello-fdpic"):
        p = k.spawn()
        p.execve(path)
        procs.append(p)
    for p in procs:
        p.exit(0)
    assert k.regions() == []
    assert_mem_back(k, snap)


# --- refused execve changes nothing -------------------------------------------------
def test_execve_refusals(k):
    """A refused execve changes nothing (the model dry-runs the load)."""
    p = k.spawn()
    p.mmap(0, PS, RW, ANON)
    refused(k, p.execve, "/rom/bin/nope", errno=ENOENT)
    refused(k, p.execve, "/dev/fb0", errno=EACCES)
    refused(k, p.execve, "/rom/etc/motd", errno=EACCES)  # no x bit
    fd = p.open("/tmp/junk", O_CREAT | O_RDWR, 0o755)
    p.write(fd, b"#!not a binary\n" * 10)
    refused(k, p.execve, "/tmp/junk", errno=ENOEXEC)


def test_execve_enomem_changes_nothing():
    """do_mmap_private: a loader mmap that cannot get its block → ENOMEM, and the old program survives."""
    k = board(ram_size=2 << 20)
    p = k.spawn()
    big = []
    while True:
        try:
            big.append(p.mmap(0, 4 * PS, RW, ANON))
        except nl.KernelError:
            break
    assert big and k.mem.largest_free_order() < 5  # no room for a 128 KiB stack
    q = k.spawn()
    refused(k, q.execve, "/rom/bin/hello-pie", errno=ENOMEM)
    assert q.vmas() == [] and q.mm.exe is None


# --- issue 10 A7: O_CLOEXEC ------------------------------------------------------------
@pytest.mark.parametrize("mmu", [False, True])
def test_do_close_on_exec_closes_o_cloexec_fds(mmu):
    """fs/file.c do_close_on_exec (called by begin_new_exec): an fd opened O_CLOEXEC is
    closed by a successful execve; other fds and a dup of it (dup clears FD_CLOEXEC) stay;
    a refused execve closes nothing."""
    k = board(mmu=mmu)
    p = k.spawn()
    keep = p.open("/tmp/keep", O_CREAT | O_RDWR)
    gone = p.open("/tmp/gone", O_CREAT | O_RDWR | O_CLOEXEC)
    p.write(gone, b"abc")
    dup = p.dup(gone)
    with pytest.raises(nl.KernelError):
        p.execve("/rom/etc/motd")  # not executable: refused before the point of no return
    assert p.fstat(gone).st_size == 3
    p.execve("/rom/bin/hello-pie")
    assert sorted(p.fds) == sorted({0, 1, 2, keep, dup})
    refused(k, p.read, gone, 1, errno=EBADF, rule="fdget.bad_fd")
    p.pwrite(dup, b"Z", 0)
    assert p.pread(dup, 3, 0) == b"Zbc"
    assert "do_close_on_exec" in k.trace.rules()
    k.check()


@pytest.mark.parametrize("mmu", [False, True])
def test_do_close_on_exec_frees_an_unlinked_files_pages(mmu):
    """An unlinked ramfs file held only by an O_CLOEXEC fd goes with the execve (evict):
    its page-cache pages return to the allocator."""
    k = board(mmu=mmu)
    p = k.spawn()
    p.execve("/rom/bin/hello-pie")
    free0 = k.meminfo()["MemFree"]
    fd = p.open("/tmp/big", O_CREAT | O_RDWR | O_CLOEXEC)
    p.write(fd, b"s" * (4 * PS))
    p.unlink("/tmp/big")
    assert k.meminfo()["MemFree"] == free0 - 4 * PS // 1024
    p.execve("/rom/bin/hello-pie")
    assert k.meminfo()["MemFree"] == free0
    k.check()


def test_do_close_on_exec_in_a_vfork_child_leaves_the_parent_fd():
    """dup_fd copies the close-on-exec bits to the child; the child's execve closes its own
    copy only: the parent's fd stays open."""
    k = board()
    p = k.spawn()
    fd = p.open("/tmp/f", O_CREAT | O_RDWR | O_CLOEXEC)
    c = p.vfork()
    assert fd in c.fds
    c.execve("/rom/bin/hello")
    assert fd not in c.fds and fd in p.fds
    assert p.write(fd, b"x") == 1


def test_shm_open_sets_o_cloexec():
    """glibc's shm_open opens with O_CLOEXEC (POSIX: FD_CLOEXEC is set), so execve closes it."""
    k = board()
    p = k.spawn()
    fd = p.shm_open("/seg", O_CREAT | O_RDWR)
    other = p.open("/tmp/o", O_CREAT | O_RDWR)
    p.execve("/rom/bin/hello")
    assert fd not in p.fds and other in p.fds
