"""Errors are part of the interface (docs/design.md "The public API", issue 2 item 6, issue 7).

A refused syscall raises KernelError (an OSError) with the real errno, a rule
id and a sentence, and changes nothing: not one page, region or refcount.
The parametrized test below runs many refusals against a machine with live
state (mappings of every kind, open files, a vfork pair, SysV and POSIX shm)
and compares ``state_digest()`` before and after each.
"""

from __future__ import annotations

import pickle
from errno import *

import pytest
from _nommu import ANON, PS, RW, RX, board, make_shm_file, make_written_file

import nommu_lab as nl
from nommu_lab.constants import *


def busy_board():
    """A board with some of everything, and handles to poke at it."""
    k = board()
    p, q = k.spawn("p"), k.spawn("q")
    h = {"k": k, "p": p, "q": q}
    h["anon"] = p.mmap(0, 5 * PS, RW, ANON)
    h["anon2"] = p.mmap(0, 2 * PS, RW, ANON)
    h["shmfd"] = make_shm_file(p, "/dev/shm/s", 2 * PS)
    h["shm"] = p.mmap(0, 2 * PS, RW, MAP_SHARED, h["shmfd"], 0)
    h["qshm"] = q.mmap(0, 2 * PS, RW, MAP_SHARED, q.open("/dev/shm/s", O_RDWR), 0)
    h["wfd"] = make_written_file(p, "/tmp/w", b"w" * (3 * PS))
    h["diskfd"] = p.open("/mnt/disk/pattern.bin")
    h["disk"] = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, h["diskfd"], 0)
    h["romfd"] = p.open("/rom/etc/motd")
    h["xip"] = p.mmap(0, 21, PROT_READ, MAP_PRIVATE, h["romfd"], 0)
    h["fbfd"] = p.open("/dev/fb0", O_RDWR)
    h["fb"] = p.mmap(0, PS, RW, MAP_SHARED, h["fbfd"], 0)
    h["ttyfd"] = p.open("/dev/ttyS0", O_RDWR)
    h["pipe_r"], h["pipe_w"] = p.pipe()
    h["sock"] = p.socket()
    h["wofd"] = p.open("/tmp/wo", O_CREAT | O_WRONLY)
    junk = p.open("/tmp/junk", O_CREAT | O_RDWR, 0o755)
    p.write(junk, b"not a program\n" * 8)
    p.close(junk)
    h["sid"] = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
    h["closed"] = p.open("/rom/etc/motd")
    p.close(h["closed"])
    r = k.spawn("r")
    r.execve("/rom/bin/hello")
    h["r"] = r
    h["d"] = k.spawn("debugger")
    h["d"].ptrace_attach(r.pid)
    v = k.spawn("vparent")
    h["vchild"] = v.vfork()
    h["vparent"] = v
    h["dead"] = k.spawn("dead")
    h["dead"].exit(0)
    k.check()
    return h


