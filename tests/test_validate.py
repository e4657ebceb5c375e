"""validate_mmap_request: every check, in the kernel's order, with its errno.

mm/nommu.c: the syscall entry (ksys_mmap_pgoff), then validate_mmap_request's
steps. Each refusal is
also proved to change nothing (``state_digest``). Order is proved by giving
a request that violates two checks and expecting the earlier one's rule.
"""

from __future__ import annotations

from errno import *

import pytest
from _nommu import ANON, PS, RW, RX, refused

from nommu_lab.constants import *
from nommu_lab.kernel.devices import SimpleDriver

V = "validate_mmap_request."


@pytest.fixture
def p(k):
    return k.spawn("v")


# --- ksys_mmap_pgoff syscall entry ------------------------------------------------------
def test_unaligned_byte_offset_is_einval_before_fd_lookup(k, p):
    """ksys_mmap_pgoff (seen on Linux 6.12): a file offset not page aligned gives EINVAL (checked before EBADF)."""
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, 99, 100, errno=EINVAL,
            rule="sys_mmap.unaligned_offset")


def test_bad_fd_is_ebadf_before_map_fixed(k, p):
    """ksys_mmap_pgoff: the fd is looked up in ksys_mmap_pgoff, before validate_mmap_request."""
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE | MAP_FIXED, 99, 0, errno=EBADF)


def test_closed_fd_is_ebadf(k, p):
    """ksys_mmap_pgoff: a closed fd is no fd."""
    fd = p.open("/rom/etc/motd")
    p.close(fd)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=EBADF)


def test_anonymous_ignores_the_fd(k, p):
    """ksys_mmap_pgoff: with MAP_ANONYMOUS the fd is ignored (even a bad one)."""
    a = p.mmap(0, PS, RW, ANON, 1234, 0)
    assert p.vmas()[0].path is None and p.vmas()[0].start == a


# --- validate_mmap_request steps 1-5 ----------------------------------------------------------
def test_step1_map_fixed_first(k, p):
    """validate_mmap_request: MAP_FIXED → EINVAL, before the type, length or anything else."""
    refused(k, p.mmap, 0x8020_0000, 0, RW, MAP_FIXED | MAP_ANONYMOUS, -1, errno=EINVAL,
            rule=V + "map_fixed")
    refused(k, p.mmap, 0x8020_0000, PS, RW, ANON | MAP_FIXED, errno=EINVAL, rule=V + "map_fixed")


def test_map_fixed_noreplace_is_just_a_hint(k, p):
    """validate_mmap_request (seen on Linux 6.12): MAP_FIXED_NOREPLACE is a different bit and is ignored."""
    a = p.mmap(0x8070_0000, PS, RW, ANON | MAP_FIXED_NOREPLACE)
    b = k.spawn().mmap(0, PS, RW, ANON)
    assert a != 0x8070_0000 or b != a  # the hint is not honoured as such
    assert a % PS == 0


@pytest.mark.parametrize("mtype", [0, MAP_SHARED_VALIDATE, MAP_DROPPABLE, 0x4, 0xF])
def test_step2_map_type(k, p, mtype):
    """validate_mmap_request: flags & MAP_TYPE must be MAP_PRIVATE or MAP_SHARED (checked before len 0)."""
    refused(k, p.mmap, 0, 0, RW, MAP_ANONYMOUS | mtype, errno=EINVAL, rule=V + "map_type")


def test_unknown_flag_bits_are_ignored(k, p):
    """validate_mmap_request: other unknown flag bits are ignored."""
    a = p.mmap(0, PS, RW, ANON | 0x80000000 | MAP_POPULATE | MAP_NORESERVE)
    assert a % PS == 0


def test_step3_zero_length(k, p):
    """validate_mmap_request: len 0 → EINVAL (before the overflow check)."""
    refused(k, p.mmap, 0, 0, RW, ANON, -1, -PS, errno=EINVAL, rule=V + "zero_length")


@pytest.mark.parametrize("length", [-1, (1 << 64) - PS + 1, 0xFFFF_FFFF + 1 + PS, 1 << 40])
def test_step4_length_too_big(k, p, length):
    """validate_mmap_request: PAGE_ALIGN(len) wraps to 0 or exceeds TASK_SIZE → ENOMEM."""
    refused(k, p.mmap, 0, length, RW, ANON, errno=ENOMEM, rule=V + "length_too_big")


