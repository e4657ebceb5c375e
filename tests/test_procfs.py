"""/proc/maps, /proc/PID/maps and /proc/meminfo text (fs/proc/nommu.c,
fs/proc/task_nommu.c, fs/proc/meminfo.c).

Format of ``nommu_region_show`` / ``nommu_vma_show``: ``%08lx-%08lx``, four
permission characters (capital ``S`` for shared), ``%08llx`` offset,
``%02x:%02x`` device, decimal inode and one space; a file or ``[stack]`` is
written after ``seq_pad``: spaces up to column 25 + 6·sizeof(void*) − 1 (72
on the 64-bit board, 48 on a 32-bit one), then one more space.
"""

from __future__ import annotations

import re
from errno import *

import pytest
from _nommu import ANON, PS, RW, RX, board, make_shm_file, refused

import nommu_lab as nl
from nommu_lab.constants import *


def head(start, end, perms, off, dev, ino):
    return f"{start:08x}-{end:08x} {perms} {off:08x} {dev} {ino} "


def padded(h, name, width=72):
    return h + " " * (width - len(h)) + " " + name


def test_anonymous_line_ends_after_inode_space(k):
    """fs/proc/nommu.c: anonymous lines end right after the inode's trailing space."""
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, ANON)
    assert k.proc_maps() == f"{a:08x}-{a + 2 * PS:08x} rw-p 00000000 00:00 0 \n"
    assert p.maps() == k.proc_maps()


def test_file_line_padded_to_column_72(k):
    """fs/proc/nommu.c: file lines are padded to 72 characters on 64-bit, one space, then the path."""
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin")
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, PS)
    ino = p.fstat(fd).st_ino
    want = padded(head(a, a + 3 * PS, "r--p", PS, "fe:00", ino), "/mnt/disk/pattern.bin")
    assert k.proc_maps() == want + "\n"
    assert p.maps() == want + "\n"
    assert want.index("/mnt") == 73


def test_romfs_xip_line(k):
    """fs/proc/nommu.c: a direct romfs region on the MTD block device 31:0, unaligned start."""
    p = k.spawn()
    fd = p.open("/rom/etc/motd")
    a = p.mmap(0, 21, PROT_READ, MAP_PRIVATE, fd, 0)
    ino = p.fstat(fd).st_ino
    assert k.proc_maps() == padded(head(a, a + PS, "r--p", 0, "1f:00", ino), "/rom/etc/motd") + "\n"


def test_32bit_board_pads_to_column_48():
    """fs/proc/nommu.c: the width is 25 + 6·sizeof(void*) − 1: 48 on a 32-bit board."""
    k = nl.Kernel(4 << 20, word_size=32)
    p = k.spawn()
    fd = p.open("/tmp/f", O_CREAT | O_RDWR)
    p.ftruncate(fd, PS)
    a = p.mmap(0, PS, PROT_READ, MAP_SHARED, fd, 0)
    line = k.proc_maps().rstrip("\n")
    h = head(a, a + PS, "r--S", 0, f"00:{k.lookup('/tmp/f').sb.dev[1]:02x}", p.fstat(fd).st_ino)
    assert line == padded(h, "/tmp/f", 48)


@pytest.mark.parametrize("prot,flags,perms", [
    (RW, MAP_SHARED, "rw-S"),
    (PROT_READ, MAP_SHARED, "r--S"),
    (PROT_READ, MAP_PRIVATE, "r--p"),  # ≥6.3: p, not s (determine_vm_flags)
    (RX, MAP_PRIVATE, "r-xp"),
    (RW, MAP_PRIVATE, "rw-p"),
])
def test_permission_characters(k, prot, flags, perms):
    """fs/proc/nommu.c / determine_vm_flags: capital S for VM_SHARED; read-only private file maps print p (≥6.3)."""
    p = k.spawn()
    fd = make_shm_file(p, "/tmp/perm", PS)
    p.mmap(0, PS, prot, flags, fd, 0)
    assert k.proc_maps().split()[1] == perms
    assert p.maps().split()[1] == perms