CASES = [
    # (id, errno, call(h))
    ("map_fixed", EINVAL, lambda h: h["p"].mmap(0x8040_0000, PS, RW, ANON | MAP_FIXED)),
    ("map_type_0", EINVAL, lambda h: h["p"].mmap(0, PS, RW, MAP_ANONYMOUS)),
    ("map_shared_validate", EINVAL, lambda h: h["p"].mmap(0, PS, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS)),
    ("len0", EINVAL, lambda h: h["p"].mmap(0, 0, RW, ANON)),
    ("len_huge", ENOMEM, lambda h: h["p"].mmap(0, -1, RW, ANON)),
    ("len_gt_block", ENOMEM, lambda h: h["p"].mmap(0, 5 << 20, RW, ANON)),
    ("pgoff_overflow", EOVERFLOW, lambda h: h["p"].mmap(0, 2 * PS, RW, ANON, -1, -PS)),
    ("unaligned_off", EINVAL, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["diskfd"], 7)),
    ("bad_fd", EBADF, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, 77, 0)),
    ("closed_fd", EBADF, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["closed"], 0)),
    ("tty", ENODEV, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_SHARED, h["ttyfd"], 0)),
    ("pipe", ENODEV, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["pipe_r"], 0)),
    ("socket", EINVAL, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["sock"], 0)),
    ("wronly", EACCES, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["wofd"], 0)),
    ("shared_ro_fd_write", EACCES, lambda h: h["p"].mmap(0, PS, RW, MAP_SHARED, h["diskfd"], 0)),
    ("disk_shared", ENODEV, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_SHARED, h["diskfd"], 0)),
    ("fb_private", ENODEV, lambda h: h["p"].mmap(0, PS, PROT_READ, MAP_PRIVATE, h["fbfd"], 0)),
    ("fb_exec", EINVAL, lambda h: h["p"].mmap(0, PS, RX, MAP_SHARED, h["fbfd"], 0)),
    ("fb_too_long", EINVAL, lambda h: h["p"].mmap(0, 16 * PS, RW, MAP_SHARED, h["fbfd"], 0)),
    ("fb_duplicate_start_bug", None, lambda h: h["p"].mmap(0, 2 * PS, RW, MAP_SHARED, h["fbfd"], 0)),
    ("ramfs_not_contiguous", ENODEV, lambda h: h["p"].mmap(0, 3 * PS, RW, MAP_SHARED, h["wfd"], 0)),
    ("ramfs_past_eof", ENODEV, lambda h: h["p"].mmap(0, 3 * PS, RW, MAP_SHARED, h["shmfd"], 0)),
    ("sharing_violation", EINVAL, lambda h: h["p"].mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, h["diskfd"], PS)),
    ("romfs_past_eof", EINVAL, lambda h: h["p"].mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, h["romfd"], 0)),
    ("mmap_enomem_no_block", ENOMEM, lambda h: h["p"].mmap(0, 1024 * PS, RW, ANON)),
    ("munmap_len0", EINVAL, lambda h: h["p"].munmap(h["anon"], 0)),
    ("munmap_hole", EINVAL, lambda h: h["p"].munmap(0x8070_0000, PS)),
    ("munmap_file_partial", EINVAL, lambda h: h["p"].munmap(h["disk"] + PS, PS)),
    ("munmap_unaligned", EINVAL, lambda h: h["p"].munmap(h["anon"] + 5, PS)),
    ("munmap_spans", EINVAL, lambda h: h["p"].munmap(h["anon"], 16 * PS)),
    ("munmap_foreign", EINVAL, lambda h: h["q"].munmap(h["anon"], 5 * PS)),
    ("mremap_zero", EINVAL, lambda h: h["p"].mremap(h["anon"], 0, PS)),
    ("mremap_unaligned", EINVAL, lambda h: h["p"].mremap(h["anon"] + 1, PS, PS)),
    ("mremap_fixed", EINVAL, lambda h: h["p"].mremap(h["anon"], 5 * PS, PS, MREMAP_FIXED, 0)),
    ("mremap_inexact", EINVAL, lambda h: h["p"].mremap(h["anon"], 4 * PS, PS)),
    ("mremap_grow", ENOMEM, lambda h: h["p"].mremap(h["anon"], 5 * PS, 6 * PS, MREMAP_MAYMOVE)),
    ("mremap_shared", EPERM, lambda h: h["p"].mremap(h["shm"], 2 * PS, PS)),
    ("mremap_ro_file", EPERM, lambda h: h["p"].mremap(h["disk"], 2 * PS, PS)),
    ("mprotect", ENOSYS, lambda h: h["p"].mprotect(h["anon"], PS, PROT_READ)),
    ("msync", ENOSYS, lambda h: h["p"].msync(h["shm"], PS)),
    ("madvise", ENOSYS, lambda h: h["p"].madvise(h["anon"], PS)),
    ("mlock", ENOSYS, lambda h: h["p"].mlock(h["anon"], PS)),
    ("fork", ENOSYS, lambda h: h["p"].fork()),
    ("shrink_under_shared", ETXTBSY, lambda h: h["p"].ftruncate(h["shmfd"], PS)),
    ("otrunc_under_shared", ETXTBSY, lambda h: h["q"].open("/dev/shm/s", O_RDWR | O_TRUNC)),
    ("ftruncate_negative", EINVAL, lambda h: h["p"].ftruncate(h["shmfd"], -1)),
    ("ftruncate_rdonly", EINVAL, lambda h: h["p"].ftruncate(h["diskfd"], 0)),
    ("expand_efbig", EFBIG, lambda h: h["p"].ftruncate(h["wofd"], 5 << 20)),
    ("shmat_null", ENODEV, lambda h: h["p"].shmat(h["sid"], 0, 0)),
    ("shmat_addr", EINVAL, lambda h: h["p"].shmat(h["sid"], 0x8040_0000, 0)),
    ("shmat_bad", EINVAL, lambda h: h["p"].shmat(999999, 0, 0)),
    ("shmget_enoent", ENOENT, lambda h: h["p"].shmget(7, PS, 0)),
    ("shmdt", EINVAL, lambda h: h["p"].shmdt(h["anon"])),
    ("futex_unaligned", EINVAL, lambda h: h["p"].futex(h["anon"] + 1, FUTEX_WAIT, 0)),
    ("futex_eagain", EAGAIN, lambda h: h["p"].futex(h["anon"], FUTEX_WAIT, 1)),
    ("futex_nothing", EFAULT, lambda h: h["p"].futex(0x100, FUTEX_WAIT, 0)),
    ("vfork_parent_suspended", EAGAIN, lambda h: h["vparent"].mmap(0, PS, RW, ANON)),
    ("dead_process", ESRCH, lambda h: h["dead"].mmap(0, PS, RW, ANON)),
    ("open_enoent", ENOENT, lambda h: h["p"].open("/nope")),
    ("open_erofs", EROFS, lambda h: h["p"].open("/rom/etc/motd", O_RDWR)),
    ("open_mtd_rw", EACCES, lambda h: h["p"].open("/dev/mtd0", O_RDWR)),
    ("open_excl", EEXIST, lambda h: h["p"].open("/tmp/w", O_CREAT | O_EXCL | O_RDWR)),
    ("read_wronly", EBADF, lambda h: h["p"].read(h["wofd"], 4)),
    ("write_rdonly", EBADF, lambda h: h["p"].write(h["diskfd"], b"x")),
    ("write_romfs_rdonly", EBADF, lambda h: h["p"].write(h["romfd"], b"x")),
    ("close_bad", EBADF, lambda h: h["p"].close(55)),
    ("pread_pipe", ESPIPE, lambda h: h["p"].pread(h["pipe_r"], 1, 0)),
    ("unlink_enoent", ENOENT, lambda h: h["p"].unlink("/tmp/none")),
    ("unlink_erofs", EROFS, lambda h: h["p"].unlink("/rom/etc/motd")),
    ("execve_enoent", ENOENT, lambda h: h["p"].execve("/bin/none")),
    ("execve_not_exec", EACCES, lambda h: h["p"].execve("/rom/etc/motd")),
    ("execve_bad_format", ENOEXEC, lambda h: h["p"].execve("/tmp/junk")),
    ("execve_dir", EACCES, lambda h: h["p"].execve("/tmp")),
    ("ptrace_no_vma", EIO, lambda h: h["d"].ptrace_peek(h["r"].pid, 0x8070_0000)),
    ("ptrace_rom_poke", EIO, lambda h: h["d"].ptrace_poke(h["r"].pid, h["r"].vmas()[0].start, b"x")),
    ("ptrace_esrch", ESRCH, lambda h: h["q"].ptrace_peek(4242, 0)),
    ("ptrace_not_traced", ESRCH, lambda h: h["q"].ptrace_peek(h["p"].pid, h["anon"])),
    ("sysctl_unknown", ENOENT, lambda h: h["k"].sysctl("vm.overcommit_memory", 1)),
    ("sysctl_negative", EINVAL, lambda h: h["k"].sysctl("vm.nr_trim_pages", -5)),
    ("flash_guard", EBUSY, lambda h: h["k"].mtd_erase(0, guard=True)),
]


