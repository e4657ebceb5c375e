"""The MMU kernel (issue 4): what mm/memory.c and mm/mmap.c do with the same calls.

Each test names the kernel function whose behaviour it checks. Frame
numbers come from the page table (``p.translate``, ``p.frames``) and the
frame reference counts (``k.page_count``), so copy-on-write and demand
paging are proved by counting frames, not by the absence of an exception.
"""

from __future__ import annotations

import errno

import pytest

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState
from nommu_lab.mmu import MMAP_BASE, STACK_TOP, MmuKernel

PS = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


@pytest.fixture
def k() -> MmuKernel:
    k = nl.boards.default(mmu=True)
    assert isinstance(k, MmuKernel)
    return k


def pfn(p, addr: int) -> int | None:
    phys = p.translate(addr)
    return None if phys is None else p.kernel.mem.addr_to_pfn(phys)


def refused(k, fn, *args, err: int, rule: str | None = None) -> nl.KernelError:
    before = k.state_digest()
    with pytest.raises(nl.KernelError) as ei:
        fn(*args)
    assert ei.value.errno == err, str(ei.value)
    if rule is not None:
        assert ei.value.rule == rule, ei.value.rule
    assert k.state_digest() == before, f"refused call changed the kernel: {ei.value}"
    k.check()
    return ei.value


# ---------------------------------------------------------------------------
# boot and the things an MMU kernel does not have
# ---------------------------------------------------------------------------
def test_dispatch_and_same_ram_as_the_nommu_board(k):
    assert nl.Kernel(8 << 20, mmu=True).mmu and type(nl.MmuKernel(4 << 20)) is MmuKernel
    nommu = nl.boards.default()
    assert k.meminfo()["MemTotal"] == nommu.meminfo()["MemTotal"] == 7136
    assert k.meminfo()["MemFree"] == nommu.meminfo()["MemFree"]
    assert k.mem.state[k.zero_pfn] == PageState.KERNEL  # the zero page is kernel .bss
    k.check()


def test_no_regions_no_proc_maps_no_mmapcopy_line(k):
    """/proc/maps is fs/proc/nommu.c: absent with an MMU."""
    assert k.regions() == []
    e = refused(k, k.proc_maps, err=errno.ENOENT, rule="proc_maps.mmu")
    assert "p.maps()" in e.sentence
    p = k.spawn()
    refused(k, p.open, "/proc/maps", O_RDONLY, err=errno.ENOENT)
    fd = p.open("/proc/meminfo", O_RDONLY)
    text = p.read(fd, 4096).decode()
    assert text.startswith("MemTotal:") and "MmapCopy" not in text and "AnonPages:" in text
    assert k.meminfo()["MmapCopy"] == 0


def test_sysctls_are_the_mmu_ones(k):
    refused(k, k.sysctl, "vm.nr_trim_pages", 0, err=errno.ENOENT, rule="sysctl.unknown")
    assert k.sysctl("vm.overcommit_memory") == 0
    assert k.sysctl("vm.overcommit_memory", 2) == 2
    refused(k, k.sysctl, "vm.overcommit_memory", 3, err=errno.EINVAL)


# ---------------------------------------------------------------------------
# demand paging and the zero page (do_anonymous_page)
# ---------------------------------------------------------------------------
def test_mmap_takes_no_frame_read_maps_zero_page_write_takes_one(k):
    p = k.spawn()
    free = k.mem.nr_free
    a = p.mmap(0, 16 * PS, RW, ANON)
    assert a == MMAP_BASE - 16 * PS and k.mem.nr_free == free
    assert p.peek(a + 3 * PS, 8) == bytes(8)
    assert pfn(p, a + 3 * PS) == k.zero_pfn and k.mem.nr_free == free
    assert k.trace.rules()[-1] == "do_anonymous_page.zero_page"
    p.poke(a + 5 * PS, b"x")
    f = pfn(p, a + 5 * PS)
    assert f != k.zero_pfn and k.mem.state[f] == PageState.ANON and k.page_count(f) == 1
    assert k.mem.nr_free == free - 1 and k.bytes_zeroed == PS
    p.poke(a + 3 * PS, b"y")  # written after a read: the zero page is replaced
    assert "wp_page_copy.zero_page" in k.trace.rules()
    assert pfn(p, a + 3 * PS) not in (k.zero_pfn, f) and k.mem.nr_free == free - 2
    assert not k.mem.data[k.zero_pfn * PS:(k.zero_pfn + 1) * PS].any()
    k.check()