def test_two_processes_share_one_line_usage_2(k):
    """POSIX shm / issue 2: two processes at the same address: one /proc/maps line, usage 2."""
    p, q = k.spawn(), k.spawn()
    fd = make_shm_file(p, "/dev/shm/seg", 2 * PS)
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    b = q.mmap(0, 2 * PS, RW, MAP_SHARED, q.open("/dev/shm/seg", O_RDWR), 0)
    assert a == b
    lines = k.proc_maps().splitlines()
    assert len(lines) == 1 and lines[0].endswith(" /dev/shm/seg")
    assert [r.usage for r in k.regions()] == [2]
    assert p.maps() == q.maps() == lines[0] + "\n"


def test_proc_maps_prints_creator_flags_pid_maps_the_vma(k):
    """struct vm_region: /proc/maps prints the region (creator's) flags; /proc/PID/maps the VMA's."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/notes.txt"), 0)
    b = q.mmap(0, PS, RX, MAP_PRIVATE, q.open("/mnt/disk/notes.txt"), 0)
    assert a == b
    assert k.proc_maps().split()[1] == "r--p"
    assert q.maps().split()[1] == "r-xp"
    assert p.maps().split()[1] == "r--p"


def test_anonymous_offset_printed_in_proc_maps_only(k):
    """fs/proc/nommu.c / fs/proc/task_nommu.c: the region's pgoff is printed in /proc/maps; anon VMAs print 0."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON, -1, 5 * PS)
    assert k.proc_maps() == head(a, a + PS, "rw-p", 5 * PS, "00:00", 0) + "\n"
    assert p.maps() == head(a, a + PS, "rw-p", 0, "00:00", 0) + "\n"


