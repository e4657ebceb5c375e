"""Shared memory: SysV (shmget/shmat) and POSIX (shm_open) (ipc/shm.c,
mm/shmem.c, fs/ramfs/file-nommu.c).

SysV: shmget gathers the segment's pages at once; shmat(NULL) is ENODEV on
Linux ≥ 4.0 no-MMU because the attach file declares no capabilities and has
no read method (DOC≠CODE: the document says SysV SHM works; 6.12 agrees with
the code); shmat(addr) is MAP_FIXED → EINVAL. POSIX shm works at one address
for every process.
"""

from __future__ import annotations

from errno import *

from _nommu import PS, RW, refused

from nommu_lab.constants import *


def test_shmget_gathers_pages_at_once(k, p):
    """ipc/shm.c: the whole segment is allocated contiguously at shmget time."""
    free = k.meminfo()["MemFree"]
    sid = p.shmget(IPC_PRIVATE, 3 * PS, IPC_CREAT | 0o600)
    assert free - k.meminfo()["MemFree"] == 12
    assert k.meminfo()["Cached"] == 12 and k.meminfo()["MmapCopy"] == 0
    assert isinstance(sid, int)
    k.check()


def test_shmat_null_is_enodev(k, p):
    """ipc/shm.c (seen on Linux 6.12) / kernel bug 3: shmat(NULL) → ENODEV (no capabilities → default COPY,
    dropped for lack of a read method → MAP_SHARED refused)."""
    sid = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
    e = refused(k, p.shmat, sid, 0, 0, errno=ENODEV, rule="do_shmat.no_capabilities")
    assert "POSIX" in e.sentence
    refused(k, p.shmat, sid, 0, SHM_RDONLY, errno=ENODEV)


def test_shmat_with_address_is_einval(k, p):
    """ipc/shm.c: shmat(addr != NULL) always becomes MAP_FIXED → EINVAL."""
    sid = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
    e = refused(k, p.shmat, sid, 0x8040_0000, 0, errno=EINVAL, rule="validate_mmap_request.map_fixed")
    # the caller passed an address, not MAP_FIXED: the advice is about the address
    assert "pass 0 as the address" in e.sentence and "drop MAP_FIXED" not in e.sentence
    refused(k, p.shmat, sid, 0x8040_0123, 0, errno=EINVAL)  # unaligned without SHM_RND


def test_shmat_remap_without_address_is_einval(k, p):
    """ipc/shm.c do_shmat: SHM_REMAP needs an address → EINVAL."""
    sid = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
    refused(k, p.shmat, sid, 0, SHM_REMAP, errno=EINVAL)


def test_shmat_bad_id(k, p):
    """shm_obtain_object_check: an unknown id → EINVAL."""
    refused(k, p.shmat, 12345, 0, 0, errno=EINVAL)
    refused(k, p.shmat, -1, 0, 0, errno=EINVAL)


def test_shmget_keys(k, p):
    """ipcget_public: same key → same id; IPC_EXCL → EEXIST; no IPC_CREAT → ENOENT;
    asking for more than the segment → EINVAL."""
    sid = p.shmget(42, 2 * PS, IPC_CREAT | 0o600)
    assert p.shmget(42, PS, 0) == sid
    refused(k, p.shmget, 42, PS, IPC_CREAT | IPC_EXCL | 0o600, errno=EEXIST)
    refused(k, p.shmget, 43, PS, 0, errno=ENOENT)
    refused(k, p.shmget, 42, 3 * PS, 0, errno=EINVAL)


def test_shmget_size_limits(k, p):
    """newseg: size 0 → EINVAL; a size above the largest buddy block → EFBIG
    (ramfs_nommu_expand_for_mapping); no contiguous block → ENOMEM."""
    refused(k, p.shmget, IPC_PRIVATE, 0, IPC_CREAT, errno=EINVAL)
    refused(k, p.shmget, IPC_PRIVATE, 5 << 20, IPC_CREAT, errno=EFBIG)
    p.shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT)
    refused(k, p.shmget, IPC_PRIVATE, 4 << 20, IPC_CREAT, errno=ENOMEM)


def test_shmctl_rmid_frees_the_pages(k, p):
    """IPC_RMID: with nobody attached the segment's pages go back."""
    free = k.meminfo()["MemFree"]
    sid = p.shmget(IPC_PRIVATE, 2 * PS, IPC_CREAT | 0o600)
    p.shmctl(sid, IPC_RMID)
    assert k.meminfo()["MemFree"] == free
    refused(k, p.shmat, sid, 0, 0, errno=EINVAL)
    k.check()