def test_frames_of_one_mapping_are_not_contiguous(k):
    """Doc case 1, MMU: 'VM regions backed by arbitrary pages'."""
    p = k.spawn()
    q = k.spawn()
    a = p.mmap(0, 3 * PS, RW, ANON)
    b = q.mmap(0, 3 * PS, RW, ANON)
    assert a == b  # each process has its own addresses
    for i in range(3):
        p.poke(a + i * PS, b"p")
        q.poke(b + i * PS, b"q")
    fp = [pfn(p, a + i * PS) for i in range(3)]
    fq = [pfn(q, b + i * PS) for i in range(3)]
    assert fp == [fq[0] - 1, fq[1] - 1, fq[2] - 1] and fp[1] - fp[0] == 2  # interleaved
    assert p.peek(a, 1) == b"p" and q.peek(b, 1) == b"q"
    k.check()


# ---------------------------------------------------------------------------
# copy-on-write (dup_mmap, do_wp_page)
# ---------------------------------------------------------------------------
def test_fork_shares_frames_until_one_writes(k):
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, ANON)
    p.poke(a, b"page0")
    p.poke(a + PS, b"page1")
    free = k.mem.nr_free
    c = p.fork()
    assert k.mem.nr_free == free  # fork copies no data
    f0, f1 = pfn(p, a), pfn(p, a + PS)
    assert (pfn(c, a), pfn(c, a + PS)) == (f0, f1)
    assert k.page_count(f0) == k.page_count(f1) == 2
    assert not p.mm.pte[a // PS].write and not c.mm.pte[a // PS].write  # write-protected
    k.check()
    c.poke(a, b"CHILD")  # the writer gets its own frame
    assert k.mem.nr_free == free - 1
    assert pfn(c, a) != f0 and pfn(p, a) == f0
    assert k.page_count(f0) == 1 and k.page_count(pfn(c, a)) == 1
    assert k.page_count(f1) == 2  # the page nobody wrote is still shared
    assert p.peek(a, 5) == b"page0" and c.peek(a, 5) == b"CHILD"
    p.poke(a, b"PARNT")  # now only the parent maps f0: reused in place
    assert pfn(p, a) == f0 and k.trace.rules()[-1] == "do_wp_page.reuse"
    assert k.mem.nr_free == free - 1
    c.exit(0)
    assert k.page_count(f1) == 1 and k.mem.nr_free == free
    p.poke(a + PS, b"PAGE1")
    assert pfn(p, a + PS) == f1  # exclusive again: no copy
    k.check()


def test_shared_anonymous_is_one_object_across_fork(k):
    """Doc case 2, MMU: MAP_SHARED anonymous memory is shared across fork (shmem)."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.poke(a, b"hello")
    f = pfn(p, a)
    assert k.mem.state[f] == PageState.PAGECACHE and k.page_count(f) == 2  # cache + 1 PTE
    c = p.fork()
    c.poke(a, b"HOWDY")
    assert pfn(c, a) == f and k.page_count(f) == 3
    assert p.peek(a, 5) == b"HOWDY"
    head = f"{a:08x}-{a + PS:08x} rw-s 00000000 00:01 1 "
    assert p.maps() == head.ljust(72) + " /dev/zero (deleted)\n"
    c.exit(0)
    p.munmap(a, PS)
    assert k.mem.state[f] == PageState.FREE  # the object went with its last mapping
    k.check()


def test_clone_without_vm_is_a_fork_and_vfork_shares(k):
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    p.poke(a, b"1")
    c = p.clone(0)
    assert c.mm is not p.mm and pfn(c, a) == pfn(p, a)
    v = p.vfork()
    assert v.mm is p.mm
    refused(k, p.poke, a, b"x", err=errno.EAGAIN, rule="vfork.parent_suspended")
    v.poke(a, b"2")
    v.exit(0)
    assert p.peek(a, 1) == b"2" and c.peek(a, 1) == b"1"
    k.check()


# ---------------------------------------------------------------------------
# files: page cache, private copies, shared write-back
# ---------------------------------------------------------------------------
def test_private_file_mapping_is_the_page_cache_until_written(k):
    p = k.spawn()
    fd = p.open("/tmp/f", O_RDWR | O_CREAT)
    p.write(fd, b"a" * PS + b"b" * PS)
    inode = k.lookup("/tmp/f")
    a = p.mmap(0, 2 * PS, RW, MAP_PRIVATE, fd, 0)
    assert p.peek(a, 1) == b"a" and pfn(p, a) == inode.pages[0]
    assert k.page_count(inode.pages[0]) == 2
    p.poke(a, b"Z")  # do_wp_page on a page-cache page: always a copy
    assert pfn(p, a) != inode.pages[0] and k.mem.state[pfn(p, a)] == PageState.FILE_COPY
    assert p.pread(fd, 1, 0) == b"a" and k.page_count(inode.pages[0]) == 1
    p.poke(a + PS, b"Y")  # no read first: do_cow_fault
    assert "do_cow_fault" in k.trace.rules()
    assert p.pread(fd, 1, PS) == b"b"
    k.check()


def test_shared_ramfs_mapping_is_the_file(k):
    p = k.spawn()
    fd = p.open("/tmp/s", O_RDWR | O_CREAT)
    p.write(fd, b"x" * 3 * PS)  # filled by write(): fine with an MMU
    a = p.mmap(0, 3 * PS, RW, MAP_SHARED, fd, 0)
    p.poke(a + PS + 7, b"MAP")
    assert p.pread(fd, 3, PS + 7) == b"MAP"
    p.pwrite(fd, b"FILE", 2 * PS)
    assert p.peek(a + 2 * PS, 4) == b"FILE"
    assert pfn(p, a + PS) == k.lookup("/tmp/s").pages[1]
    p.ftruncate(fd, PS)  # shrinking under a shared mapping: fine, the pages go
    e = refused(k, p.poke, a + PS, b"!", err=errno.EFAULT, rule="filemap_fault.sigbus")
    assert "SIGBUS" in e.sentence
    assert a // PS + 1 not in p.mm.pte
    p.ftruncate(fd, 3 * PS)
    assert p.peek(a + PS, 4) == bytes(4)  # grown again: a hole reads zeroes
    k.check()


def test_disk_file_shared_mapping_writes_back(k):
    """Doc case 5, MMU: changes to pages written back to file; file writes reflected."""
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin", O_RDWR)
    a = p.mmap(0, 3 * PS, RW, MAP_SHARED, fd, 0)
    assert p.peek(a + 10, 3) == bytes(range(10, 13))
    p.poke(a + PS - 2, b"WXYZ")  # across a page boundary
    assert p.pread(fd, 4, PS - 2) == b"WXYZ"
    p.pwrite(fd, b"back", 2 * PS)
    assert p.peek(a + 2 * PS, 4) == b"back"
    assert k.trace.rules().count("folio_mark_dirty.writeback") == 2
    k.check()


def test_truncating_a_mapped_disk_file_unmaps_its_pages(k):
    """truncate_pagecache: O_TRUNC or ftruncate under a mapping; the pages go, access is SIGBUS."""
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin", O_RDWR)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_SHARED, fd, 0)
    assert p.peek(a + PS, 2) == bytes([4096 % 251, 4097 % 251])
    inode = k.lookup("/mnt/disk/pattern.bin")
    cached = list(inode.pages.values())
    assert len(cached) == 1
    p.open("/mnt/disk/pattern.bin", O_RDWR | O_TRUNC)
    assert not inode.pages and a // PS + 1 not in p.mm.pte
    assert k.mem.state[cached[0]] == PageState.FREE
    refused(k, p.peek, a, 1, err=errno.EFAULT, rule="filemap_fault.sigbus")
    p.pwrite(fd, b"new", 0)
    assert p.peek(a, 3) == b"new"
    k.check()


@pytest.mark.parametrize(("accmode", "flags", "cow"), [
    (O_RDWR, MAP_PRIVATE, True), (O_RDONLY, MAP_PRIVATE, True),
    (O_RDWR, MAP_SHARED, False), (O_RDONLY, MAP_SHARED, False),
])
def test_remap_pfn_range_sets_vm_pgoff_to_the_pfn_of_a_cow_mapping(k, accmode, flags, cow):
    """remap_pfn_range (mm/memory.c) sets vm_pgoff to the first pfn when is_cow_mapping
    (VM_MAYWRITE without VM_SHARED: every MAP_PRIVATE map), so /proc/PID/maps shows the
    frame buffer's physical address as the offset. A MAP_SHARED map keeps the file offset,
    also when the device was opened read-only (do_mmap clears VM_SHARED and VM_MAYWRITE)."""
    p = k.spawn()
    a = p.mmap(0, 2 * PS, PROT_READ, flags, p.open("/dev/fb0", accmode), PS)
    (line,) = p.maps().splitlines()
    offset = int(line.split()[2], 16)
    assert offset == (k.fb.screen_base + PS if cow else PS)
    assert line.split()[1] == ("r--p" if cow else "r--s")
    assert p.translate(a) == k.fb.screen_base + PS  # the same frames either way
    k.check()


def test_a_driver_with_device_memory_maps_it_with_remap_pfn_range(k):
    """A character driver's memory appears at a virtual address; its frames are the device's."""
    from nommu_lab.kernel.devices import SimpleDriver

    d = SimpleDriver("mydev", memory_pages=2)
    k.register_driver("/dev/mydev", d)
    p = k.spawn()
    fd = p.open("/dev/mydev", O_RDWR)
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    p.poke(a + PS, b"dev")
    assert p.translate(a + PS) == d.base + PS and k.phys_read(d.base + PS, 3) == b"dev"
    assert d.calls == [f"mmap(vma={a:#x}-{a + 2 * PS:#x})"]
    refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, err=errno.EINVAL,
            rule="remap_pfn_range.range")
    d.mmap_result = -errno.EPERM
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, 0, err=errno.EPERM,
            rule="call_mmap.driver_refused")
    z = p.open("/dev/zero", O_RDWR)
    b = p.mmap(0, PS, RW, MAP_PRIVATE, z, 0)
    assert p.maps().splitlines()[0].startswith(f"{b:08x}-{b + PS:08x} rw-p 00000000 00:02 ")
    assert p.peek(b, 2) == b"\0\0" and pfn(p, b) == k.zero_pfn
    k.check()


def test_readonly_shared_mapping_cannot_become_writable(k):
    """do_mmap clears VM_MAYWRITE for MAP_SHARED of an O_RDONLY file: mprotect EACCES."""
    p = k.spawn()
    fd = p.open("/rom/data/page.bin", O_RDONLY)
    a = p.mmap(0, PS, PROT_READ, MAP_SHARED, fd, 0)
    assert " r--s " in p.maps()
    refused(k, p.mprotect, a, PS, RW, err=errno.EACCES, rule="do_mprotect_pkey.may_flags")
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, 0, err=errno.EACCES,
            rule="do_mmap.shared_write_needs_fmode_write")
    assert p.peek(a, 2) == bytes([0, 7])


# ---------------------------------------------------------------------------
# placement: hints, MAP_FIXED
# ---------------------------------------------------------------------------
def test_hints_and_map_fixed_are_honoured(k):
    p = k.spawn()
    assert p.mmap(0x1000_0000, PS, RW, ANON) == 0x1000_0000
    assert p.mmap(0x1000_0000, PS, RW, ANON) == MMAP_BASE - PS  # taken: top-down instead
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.poke(a + PS, b"old")
    free = k.mem.nr_free
    assert p.mmap(a + PS, PS, PROT_READ, ANON | MAP_FIXED) == a + PS
    assert k.mem.nr_free == free + 1 and p.peek(a + PS, 3) == bytes(3)
    assert [v.perms for v in p.vmas() if a <= v.start < a + 4 * PS] == ["rw-p", "r--p", "rw-p"]
    refused(k, p.mmap, a, PS, RW, ANON | MAP_FIXED_NOREPLACE, err=errno.EEXIST)
    refused(k, p.mmap, a + 1, PS, RW, ANON | MAP_FIXED, err=errno.EINVAL,
            rule="get_unmapped_area.fixed_unaligned")
    refused(k, p.mmap, 0, PS, RW, ANON | MAP_FIXED, err=errno.EPERM,
            rule="security_mmap_addr.below_mmap_min_addr")
    k.check()


def test_adjacent_anonymous_mappings_merge(k):
    """vma_merge: two compatible neighbours are one VMA (one maps line)."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    b = p.mmap(0, PS, RW, ANON)
    assert b == a - PS and len(p.vmas()) == 1 and p.vmas()[0].length == 2 * PS
    p.mmap(0, PS, PROT_READ, ANON)
    assert len(p.vmas()) == 2


# ---------------------------------------------------------------------------
# munmap, mremap, mprotect
# ---------------------------------------------------------------------------
def test_munmap_any_range_holes_and_nothing(k):
    p = k.spawn()
    a = p.mmap(0, 4 * PS, RW, ANON)
    for i in range(4):
        p.poke(a + i * PS, b"z")
    free = k.mem.nr_free
    p.munmap(a + PS, PS)
    assert [(v.start - a, v.end - a) for v in p.vmas()] == [(0, PS), (2 * PS, 4 * PS)]
    assert k.mem.nr_free == free + 1
    p.munmap(a, 8 * PS)  # spans the rest and unmapped space: fine
    assert p.vmas() == [] and k.mem.nr_free == free + 4
    assert p.munmap(0x5000_0000, PS) == 0
    assert k.trace.rules()[-1] == "do_vmi_munmap.nothing_mapped"
    refused(k, p.munmap, a + 1, PS, err=errno.EINVAL, rule="do_vmi_munmap.bad_range")
    refused(k, p.munmap, a, 0, err=errno.EINVAL)
    k.check()


def test_mremap_grows_in_place_moves_and_keeps_frames(k):
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    assert p.mremap(a, PS, 3 * PS, 0) == a  # nothing above: grows in place
    b = p.mmap(0, PS, PROT_READ, ANON)  # just below a, different protection
    p.mprotect(b, PS, RW)
    p.poke(b, b"data")
    f = pfn(p, b)
    refused(k, p.mremap, b, PS, 2 * PS, 0, err=errno.ENOMEM, rule="mremap.no_room")
    free = k.mem.nr_free
    c = p.mremap(b, PS, 2 * PS, MREMAP_MAYMOVE)
    assert c != b and pfn(p, c) == f and k.mem.nr_free == free  # moved, not copied
    assert p.peek(c, 4) == b"data" and p.mm.vma_lookup(b) is None
    d = p.mremap(c, 2 * PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000)
    assert d == 0x2000_0000 and pfn(p, d) == f
    assert p.mremap(d, 2 * PS, PS) == d and p.vmas()[0].length == PS
    refused(k, p.mremap, 0x6000_0000, PS, 2 * PS, MREMAP_MAYMOVE, err=errno.EFAULT,
            rule="vma_to_resize.no_vma")
    refused(k, p.mremap, d, PS, 2 * PS, MREMAP_FIXED, 0x3000_0000, err=errno.EINVAL)
    k.check()


def test_mprotect_is_enforced(k):
    p = k.spawn()
    a = p.mmap(0, 3 * PS, RW, ANON)
    p.poke(a + PS, b"w")
    p.mprotect(a + PS, PS, PROT_READ)
    assert [v.perms for v in p.vmas()] == ["rw-p", "r--p", "rw-p"]
    e = refused(k, p.poke, a + PS, b"x", err=errno.EFAULT, rule="do_page_fault.access_error")
    assert "SIGSEGV" in e.sentence
    assert p.peek(a + PS, 1) == b"w"
    p.mprotect(a + PS, PS, PROT_NONE)
    refused(k, p.peek, a + PS, 1, err=errno.EFAULT)
    p.mprotect(a, 3 * PS, RW)
    assert len(p.vmas()) == 1  # merged back
    p.poke(a + PS, b"y")
    assert p.peek(a + PS, 1) == b"y"
    refused(k, p.mprotect, a + 3 * PS, PS, RW, err=errno.ENOMEM, rule="do_mprotect_pkey.unmapped")
    refused(k, p.mprotect, a + 1, PS, RW, err=errno.EINVAL)
    refused(k, p.poke, 0x7000_0000, b"x", err=errno.EFAULT, rule="do_page_fault.bad_area")
    k.check()


# ---------------------------------------------------------------------------
# memory the no-MMU kernel could not give
# ---------------------------------------------------------------------------
def test_big_mapping_needs_no_contiguous_block_but_touching_needs_frames():
    nommu, k = nl.boards.default(), nl.boards.default(mmu=True)
    size = 5 << 20  # more than the largest buddy block (4 MiB)
    refused(nommu, nommu.spawn().mmap, 0, size, RW, ANON, err=errno.ENOMEM,
            rule="do_mmap_private.alloc_failed")
    p = k.spawn()
    a = p.mmap(0, size, RW, ANON)
    assert k.meminfo()["MemFree"] == 7136
    refused(k, p.mmap, 0, 16 << 20, RW, ANON, err=errno.ENOMEM, rule="__vm_enough_memory.guess")
    k.sysctl("vm.overcommit_memory", 1)
    b = p.mmap(0, 16 << 20, RW, ANON)
    free = k.mem.nr_free
    refused(k, p.poke, b, bytes(free * PS + PS), err=errno.ENOMEM, rule="handle_mm_fault.oom")
    p.poke(a, bytes(PS * 10))
    assert k.mem.nr_free == free - 10
    k.check()


def test_map_populate_takes_frames_at_mmap_and_madvise_gives_them_back(k):
    p = k.spawn()
    free = k.mem.nr_free
    a = p.mmap(0, 8 * PS, RW, ANON | MAP_POPULATE)
    assert k.mem.nr_free == free - 8 and k.bytes_zeroed == 8 * PS
    p.madvise(a, 8 * PS, 4)  # MADV_DONTNEED
    assert k.mem.nr_free == free and p.peek(a, 1) == b"\0"
    k.check()


# ---------------------------------------------------------------------------
# programs, maps format, IPC, futex, ptrace
# ---------------------------------------------------------------------------
def test_execve_elf_layout_heap_and_stack(k):
    p = k.spawn()
    refused(k, p.execve, "/rom/bin/hello", err=errno.ENOEXEC, rule="search_binary_handler.no_handler")
    p.execve("/rom/bin/hello-pie")
    assert p.mm.start_code == 0x2A_AAAA_A000
    brk = p.brk(0)
    assert p.brk(brk + 3 * PS) == brk + 3 * PS
    lines = p.maps().splitlines()
    assert lines[0].startswith("2aaaaaa000-2aaaaab000 r-xp 00000000 1f:00 ")
    assert lines[0].endswith(" /rom/bin/hello-pie")
    assert any(line.endswith(" [heap]") for line in lines)
    assert lines[-1].startswith(f"3ffffdf000-{STACK_TOP:x} rw-p 00000000 00:00 0 ")
    assert lines[-1].endswith(" [stack]")
    assert all(v.region is None for v in p.vmas())
    assert p.run(4) == 4
    k.check()


def test_sysv_shm_works_with_an_mmu(k):
    """The no-MMU kernel refuses shmat (ENODEV since 4.0); with an MMU it works."""
    p = k.spawn()
    sid = p.shmget(42, 2 * PS, IPC_CREAT | 0o600)
    a = p.shmat(sid, 0, 0)
    p.poke(a, b"sysv")
    c = p.fork()
    b = c.shmat(sid, 0x4000_0000, 0)
    assert b == 0x4000_0000 and c.peek(b, 4) == b"sysv" and c.peek(a, 4) == b"sysv"
    assert "/SYSV0000002a (deleted)" in p.maps()
    c.shmdt(b)
    refused(k, c.shmdt, b, err=errno.EINVAL, rule="ksys_shmdt.not_attached")
    k.check()


def test_futex_meets_through_shared_memory_after_fork(k):
    p = k.spawn()
    a = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    c = p.fork()
    refused(k, c.futex, a, FUTEX_WAIT, 1, err=errno.EAGAIN, rule="futex_wait.value_changed")
    assert a // PS not in c.mm.pte  # the refused wait faulted nothing in
    assert c.futex(a, FUTEX_WAIT, 0) == 0
    assert p.futex(a, FUTEX_WAKE, 1) == 1 and c.futex_wait is None
    priv = p.mmap(0, PS, RW, ANON)
    d = p.fork()
    d.futex(priv, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0)
    assert p.futex(priv, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1) == 0  # another mm: another key
    assert d.futex_wait == priv


def test_ptrace_poke_breaks_cow_in_readonly_text(k):
    p = k.spawn()
    p.execve("/rom/bin/hello-pie")
    dbg = k.spawn("gdb")
    dbg.ptrace_attach(p.pid)
    text = p.mm.start_code
    original = p.peek(text + 0x100, 4)
    cache = pfn(p, text)
    assert cache is not None and k.mem.state[cache] == PageState.PAGECACHE
    dbg.ptrace_poke(p.pid, text + 0x100, b"\x73\x00\x10\x00")  # ebreak
    assert pfn(p, text) != cache and p.peek(text + 0x100, 4) == b"\x73\x00\x10\x00"
    assert k.mem.data[cache * PS + 0x100:cache * PS + 0x104].tobytes() == original
    refused(k, p.poke, text + 0x100, b"x", err=errno.EFAULT)
    k.check()


# ---------------------------------------------------------------------------
# teardown and snapshots
# ---------------------------------------------------------------------------
def test_everything_comes_back_after_exit(k):
    boot = k.meminfo()
    p = k.spawn()
    fd = p.open("/tmp/x", O_RDWR | O_CREAT)
    p.write(fd, b"q" * 3 * PS)
    a = p.mmap(0, 3 * PS, RW, MAP_PRIVATE, fd, 0)
    s = p.mmap(0, 2 * PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    d = p.open("/mnt/disk/notes.txt", O_RDWR)
    m = p.mmap(0, PS, RW, MAP_SHARED, d, 0)
    for addr in (a, a + 2 * PS, s, m):
        p.poke(addr, b"!")
    c = p.fork()
    c.poke(a, b"c")
    c.exit(0)
    p.unlink("/tmp/x")
    p.exit(0)
    assert k.meminfo() == boot
    assert not k.mapcount.any() and k.processes == {}
    k.check()


def test_snapshot_restore_keeps_page_tables(k):
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, ANON)
    p.poke(a, b"snap")
    p.fork()
    k2 = nl.Kernel.restore(k.snapshot())
    assert k2.state_digest() == k.state_digest() and isinstance(k2, MmuKernel)
    q = k2.processes[p.pid]
    q.poke(a, b"SNAP")
    assert p.peek(a, 4) == b"snap" and q.peek(a, 4) == b"SNAP"
    k2.check()


def test_every_call_of_the_contract_answers_on_the_mmu_board(k):
    """The public API: the same program runs on both kernels."""
    p = k.spawn("app")
    fd = p.open("/rom/bin/hello", O_RDONLY)
    assert p.read(fd, 4) == b"bFLT" and p.pread(fd, 4, 0) == b"bFLT"
    assert p.fstat(fd).st_size == k.lookup("/rom/bin/hello").size and p.close(fd) == 0
    w = p.open("/tmp/w", O_RDWR | O_CREAT)
    assert p.write(w, b"abc") == 3 and p.pwrite(w, b"Z", 1) == 1 and p.pread(w, 3, 0) == b"aZc"
    assert p.ftruncate(w, 2 * PS) == 0 and p.fstat(w).st_size == 2 * PS
    r, wr = p.pipe()
    assert p.write(wr, b"pipe") == 4 and p.read(r, 4) == b"pipe"
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, r, 0, err=errno.ENODEV)
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, w, 0)
    assert p.peek(a, 3) == b"aZc" and p.poke(a, b"A") == 1 and p.pread(w, 1, 0) == b"A"
    b = p.mremap(a, 2 * PS, PS)
    assert b == a and p.mprotect(a, PS, PROT_READ) == 0 and p.munmap(a, PS) == 0
    s = p.shm_open("/x", O_CREAT | O_RDWR, 0o600)
    p.ftruncate(s, PS)
    m = p.mmap(0, PS, RW, MAP_SHARED, s, 0)
    sid = p.shmget(7, PS, IPC_CREAT | 0o600)
    at = p.shmat(sid, 0, 0)
    assert p.shmdt(at) == 0
    assert p.futex(m, FUTEX_WAKE, 1) == 0
    v = p.vfork()
    v.execve("/rom/bin/hello-pie")
    assert v.mm is not p.mm and p.vfork_child is None
    c = p.clone(CLONE_VM)
    assert c.mm is p.mm
    c.exit(0)
    f = p.fork()
    f.exit(3)
    assert f.exit_code == 3 and not f.alive
    assert p.maps().count("\n") == len(p.vmas()) == 1  # /dev/shm/x; /tmp/w was unmapped
    v.exit(0)
    p.exit(0)
    k.check()