def test_step5_pgoff_overflow(k, p):
    """validate_mmap_request: pgoff + pages wraps → EOVERFLOW (a negative byte offset gives a huge pgoff)."""
    refused(k, p.mmap, 0, 2 * PS, RW, ANON, -1, -PS, errno=EOVERFLOW, rule=V + "pgoff_overflow")
    fd = p.open("/mnt/disk/notes.txt")
    refused(k, p.mmap, 0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, -PS, errno=EOVERFLOW,
            rule=V + "pgoff_overflow")


# --- validate_mmap_request step 6: files --------------------------------------------------------
@pytest.mark.parametrize("what", ["pipe", "tty", "null", "dir", "proc"])
def test_step6_1_no_mmap_method_is_enodev(k, p, what):
    """validate_mmap_request (seen on Linux 6.12): no mmap method → ENODEV (pipes, ttys, /dev/null, dirs, /proc/maps)."""
    if what == "pipe":
        fd = p.pipe()[0]
    else:
        fd = p.open({"tty": "/dev/ttyS0", "null": "/dev/null", "dir": "/tmp",
                     "proc": "/proc/maps"}[what], O_RDONLY)
    for flags in (MAP_PRIVATE, MAP_SHARED):
        refused(k, p.mmap, 0, PS, PROT_READ, flags, fd, 0, errno=ENODEV,
                rule=V + "no_mmap_method")


def test_no_mmap_method_checked_before_open_mode(k, p):
    """validate_mmap_request, which runs before the driver: a write-only pipe end is ENODEV, not EACCES."""
    w = p.pipe()[1]
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, w, 0, errno=ENODEV,
            rule=V + "no_mmap_method")


def test_step6_2_socket_has_no_default_capabilities(k, p):
    """validate_mmap_request / further note 7: a socket has an mmap method but no default → EINVAL."""
    s = p.socket()
    for flags in (MAP_PRIVATE, MAP_SHARED):
        refused(k, p.mmap, 0, PS, PROT_READ, flags, s, 0, errno=EINVAL,
                rule=V + "no_default_capabilities")


def test_step6_4_not_open_for_read_is_eacces_for_every_type(k, p):
    """validate_mmap_request (seen on Linux 6.12): any mapping of an O_WRONLY fd gives EACCES."""
    fd = p.open("/tmp/w", O_CREAT | O_WRONLY)
    p.ftruncate(fd, PS)
    for prot, flags in ((PROT_READ, MAP_PRIVATE), (PROT_WRITE, MAP_SHARED), (RW, MAP_SHARED),
                        (RW, MAP_PRIVATE)):
        refused(k, p.mmap, 0, PS, prot, flags, fd, 0, errno=EACCES,
                rule=V + "not_open_for_read")


def test_step6_4_precedes_shared_needs_direct(k, p):
    """validate_mmap_request, which runs before the driver: an ext2 file opened O_WRONLY is EACCES, not ENODEV."""
    fd = p.open("/mnt/disk/notes.txt", O_WRONLY)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 0, errno=EACCES,
            rule=V + "not_open_for_read")


def test_step6_5_shared_write_needs_fmode_write(k, p):
    """validate_mmap_request (seen on Linux 6.12): MAP_SHARED PROT_WRITE on an O_RDONLY fd → EACCES."""
    w = p.open("/tmp/s", O_CREAT | O_RDWR)
    p.ftruncate(w, PS)
    fd = p.open("/tmp/s", O_RDONLY)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, 0, errno=EACCES,
            rule=V + "shared_write_needs_fmode_write")
    # also before the "no DIRECT" check (ext2)
    d = p.open("/mnt/disk/notes.txt", O_RDONLY)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, d, 0, errno=EACCES,
            rule=V + "shared_write_needs_fmode_write")
    # read-only shared on the O_RDONLY fd is fine
    assert p.mmap(0, PS, PROT_READ, MAP_SHARED, fd, 0) % PS == 0


def test_step6_5_append_only(k, p):
    """validate_mmap_request: append-only inode open for writing → EACCES for MAP_SHARED."""
    fd = p.open("/tmp/app", O_CREAT | O_RDWR)
    p.ftruncate(fd, PS)
    k.lookup("/tmp/app").append_only = True
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 0, errno=EACCES, rule=V + "append_only")
    ro = p.open("/tmp/app", O_RDONLY)
    assert p.mmap(0, PS, PROT_READ, MAP_SHARED, ro, 0) % PS == 0  # not open for writing: fine


