"""ptrace PEEK/POKE through access_process_vm (mm/nommu.c
__access_remote_vm).

The VMA must contain the address; reads need VM_MAYREAD, writes VM_MAYWRITE
(the MAY flags, not VM_READ/VM_WRITE); direct ROM mappings lack VM_MAYWRITE;
a task traced before it maps a read-only private file gets an unshared copy.
"""

from __future__ import annotations

from errno import *

from _nommu import ANON, FLASH_BASE, PS, RW, refused, region_of

from nommu_lab.constants import *


def test_peek_poke_anonymous(k):
    """access_process_vm: copies have both MAY flags (even PROT_READ ones)."""
    t, d = k.spawn("target"), k.spawn("debugger")
    a = t.mmap(0, PS, PROT_READ, ANON)
    d.ptrace_attach(t.pid)
    d.ptrace_poke(t.pid, a, b"12345678")
    assert d.ptrace_peek(t.pid, a) == b"12345678"
    assert t.vmas()[0].flags & (VM_MAYREAD | VM_MAYWRITE) == VM_MAYREAD | VM_MAYWRITE


def test_outside_any_vma_is_eio(k):
    """access_process_vm: no VMA contains the address → nothing transferred → EIO."""
    t, d = k.spawn(), k.spawn()
    d.ptrace_attach(t.pid)
    a = d.mmap(0, PS, RW, ANON)  # the debugger's own memory is not the target's
    refused(k, d.ptrace_peek, t.pid, a, errno=EIO, rule="access_remote_vm.no_vma")
    refused(k, d.ptrace_poke, t.pid, a, b"x", errno=EIO)


def test_xip_rom_text_cannot_take_a_breakpoint(k):
    """access_process_vm: a direct mapping of an MTD of type ROM lacks VM_MAYWRITE → POKE EIO; PEEK works."""
    t, d = k.spawn(), k.spawn()
    t.execve("/rom/bin/hello")
    text = next(v for v in t.vmas() if v.path == "/rom/bin/hello")
    assert FLASH_BASE <= text.start and not text.flags & VM_MAYWRITE
    d.ptrace_attach(t.pid)
    assert d.ptrace_peek(t.pid, text.start + 64) == t.peek(text.start + 64, 8)
    refused(k, d.ptrace_poke, t.pid, text.start + 64, b"\x73\x00\x10\x00", errno=EIO,
            rule="access_remote_vm.may_flags")


def test_traced_task_gets_unshared_copy(k):
    """determine_vm_flags / access_process_vm: a task traced when it maps a read-only private file gets its own copy."""
    p, t, d = k.spawn(), k.spawn(), k.spawn()
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/notes.txt"), 0)
    d.ptrace_attach(t.pid)
    b = t.mmap(0, PS, PROT_READ, MAP_PRIVATE, t.open("/mnt/disk/notes.txt"), 0)
    assert b != a and region_of(k, a).usage == 1 and region_of(k, b).usage == 1
    assert not t.vmas()[0].flags & VM_MAYOVERLAY
    d.ptrace_poke(t.pid, b, b"BP")
    assert p.peek(a, 2) == b"di"


def test_traced_task_copy_of_rom_file_still_refuses_poke(k):
    """access_process_vm [INFERRED]: a traced task mapping a DIRECT-capable ROM file read-only gets a copy
    whose MAY bits come from the capability word (no WRITE): POKE still EIO; WARN once."""
    t, d = k.spawn(), k.spawn()
    d.ptrace_attach(t.pid)
    a = t.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, t.open("/rom/etc/motd"), 0)
    r = region_of(k, a)
    assert r.copy and a % PS == 0
    assert any(e.rule == "do_mmap_private.warn_not_shareable" for e in k.trace)
    refused(k, d.ptrace_poke, t.pid, a, b"x", errno=EIO)


def test_poke_into_shared_copy_changes_it_for_everyone(k):
    """access_process_vm: a region may be shared, so a POKE changes it for every process (hazard in trace)."""
    p, t, d = k.spawn(), k.spawn(), k.spawn()
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/notes.txt"), 0)
    b = t.mmap(0, PS, PROT_READ, MAP_PRIVATE, t.open("/mnt/disk/notes.txt"), 0)
    assert a == b
    d.ptrace_attach(t.pid)
    d.ptrace_poke(t.pid, b, b"ZZ")
    assert p.peek(a, 2) == b"ZZ"
    assert any(e.rule == "access_remote_vm.shared_region" for e in k.trace)


def test_no_such_process(k):
    """ptrace on a pid that does not exist → ESRCH."""
    d = k.spawn()
    refused(k, d.ptrace_peek, 999, 0x8010_0000, errno=ESRCH)


def test_peek_across_the_vma_end_is_eio(k):
    """access_process_vm + kernel/ptrace.c: copied != sizeof(tmp) → EIO."""
    t, d = k.spawn(), k.spawn()
    a = t.mmap(0, PS, RW, ANON)
    d.ptrace_attach(t.pid)
    refused(k, d.ptrace_peek, t.pid, a + PS - 4, errno=EIO)


def test_access_remote_vm_may_flags_of_a_copy_from_rom(k):
    """determine_vm_flags takes a direct-capable file's VM_MAY bits from its capability
    word: a task traced before it maps XIP text gets a RAM copy (not shareable), which
    still lacks VM_MAYWRITE, so POKE is EIO; the sentence says it is a copy, not ROM."""
    t, d = k.spawn(), k.spawn()
    d.ptrace_attach(t.pid)
    a = t.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, t.open("/rom/bin/hello", O_RDONLY), 0)
    assert region_of(k, a).copy and not t.vmas()[0].flags & VM_MAYWRITE
    e = refused(k, d.ptrace_poke, t.pid, a, b"x", errno=EIO, rule="access_remote_vm.may_flags")
    assert "a copy in RAM" in e.sentence and "/rom/bin/hello" in e.sentence
    assert "NOMMU_MAP_WRITE" in e.sentence and "mapped in place" not in e.sentence


def test_access_remote_vm_may_flags_of_xip_text_says_in_place(k):
    """The direct XIP text: the sentence says the file is mapped in place."""
    t, d = k.spawn(), k.spawn()
    t.execve("/rom/bin/hello")
    text = next(v for v in t.vmas() if v.path == "/rom/bin/hello")
    d.ptrace_attach(t.pid)
    e = refused(k, d.ptrace_poke, t.pid, text.start, b"x", errno=EIO)
    assert "/rom/bin/hello mapped in place" in e.sentence and "copy" not in e.sentence