def test_shmdt_not_attached(k, p):
    """ksys_shmdt: nothing attached at addr → EINVAL."""
    refused(k, p.shmdt, 0x8040_0000, errno=EINVAL)


# --- POSIX shm --------------------------------------------------------------
def test_posix_shm_same_address_usage_n(k):
    """POSIX shm: shm_open + ftruncate from 0 + MAP_SHARED: same address for every process,
    one S line in /proc/maps with usage = number of mappings."""
    procs = [k.spawn() for _ in range(4)]
    fd = procs[0].shm_open("/seg", O_CREAT | O_RDWR, 0o600)
    procs[0].ftruncate(fd, 2 * PS)
    addrs = []
    for q in procs:
        f = q.shm_open("/seg", O_RDWR)
        addrs.append(q.mmap(0, 2 * PS, RW, MAP_SHARED, f, 0))
    assert len(set(addrs)) == 1
    assert [r.usage for r in k.regions()] == [4]
    line = k.proc_maps().splitlines()
    assert len(line) == 1 and line[0].split()[1] == "rw-S" and line[0].endswith(" /dev/shm/seg")
    procs[1].poke(addrs[0], b"ping")
    assert procs[3].peek(addrs[0], 4) == b"ping"
    k.check()


def test_posix_shm_unmapping_never_frees_pages_unlink_does(k, p):
    """POSIX shm: unmapping never frees the pages; they go when the file is removed."""
    free = k.meminfo()["MemFree"]
    fd = p.shm_open("/x", O_CREAT | O_RDWR)
    p.ftruncate(fd, PS)
    a = p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    p.munmap(a, PS)
    assert free - k.meminfo()["MemFree"] == 4
    p.shm_unlink("/x")
    p.close(fd)
    assert k.meminfo()["MemFree"] == free


def test_posix_shm_names(k, p):
    """shm_open: a name is one '/' followed by a name without '/'."""
    refused(k, p.shm_open, "noslash", O_CREAT | O_RDWR, errno=EINVAL)
    refused(k, p.shm_open, "/a/b", O_CREAT | O_RDWR, errno=EINVAL)
    refused(k, p.shm_open, "/missing", O_RDWR, errno=ENOENT)


def test_posix_shm_mremap_eperm(k, p):
    """ipc/shm.c / do_mremap: shared mappings cannot be resized (EPERM)."""
    fd = p.shm_open("/r", O_CREAT | O_RDWR)
    p.ftruncate(fd, 2 * PS)
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    refused(k, p.mremap, a, 2 * PS, PS, errno=EPERM)


# --- issue 10 A8: the MMU kernel's shmdt ---------------------------------------------
def _mmu():
    from _nommu import board

    k = board(mmu=True)
    return k, k.spawn("p")


def test_ksys_shmdt_detaches_only_shm_vmas_on_mmu():
    """ipc/shm.c ksys_shmdt: only VMAs whose vm_ops are shm_vm_ops are detached. A file
    mapping whose path merely looks like a segment's (/SYSV...) is not one: EINVAL, and
    nothing changes."""
    k, p = _mmu()
    fd = p.open("/SYSV0000000b", O_CREAT | O_RDWR)
    p.ftruncate(fd, PS)
    a = p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    assert p.maps().splitlines()[0].endswith("/SYSV0000000b")
    refused(k, p.shmdt, a, errno=EINVAL, rule="ksys_shmdt.not_attached")
    assert p.vmas()[0].start == a


def test_ksys_shmdt_detaches_a_fragment_left_by_munmap_on_mmu():
    """ksys_shmdt looks for a shm VMA at or above addr whose offset matches
    (vm_start - addr) / PAGE_SIZE == vm_pgoff, so a segment whose first page was
    unmapped is still detached from its attach address."""
    k, p = _mmu()
    sid = p.shmget(IPC_PRIVATE, 3 * PS, IPC_CREAT | 0o600)
    a = p.shmat(sid, 0, 0)
    seg = k.shm_segments[sid]
    assert seg.nattch == 1
    p.munmap(a, PS)
    assert p.shmdt(a) == 0
    assert p.vmas() == [] and seg.nattch == 0
    k.check()


def test_ksys_shmdt_unaligned_is_einval_on_mmu():
    """ksys_shmdt: an address that is not page aligned is EINVAL before any lookup."""
    k, p = _mmu()
    sid = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
    a = p.shmat(sid, 0, 0)
    refused(k, p.shmdt, a + 8, errno=EINVAL)