@pytest.mark.parametrize("path,mode", [("/mnt/disk/notes.txt", O_RDONLY), ("/dev/ram0", O_RDWR),
                                       ("/dev/zero", O_RDWR)])
def test_step6_5_shared_needs_direct(k, p, path, mode):
    """validate_mmap_request / case 5: no DIRECT capability → MAP_SHARED is ENODEV."""
    fd = p.open(path, mode)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 0, errno=ENODEV,
            rule=V + "shared_needs_direct")


def test_step6_5_private_needs_copy_even_if_direct_possible(k, p):
    """validate_mmap_request: MAP_PRIVATE without COPY → ENODEV, even though fb0 could map directly."""
    fd = p.open("/dev/fb0", O_RDWR)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=ENODEV,
            rule=V + "private_needs_copy")
    assert p.mmap(0, PS, PROT_READ, MAP_SHARED, fd, 0) == k.fb.screen_base


def test_step6_3_cannot_read_drops_copy(k, p):
    """validate_mmap_request: FMODE_CAN_READ clear removes COPY → a private map is ENODEV."""
    drv = k.register_driver("/dev/noread", SimpleDriver(
        capabilities=NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_READ, readable=False,
        unmapped_area="address"))
    assert drv is not None
    fd = p.open("/dev/noread", O_RDONLY)
    e = refused(k, p.mmap, 0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0, errno=ENODEV,
                rule=V + "private_needs_copy")
    # issue 12: the driver did advertise COPY; the sentence says why it was dropped
    assert "cannot be read" in e.sentence and "read method" in e.sentence
    assert "must advertise" not in e.sentence


def test_step6_3_no_get_unmapped_area_drops_direct(k, p):
    """validate_mmap_request: no get_unmapped_area method → no DIRECT → MAP_SHARED ENODEV."""
    k.register_driver("/dev/nogua", SimpleDriver(
        capabilities=NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_READ, unmapped_area=None))
    fd = p.open("/dev/nogua", O_RDONLY)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 0, errno=ENODEV,
            rule=V + "shared_needs_direct")


def test_step6_6_shared_prot_not_in_capabilities_is_einval(k, p):
    """validate_mmap_request: MAP_SHARED with a PROT bit the device lacks → EINVAL (fb0 has no EXEC)."""
    fd = p.open("/dev/fb0", O_RDWR)
    refused(k, p.mmap, 0, PS, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0, errno=EINVAL,
            rule=V + "shared_prot_unsupported")


def test_step6_6_private_prot_not_in_capabilities_makes_a_copy(k, p):
    """validate_mmap_request / 6.7: a private R|X map of a device without EXEC drops DIRECT → copy."""
    drv = k.register_driver("/dev/noexec", SimpleDriver(
        capabilities=NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_READ,
        unmapped_area="address", mmap_result=0))
    fd = p.open("/dev/noexec", O_RDONLY)
    direct = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert direct == drv.base
    q = k.spawn()
    fq = q.open("/dev/noexec", O_RDONLY)
    before = k.meminfo()["MmapCopy"]
    # an inexact-free exact match would share the direct region; use another offset
    copy = q.mmap(0, PS, RX, MAP_PRIVATE, fq, PS)
    assert copy != drv.base + PS
    assert k.meminfo()["MmapCopy"] == before + 4


def test_step6_7_noexec_mount_refuses_prot_exec(k, p):
    """validate_mmap_request: mount noexec and PROT_EXEC → EPERM."""
    k.mkdir("/mnt/nx")
    k.mount_ramfs("/mnt/nx", noexec=True)
    fd = p.open("/mnt/nx/f", O_CREAT | O_RDWR)
    p.write(fd, b"code")
    refused(k, p.mmap, 0, PS, RX, MAP_PRIVATE, fd, 0, errno=EPERM, rule=V + "noexec_mount")
    assert p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)


def test_step6_7_read_implies_exec_has_no_effect(k, p):
    """validate_mmap_request: READ_IMPLIES_EXEC changes a local copy of prot only: no VM_EXEC."""
    p.personality = READ_IMPLIES_EXEC
    fd = p.open("/rom/etc/motd")
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    b = p.mmap(0, PS, PROT_READ, ANON)
    flags = {v.start: v.flags for v in p.vmas()}
    assert not flags[a] & VM_EXEC and not flags[b] & VM_EXEC
    assert p.maps().splitlines()[0].split()[1] == "r--p"