@pytest.fixture(scope="module")
def snapshot_blob():
    return busy_board()["k"].snapshot()


@pytest.mark.parametrize("name,err,call", CASES, ids=[c[0] for c in CASES])
def test_refused_call_changes_nothing(name, err, call):
    """A failed call changes nothing (state_digest equal), with the real errno."""
    h = busy_board()
    k = h["k"]
    before = k.state_digest()
    maps_before = k.proc_maps(), k.meminfo()
    with pytest.raises(nl.KernelError) as ei:
        call(h)
    e = ei.value
    assert e.errno == err, f"{name}: {e}"
    assert isinstance(e, OSError) and e.rule and e.sentence
    assert k.state_digest() == before, f"{name} changed the kernel"
    assert (k.proc_maps(), k.meminfo()) == maps_before
    k.check()


def test_kernel_error_shape():
    """errors.py: KernelError(OSError) carries errno, rule, sentence; pickles (snapshots)."""
    k = board()
    p = k.spawn()
    with pytest.raises(OSError) as ei:
        p.mmap(0, PS, RW, ANON | MAP_FIXED)
    e = ei.value
    assert isinstance(e, nl.KernelError)
    assert e.errno == EINVAL and e.errno_name == "EINVAL"
    assert e.rule == "validate_mmap_request.map_fixed"
    assert str(e).startswith("EINVAL [validate_mmap_request.map_fixed]: ")
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.errno, e2.rule, e2.sentence) == (e.errno, e.rule, e.sentence)