# --- issue 10 A10: mremap_to checks everything first ------------------------------------
def _target(k, p) -> int:
    """A shared file mapping holding b"keep": where MREMAP_FIXED is told to go."""
    fd = p.open("/tmp/t", O_CREAT | O_RDWR)
    p.write(fd, b"keep")
    p.ftruncate(fd, 2 * PS)
    t = p.mmap(0, 2 * PS, PROT_READ, MAP_SHARED, fd, 0)
    assert p.peek(t, 4) == b"keep"
    return t


def test_mremap_to_refuses_before_unmapping_the_target(k):
    """mm/mremap.c mremap_to: Linux unmaps new_addr's range first and only then finds the old
    tail's range invalid (do_munmap: EINVAL), so it returns an error with the target gone.
    The model makes every check first: EINVAL, the target still mapped, and the trace says
    what Linux would have left behind."""
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, ANON)
    t = _target(k, p)
    e = refused(k, p.mremap, a, -PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, t, err=errno.EINVAL,
                rule="do_vmi_munmap.bad_range")
    assert p.peek(t, 4) == b"keep"
    ev = [x for x in k.trace if x.rule == "mremap_to.linux_partial_effect"]
    assert ev and f"{t:#x}-{t + 2 * PS:#x}" in ev[-1].text, e
    k.check()