def test_lines_in_address_order(k):
    """fs/proc/nommu.c: one line per region in ascending vm_start; fs/proc/task_nommu.c: VMAs in address order."""
    p = k.spawn()
    addrs = [p.mmap(0, n * PS, RW, ANON) for n in (4, 1, 2)]
    addrs.append(p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/etc/motd"), 0))
    starts = [int(x[:8], 16) for x in k.proc_maps().splitlines()]
    assert starts == sorted(addrs)
    assert [int(x[:8], 16) for x in p.maps().splitlines()] == sorted(addrs)


def test_stack_tag_for_exec_stack(k):
    """fs/proc/task_nommu.c: an anonymous VMA containing start_stack gets the padded [stack] tag."""
    p = k.spawn()
    p.execve("/rom/bin/hello-fdpic")
    lines = p.maps().splitlines()
    tagged = [x for x in lines if x.endswith("[stack]")]
    assert len(tagged) == 1
    line = tagged[0]
    h = line[:72].rstrip(" ") + " "
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{8} rw-p 00000000 00:00 0 ", h)
    assert line == padded(h, "[stack]")
    assert "[stack]" not in k.proc_maps()  # /proc/maps has no tags
    assert "[heap]" not in p.maps()


def test_proc_files_are_readable_through_the_vfs(k):
    """/proc/maps and /proc/meminfo can be read with open/read and agree with the API."""
    p = k.spawn()
    p.mmap(0, 3 * PS, RW, ANON)
    fd = p.open("/proc/maps")
    assert p.read(fd, 1 << 16).decode() == k.proc_maps()
    m = p.read(p.open("/proc/meminfo"), 4096).decode()
    fields = {x.split(":")[0]: int(x.split()[1]) for x in m.splitlines()}
    assert fields["MmapCopy"] == k.meminfo()["MmapCopy"] == 12
    assert fields["MemFree"] == k.meminfo()["MemFree"]


def test_proc_maps_cannot_be_mapped(k):
    """Seen on Linux 6.12: no mmap method means ENODEV even with a read method (/proc/self/maps)."""
    p = k.spawn()
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/proc/maps"), 0, errno=ENODEV)


def test_exited_process_has_no_maps(k):
    """/proc/PID goes with the process."""
    p = k.spawn()
    p.exit(0)
    with pytest.raises(nl.KernelError) as ei:
        p.maps()
    assert ei.value.errno == ESRCH


def test_vfork_child_maps_are_the_parents(k):
    """kernel/fork.c: a vfork child shares the mm, so its maps are the parent's."""
    p = k.spawn()
    p.mmap(0, PS, RW, ANON)
    c = p.vfork()
    c.mmap(0, 2 * PS, RW, ANON)
    assert c.maps() == p.maps() and len(p.maps().splitlines()) == 2


def test_meminfo_mmapcopy_counts_copy_pages_only(k):
    """the page allocator: MmapCopy = pages kept by copies (slack included); direct mappings cost nothing."""
    p = k.spawn()
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/data/pattern.bin"), 0)  # XIP
    p.mmap(0, 8 * PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0)
    assert k.meminfo()["MmapCopy"] == 0
    p.mmap(0, 3 * PS, RW, ANON)
    assert k.meminfo()["MmapCopy"] == 12


def test_proc_buddyinfo_format_and_counts():
    """``frag_show_print`` (mm/vmstat.c): "Node 0, zone" + %8s zone + "%6lu " per order."""
    k = board()
    text = k.proc_buddyinfo()
    assert text == ("Node 0, zone    DMA32      0      0      0      1      1      1      1      1"
                    "      0      1      1 \n")
    assert len(k.buddyinfo()) == k.mem.max_order + 1 == 11
    p = k.spawn()
    fd = p.open("/proc/buddyinfo", O_RDONLY)
    assert p.read(fd, 4096) == text.encode()
    # the blocks add up to MemFree, and the largest is what one mapping can get
    p.mmap(0, 3 * PS, RW, ANON)
    counts = k.buddyinfo()
    assert sum(n << o for o, n in enumerate(counts)) * 4 == k.meminfo()["MemFree"]
    assert k.largest_free_block() == PS << max(o for o, n in enumerate(counts) if n)
    assert k.proc_buddyinfo().split()[4:] == [str(n) for n in counts]


def test_largest_free_block_is_zero_when_ram_is_full():
    k = nl.Kernel(1 << 20, kernel_size=0)
    p = k.spawn()
    p.mmap(0, 1 << 20, RW, ANON)
    assert k.buddyinfo() == [0] * 11 and k.largest_free_block() == 0


# --- issue 10 C: short, useful reprs ------------------------------------------------------
def test_repr_of_kernel_process_and_region():
    """print(k), print(p) and a region say what a learner needs: board, RAM, free memory,
    processes and regions; pid, name, state and VMA count; range, perms, kind, users, path."""
    import nommu_lab as nl
    from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE

    k = nl.boards.default()
    p = k.spawn("app")
    a = p.mmap(0, 3 * 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    free = k.meminfo()["MemFree"]
    assert repr(k) == (f"<Kernel 'default' board, no MMU, riscv64: 8 MiB RAM at 0x80000000, "
                       f"{free} kB free, 1 process, 1 region>")
    assert repr(p) == "<Process 1 'app' running, 1 VMA>"
    assert repr(k.regions()[0]) == f"<region {a:#x}-{a + 3 * 4096:#x} rw-p copy usage=1 anonymous>"
    assert str(k.regions()[0]) == repr(k.region_tree.get(a)).replace("VmRegion", "region")
    c = p.vfork()
    assert repr(p) == f"<Process 1 'app' waiting for vfork child {c.pid}, 1 VMA>"
    c.exit(3)
    assert repr(c) == f"<Process {c.pid} 'app' exited (3)>"
    m = nl.boards.default(mmu=True)
    m.spawn("x").mmap(0, 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    assert repr(m).startswith("<MmuKernel 'default' board, MMU, riscv64: 8 MiB RAM")
    assert repr(m).endswith("1 process, 1 VMA (no regions with an MMU)>")
    assert repr(nl.Kernel(ram_size=4 << 20)).startswith("<Kernel 'bare' board, no MMU, riscv64: 4 MiB")