def test_refusal_is_recorded_in_the_trace():
    """The trace explains: a refused call is an event with its rule."""
    k = board()
    p = k.spawn()
    with pytest.raises(nl.KernelError):
        p.mmap(0, 0, RW, ANON)
    ev = [e for e in k.trace if e.kind == nl.EventKind.REFUSED]
    assert ev and ev[-1].rule == "validate_mmap_request.zero_length"


@pytest.mark.parametrize("args", [
    ("x", PS, RW, ANON), (0, 1.5, RW, ANON), (0, PS, None, ANON), (0, PS, RW, "ANON"),
    (0, PS, RW, ANON, "fd"), (0, PS, RW, ANON, -1, 0.0),
])
def test_wrong_types_are_type_errors_and_change_nothing(args):
    """process.py ABI: a non-integer argument is a TypeError before the kernel is entered."""
    k = board()
    p = k.spawn()
    d = k.state_digest()
    with pytest.raises(TypeError) as ei:
        p.mmap(*args)
    assert isinstance(ei.value, nl.KernelError)  # "only KernelError escapes" holds too
    assert k.state_digest() == d


@pytest.mark.parametrize("call", [
    lambda p: p.mmap(0, 1 << 64, RW, ANON),
    lambda p: p.mmap(0, PS, RW, ANON, -1, 1 << 64),
    lambda p: p.munmap(-(1 << 63) - 1, PS),
    lambda p: p.close(1 << 40),
])
def test_out_of_register_integers_are_value_errors(call):
    """process.py ABI: an integer no register can hold is a ValueError."""
    k = board()
    p = k.spawn()
    d = k.state_digest()
    with pytest.raises(ValueError):
        call(p)
    assert k.state_digest() == d


def test_negative_values_wrap_like_c():
    """process.py ABI: a negative length is a huge unsigned one (ENOMEM, not ValueError)."""
    k = board()
    p = k.spawn()
    with pytest.raises(nl.KernelError) as ei:
        p.mmap(0, -PS, RW, ANON)
    assert ei.value.errno == ENOMEM