def test_mremap_to_vma_to_resize_efault_after_the_unmaps_on_linux(k):
    """vma_to_resize runs after mremap_to has unmapped the target and cut the old tail; the
    model finds its EFAULT first and keeps both."""
    p = k.spawn()
    hi = p.mmap(0, 3 * PS, PROT_READ, ANON)
    a = p.mmap(0, PS, RW, ANON)
    assert a + PS == hi  # top-down: the old tail [a + 2 pages, a + 4 pages) lies in hi
    t = _target(k, p)
    refused(k, p.mremap, a, 4 * PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, t, err=errno.EFAULT,
            rule="vma_to_resize.beyond_vma")
    assert p.peek(t, 4) == b"keep" and p.mm.vma_lookup(hi + 2 * PS) is not None
    ev = [x for x in k.trace if x.rule == "mremap_to.linux_partial_effect"]
    assert ev and f"{t:#x}" in ev[-1].text and f"{a + 2 * PS:#x}" in ev[-1].text
    k.check()


def test_mremap_to_overlap_wraps_like_c(k):
    """mremap_to's overlap test adds in unsigned long: with old_len -PAGE_SIZE, addr + old_len
    wraps to addr - PAGE_SIZE, so a target above addr does not overlap; the call goes on to
    the old tail's unmap, which is EINVAL (a range wider than the address space)."""
    p = k.spawn()
    a = p.mmap(0, 4 * PS, RW, ANON)
    refused(k, p.mremap, a + 2 * PS, -PS, PS, MREMAP_MAYMOVE | MREMAP_FIXED, a + 3 * PS,
            err=errno.EINVAL, rule="do_vmi_munmap.bad_range")
    refused(k, p.mremap, a + 2 * PS, -PS, 3 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, a,
            err=errno.EINVAL, rule="mremap_to.overlap")


def test_mm_populate_page_table_limit(k):
    """__mm_populate on a huge read-only anonymous mapping maps the zero page everywhere;
    Linux would need page-table pages for every entry (the model charges none), so one
    populate makes at most as many entries as the machine has frames, and says so."""
    import tracemalloc

    p = k.spawn()
    tracemalloc.start()
    try:
        a = p.mmap(0, 1 << 36, PROT_READ, ANON | MAP_POPULATE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(p.mm.pte) == k.mem.nr_pages and peak < 4 << 20
    assert p.translate(a) is not None and p.translate(a + k.mem.nr_pages * PS) is None
    assert "mm_populate.page_table_limit" in [e.rule for e in k.trace]
    k.check()