def test_step8_address_hint_ignored(k, p):
    """do_mmap / further note 6 (DOC≠CODE): a hint is ignored, not an error."""
    a = p.mmap(0x9000_0000, PS, RW, ANON)
    assert a != 0x9000_0000 and k.mem.contains(a, PS)
    assert any(e.rule == "do_mmap.hint_ignored" for e in k.trace)


# --- issue 10 B1: no hugetlb check without an MMU --------------------------------------
def _maps_without_ids(k):
    return [(r.end - r.start, r.top - r.start, r.flags, r.pgoff, r.path, r.copy) for r in k.regions()]


@pytest.mark.parametrize("huge_bits", [0, 21 << 26, 30 << 26])  # MAP_HUGE_2MB, MAP_HUGE_1GB
def test_ksys_mmap_pgoff_nommu_has_no_hugetlb_check_anonymous(huge_bits):
    """mm/nommu.c ksys_mmap_pgoff only looks the fd up: MAP_HUGETLB (with any size bits) on
    an anonymous private request is an ordinary mapping, as Linux 6.12 maps it."""
    from _nommu import board

    plain, huge = board(), board()
    a = plain.spawn().mmap(0, 3 * PS, RW, ANON)
    b = huge.spawn().mmap(0, 3 * PS, RW, ANON | MAP_HUGETLB | huge_bits)
    assert a == b and _maps_without_ids(plain) == _maps_without_ids(huge)
    assert plain.proc_maps() == huge.proc_maps() and plain.meminfo() == huge.meminfo()


def test_ksys_mmap_pgoff_nommu_has_no_hugetlb_check_file_copy(k, p):
    """The same for a private file copy: MAP_HUGETLB on a disk file maps it as a copy."""
    fd = p.open("/mnt/disk/pattern.bin")
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, fd, 0)
    assert k.regions()[0].copy and p.peek(a, 4) == p.pread(fd, 4, 0)


def test_ksys_mmap_pgoff_mmu_keeps_its_hugetlb_checks():
    """mm/mmap.c ksys_mmap_pgoff (the MMU kernel): MAP_HUGETLB needs a hugetlbfs file (EINVAL
    for any other file); anonymous huge pages need hugetlbfs, which the board lacks."""
    from _nommu import board

    k = board(mmu=True)
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin")
    refused(k, p.mmap, 0, PS, RW, ANON | MAP_HUGETLB, errno=ENOSYS,
            rule="ksys_mmap_pgoff.no_hugetlbfs")
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, fd, 0, errno=EINVAL,
            rule="ksys_mmap_pgoff.hugetlb_file")


# --- issue 10 B2: a register holds either spelling of an offset -----------------------
def test_sys_mmap_offset_unsigned_spelling_is_eoverflow(k, p):
    """sys_mmap takes off_t: 0xfffffffffffff000 in the register is -4096, so pgoff is
    ULONG_MAX and validate_mmap_request says EOVERFLOW, as for -4096 (Linux 6.12 agrees)."""
    for off in (-PS, (1 << 64) - PS):
        refused(k, p.mmap, 0, PS, RW, ANON, -1, off, errno=EOVERFLOW, rule=V + "pgoff_overflow")
    fd = p.open("/mnt/disk/pattern.bin")
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, (1 << 64) - PS, errno=EOVERFLOW)


@pytest.mark.parametrize("off", [1 << 63, -(1 << 63)])
def test_sys_mmap_offset_1_shl_63_anonymous_succeeds(k, p, off):
    """offset 1 << 63 is off_t -2**63: pgoff 0xfff8000000000000 does not overflow with one
    page, so the anonymous mapping succeeds; /proc/maps prints the offset the region keeps,
    (pgoff << PAGE_SHIFT) as 64 bits: 8000000000000000 (recorded on Linux 6.12)."""
    a = p.mmap(0, PS, RW, ANON, -1, off)
    r = k.regions()[0]
    assert r.start == a and r.pgoff == 0xFFF8_0000_0000_0000
    assert k.proc_maps().split()[2] == "8000000000000000"
    assert p.maps().split()[2] == "00000000"  # nommu_vma_show: offsets only for files