# --- issue 10 A3: a KernelBug travels with the machine ----------------------------------
def _fb_kernel_bug(k: nl.Kernel, p: nl.Process) -> nl.KernelBug:
    """The reproduction of issue 10 A3: /dev/fb0 shared with 1 page, then 2 pages at offset 0."""
    fd = p.open("/dev/fb0", O_RDWR)
    p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    with pytest.raises(nl.KernelBug) as ei:
        p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    return ei.value


def test_kernel_bug_pickles_and_deep_copies_with_its_rule():
    """errors.py KernelBug.__reduce__: (rule, sentence), not KernelError's (errno, rule, sentence)."""
    import copy

    e = nl.KernelBug("add_nommu_region.duplicate_start", "two regions at one start")
    for e2 in (pickle.loads(pickle.dumps(e)), copy.deepcopy(e)):
        assert type(e2) is nl.KernelBug
        assert (e2.errno, e2.rule, e2.sentence) == (None, e.rule, e.sentence)
        assert str(e2) == str(e) == "BUG [add_nommu_region.duplicate_start]: two regions at one start"


def test_add_nommu_region_duplicate_start_then_execve_and_snapshot_still_work():
    """Issue 10 A3: after a KernelBug (kept in the trace), execve's dry run (a deep copy of
    the machine) and snapshot/restore work and give the machine back exactly."""
    k = board()
    p = k.spawn()
    bug = _fb_kernel_bug(k, p)
    assert bug.rule == "add_nommu_region.duplicate_start"
    k2 = nl.Kernel.restore(k.snapshot())
    assert k2.state_digest() == k.state_digest()
    refused_ev = [e for e in k2.trace if e.rule == "add_nommu_region.duplicate_start"]
    assert refused_ev and "BUG [add_nommu_region.duplicate_start]" in refused_ev[-1].text
    assert p.execve("/rom/bin/hello") == 0
    assert p.name == "hello" and p.mm.entry
    k.check()


# --- issue 10 A5: ids are taken after the last check -------------------------------------
ID_REFUSALS = [
    # (id, mmu?, setup(k, p) -> args for the refused call, errno)
    ("do_mmap_private_alloc_failed", False,
     lambda k, p: (p.mmap, 0, 5 << 20, RW, ANON), ENOMEM),
    ("do_mmap_sharing_violation", False,
     lambda k, p: (p.mmap, 0, 2 * PS, PROT_READ, MAP_PRIVATE, _disk_copy(p), PS), EINVAL),
    ("get_unmapped_area_failed", False,
     lambda k, p: (p.mmap, 0, 64 * PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0), EINVAL),
    ("proc_pid_maps_erofs", False,
     lambda k, p: (p.open, "/proc/self/maps", O_WRONLY), EROFS),
    ("newseg_efbig", False,
     lambda k, p: (p.shmget, IPC_PRIVATE, 5 << 20, IPC_CREAT | 0o600), EFBIG),
    ("newseg_enomem", False,
     lambda k, p: (p.shmget, IPC_PRIVATE, 3 << 20, IPC_CREAT | 0o600)
     if p.shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT | 0o600) else None, ENOMEM),
    ("proc_pid_maps_erofs_mmu", True,
     lambda k, p: (p.open, "/proc/self/maps", O_WRONLY), EROFS),
]


def _disk_copy(p: nl.Process) -> int:
    fd = p.open("/mnt/disk/pattern.bin")
    p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    return fd


@pytest.mark.parametrize("name,mmu,setup,err", ID_REFUSALS, ids=[c[0] for c in ID_REFUSALS])
def test_refused_call_takes_no_id(name, mmu, setup, err):
    """A refused call takes no region, VMA or inode id: the next successful call gets the
    id it would have got without the refusal (the id counter is part of state_digest)."""
    ids = []
    for refuse in (False, True):
        k = board(mmu=mmu)
        p = k.spawn()
        fn, *args = setup(k, p)
        if refuse:
            before = k.state_digest()
            with pytest.raises(nl.KernelError) as ei:
                fn(*args)
            assert ei.value.errno == err, ei.value
            assert k.state_digest() == before
        a = p.mmap(0, PS, RW, ANON)
        ids.append((k._next_id, [v.region.id for v in p.vmas() if v.region] if not mmu else a,
                    k.state_digest()))
    assert ids[0] == ids[1]


def test_state_digest_covers_the_id_counters():
    """state_digest: two machines whose next ids differ are not the same machine."""
    for mmu in (False, True):
        k = board(mmu=mmu)
        d = k.state_digest()
        k.next_id()
        assert k.state_digest() != d
        d = k.state_digest()
        k.mounts["/tmp"].sb.new_ino()
        assert k.state_digest() != d


# --- sentences agree in number (polish item 2) ------------------------------------------
_WRONG_NUMBER = __import__("re").compile(
    r"\(s\)|\b1 (?:[a-z-]+ )?(?:pages|frames|mappings|waiters|instructions|VMAs|regions|"
    r"entries|blocks|processes)\b")


def _one_of_everything(mmu: bool):
    """A workload whose counts are 1 wherever a sentence counts something."""
    k = board(mmu=mmu)
    p, q = k.spawn("p"), k.spawn("q")
    a = p.mmap(0, PS, RW, ANON)  # 1 page wanted, order-0 block of 1 page
    b = p.mmap(0, 3 * PS, RW, ANON)  # 1 page of slack trimmed
    p.munmap(a, PS)
    fd = make_shm_file(p, "/tmp/one", PS)  # 1 contiguous page
    s = p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    qs = q.mmap(0, PS, RW, MAP_SHARED, q.open("/tmp/one", O_RDWR), 0)  # used by 1 more mapping
    q.munmap(qs, PS)  # region still used by 1 mapping
    p.munmap(s, PS)
    w = make_written_file(p, "/tmp/w", b"x")  # 1 page-cache page
    p.ftruncate(w, 0)
    sid = p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)  # 1 page segment
    p.shmctl(sid, IPC_RMID)
    p.poke(b, b"\0\0\0\0")
    c = q.vfork() if not mmu else None
    p2 = k.spawn("waker")
    p2.futex(b, FUTEX_WAKE, 1) if not mmu else None  # woke 0 waiters
    if c is not None:
        c.exit(0)
    p.execve("/rom/bin/hello-pie")
    p.run(1)  # ran 1 instruction
    if mmu:
        m = q.mmap(0, PS, RW, ANON | MAP_POPULATE)  # 1 page faulted in, 1 frame freed
        q.munmap(m, PS)
        q.mmap(0, PS, PROT_READ, MAP_SHARED, q.open("/dev/fb0", O_RDWR), 0)  # 1 device page
    return k


@pytest.mark.parametrize("mmu", [False, True])
def test_trace_sentences_agree_in_number(mmu):
    """No sentence of the trace says "1 pages" or "page(s)" (plural() and Count do it)."""
    k = _one_of_everything(mmu)
    bad = [e.text for e in k.trace if _WRONG_NUMBER.search(e.text)]
    assert bad == []
    assert any(e.text.startswith("1 page wanted: order-0 block of 1 page at ") for e in k.trace) != mmu


def test_do_mmap_private_alloc_failed_says_no_free_page():
    """An order-0 request that finds no page: 'no free page', not 'a block of 2^0 = 1
    contiguous pages (largest free block: 0 pages'."""
    k = board()
    p = k.spawn()
    fill = p.open("/tmp/fill", O_CREAT | O_RDWR)
    p.write(fill, b"f" * (k.mem.nr_free * PS))  # every page becomes page cache
    with pytest.raises(nl.KernelError) as ei:
        p.mmap(0, PS, RW, ANON)
    e = ei.value
    assert e.rule == "do_mmap_private.alloc_failed"
    assert "no free page (no page is free at all;" in e.sentence
    assert not _WRONG_NUMBER.search(e.sentence) and "0 pages" not in e.sentence
