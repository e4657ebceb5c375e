"""Page faults: how frames reach an MMU address space (``mm/memory.c``).

``mmap`` only creates a VMA. The first load or store to a page traps into
``handle_mm_fault``, which decides what the page-table entry should be:

* anonymous, read: the global zero page, read-only (``do_anonymous_page``);
* anonymous, write: a fresh zeroed frame (``do_anonymous_page``);
* file, read: the page-cache page, read in if needed (``do_read_fault``);
* file, private, write: a private copy of the page-cache page (``do_cow_fault``);
* file, shared, write: the page-cache page itself, writable (``do_shared_fault``);
* a store to a present read-only page of a writable mapping
  (``do_wp_page``): reuse the frame if nobody else maps it, copy it if
  someone does (copy-on-write after fork) or if it is the zero page or a
  page-cache page under a private mapping.

The model keeps ``k.mapcount[pfn]`` (how many page-table entries map a
frame); a frame's reference count is that plus one if it sits in a page
cache. Anonymous frames are freed when their last mapping goes.

Stores to a shared mapping of a file that lives on a device (disk, block
device) are written back at once, as if ``msync(MS_SYNC)`` followed every
store; Linux does it a little later, but the file ends up the same.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from ..kernel.constants import S_IFBLK, VM_MAYWRITE, VM_WRITE
from ..kernel.errors import KernelError
from ..kernel.memory import PageState
from ..kernel.trace import EventKind, plural
from ..kernel.vfs import File, Inode
from .mm import MmuMm, MmuVma, Pte

if TYPE_CHECKING:
    from .kernel import MmuKernel


# ---------------------------------------------------------------------------
# frames and page-table entries
# ---------------------------------------------------------------------------
def alloc_user_frame(k: MmuKernel, state: PageState, owner: int) -> int:
    """``alloc_page`` for user memory: one order-0 frame (the caller checked nr_free)."""
    pfn = k.mem.alloc(0)
    assert pfn is not None, "caller must check nr_free first"
    k.mem.mark(pfn, 1, state, owner)
    return pfn


def clear_frame(k: MmuKernel, pfn: int) -> None:
    """``clear_user_highpage``: the memset an MMU pays one page at a time."""
    ps = k.page_size
    k.mem.data[pfn * ps:(pfn + 1) * ps] = 0
    k.bytes_zeroed += ps


def copy_frame(k: MmuKernel, src: int, dst: int) -> None:
    """``copy_user_highpage``."""
    ps = k.page_size
    k.mem.data[dst * ps:(dst + 1) * ps] = k.mem.data[src * ps:(src + 1) * ps]


def set_pte(k: MmuKernel, mm: MmuMm, vpn: int, pfn: int, write: bool, special: bool = False) -> Pte:
    """Install a page-table entry; a normal frame gains one mapping."""
    assert vpn not in mm.pte, f"vpn {vpn:#x} already mapped"
    pte = Pte(pfn, write, special)
    mm.pte[vpn] = pte
    if not special:
        k.mapcount[pfn] += 1
    return pte


def put_frame(k: MmuKernel, pfn: int) -> bool:
    """Drop one mapping of a frame; free an anonymous frame that has none left.

    Page-cache frames stay: the cache holds its own reference. Returns True
    when the frame went back to the allocator.
    """
    k.mapcount[pfn] -= 1
    assert k.mapcount[pfn] >= 0, pfn
    if k.mapcount[pfn] == 0 and k.mem.state[pfn] != PageState.PAGECACHE:
        k.mem.free_page(pfn)
        k.mem.mark(pfn, 1, PageState.FREE, -1)
        return True
    return False


def zap_pte_range(k: MmuKernel, mm: MmuMm, start: int, end: int) -> tuple[int, int]:
    """``zap_pte_range``: clear the entries of ``[start, end)``; returns (cleared, freed)."""
    shift = k.mem.page_shift
    cleared = freed = 0
    for vpn in mm.ptes_in(start >> shift, end >> shift):
        pte = mm.pte.pop(vpn)
        cleared += 1
        if not pte.special and put_frame(k, pte.pfn):
            freed += 1
    return cleared, freed


def anon_vma_prepare(k: MmuKernel, vma: MmuVma) -> None:
    """``anon_vma_prepare``: the VMA gets somewhere to hang its private pages."""
    if not vma.anon_vma:
        k.next_anon_vma += 1
        vma.anon_vma = k.next_anon_vma


# ---------------------------------------------------------------------------
# the page cache
# ---------------------------------------------------------------------------
def is_memory_fs(k: MmuKernel, inode: Inode) -> bool:
    """ramfs, tmpfs, shmem: the page cache *is* the file (nothing to write back)."""
    return inode.fops is k._ramfs_ops


def file_size(inode: Inode) -> int:
    """``i_size_read``: a block device's size is its capacity, a file's its length."""
    if inode.kind == S_IFBLK:
        ops = inode.fops
        store = getattr(ops, "store", None)
        return int(store.size) if store is not None else int(getattr(ops, "size", 0))
    return inode.size


def pagecache_lookup(inode: Inode, index: int) -> int | None:
    """``filemap_get_folio``: the frame caching page ``index``, or None."""
    return inode.pages.get(index)


def filemap_get_page(k: MmuKernel, file: File, index: int) -> int:
    """Find page ``index`` of a file in the page cache, reading it in if absent.

    ramfs/shmem pages that were never written are holes: a zeroed page is
    added (``shmem_fault``, ``simple_read_folio``). Other files are read
    from their device (``filemap_fault`` → ``read_folio``).
    """
    inode = file.inode
    pfn = pagecache_lookup(inode, index)
    if pfn is not None:
        return pfn
    ps = k.page_size
    got = k.mem.alloc_page_high()
    assert got is not None, "caller must check nr_free first"
    pfn = got
    if is_memory_fs(k, inode):
        clear_frame(k, pfn)
        k.trace.emit(EventKind.ALLOC, "shmem_fault.alloc",
                     "page {} of {} was never written: a zeroed frame {} joins the page cache",
                     index, file.path, pfn, frames=(pfn, 1), zeroed=ps)
    else:
        data = file.fops.read(file, ps, index * ps)
        if isinstance(data, int):
            data = b""
        k.mem.data[pfn * ps:(pfn + 1) * ps] = 0
        k.mem.data[pfn * ps:pfn * ps + len(data)] = memoryview(data)
        k.trace.emit(EventKind.ALLOC, "filemap_fault.read_page",
                     "page {} of {} read from the device into page-cache frame {}",
                     index, file.path, pfn, frames=(pfn, 1))
    k.mem.mark(pfn, 1, PageState.PAGECACHE, inode.key)
    inode.pages[index] = pfn
    k.cache_inodes[inode.key] = inode
    return pfn


def writeback_page(k: MmuKernel, file: File, index: int, pfn: int) -> None:
    """A dirty page of a device-backed file goes back to the device (``writepage``)."""
    inode = file.inode
    if is_memory_fs(k, inode):
        return
    ps = k.page_size
    pos = index * ps
    n = min(ps, file_size(inode) - pos)
    if n <= 0:
        return
    file.fops.write(file, k.mem.data[pfn * ps:pfn * ps + n].tobytes(), pos)
    k.trace.emit(EventKind.DECISION, "folio_mark_dirty.writeback",
                 "page {} of {} is dirty: written back to the file (the model does it at once; "
                 "Linux within seconds, or at msync)", index, file.path)


def refresh_cached_pages(k: MmuKernel, file: File, pos: int, n: int) -> None:
    """After ``write()`` to a device-backed file, its cached pages show the new bytes."""
    inode = file.inode
    if is_memory_fs(k, inode) or n <= 0 or not inode.pages:
        return
    ps = k.page_size
    for index in range(pos // ps, (pos + n - 1) // ps + 1):
        pfn = pagecache_lookup(inode, index)
        if pfn is None:
            continue
        data = file.fops.read(file, ps, index * ps)
        if isinstance(data, int):
            continue
        k.mem.data[pfn * ps:(pfn + 1) * ps] = 0
        k.mem.data[pfn * ps:pfn * ps + len(data)] = memoryview(data)


# ---------------------------------------------------------------------------
# the fault handlers
# ---------------------------------------------------------------------------
def _pte_write(vma: MmuVma) -> bool:
    return bool(vma.vm_flags & VM_WRITE)


def do_anonymous_page(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int, write: bool) -> Pte:
    """``do_anonymous_page``: the zero page for a read, a zeroed frame for a write."""
    vpn = vaddr >> k.mem.page_shift
    if not write:
        k.trace.emit(EventKind.DECISION, "do_anonymous_page.zero_page",
                     "read of untouched anonymous page {:#x}: the global zero page is mapped "
                     "read-only; no frame taken", vpn << k.mem.page_shift)
        return set_pte(k, mm, vpn, k.zero_pfn, False, special=True)
    anon_vma_prepare(k, vma)
    pfn = alloc_user_frame(k, PageState.ANON, mm.id)
    clear_frame(k, pfn)
    k.trace.emit(EventKind.ALLOC, "do_anonymous_page",
                 "first store to anonymous page {:#x}: zeroed frame {} taken and mapped writable",
                 vpn << k.mem.page_shift, pfn, frames=(pfn, 1), zeroed=k.page_size)
    return set_pte(k, mm, vpn, pfn, _pte_write(vma))


def do_read_fault(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int) -> Pte:
    """``do_read_fault``: map the page-cache page (writable only in a shared writable VMA)."""
    assert vma.vm_file is not None
    shift = k.mem.page_shift
    index = vma.file_index(vaddr, shift)
    pfn = filemap_get_page(k, vma.vm_file, index)
    write = vma.shared and _pte_write(vma)
    k.trace.emit(EventKind.DECISION, "do_read_fault",
                 "page {} of {} mapped at {:#x} from page-cache frame {} ({})", index,
                 vma.vm_file.path, (vaddr >> shift) << shift, pfn,
                 "writable: the mapping is shared" if write else
                 "read-only: a store will fault again")
    return set_pte(k, mm, vaddr >> shift, pfn, write)


def do_cow_fault(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int) -> Pte:
    """``do_cow_fault``: first store to a private file page: copy it, map the copy."""
    assert vma.vm_file is not None
    shift = k.mem.page_shift
    index = vma.file_index(vaddr, shift)
    src = filemap_get_page(k, vma.vm_file, index)
    anon_vma_prepare(k, vma)
    pfn = alloc_user_frame(k, PageState.FILE_COPY, mm.id)
    copy_frame(k, src, pfn)
    k.trace.emit(EventKind.ALLOC, "do_cow_fault",
                 "first store to page {} of {} in a private mapping: page-cache frame {} copied "
                 "into frame {}; the file does not change, and this page no longer follows it",
                 index, vma.vm_file.path, src, pfn, frames=(pfn, 1))
    return set_pte(k, mm, vaddr >> shift, pfn, _pte_write(vma))


def do_shared_fault(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int) -> Pte:
    """``do_shared_fault``: a store to a shared mapping writes the page-cache page itself."""
    assert vma.vm_file is not None
    shift = k.mem.page_shift
    index = vma.file_index(vaddr, shift)
    pfn = filemap_get_page(k, vma.vm_file, index)
    k.trace.emit(EventKind.DECISION, "do_shared_fault",
                 "store to page {} of {} in a shared mapping: page-cache frame {} itself is "
                 "mapped writable, so the store changes the file", index, vma.vm_file.path, pfn)
    return set_pte(k, mm, vaddr >> shift, pfn, True)


def do_wp_page(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int, pte: Pte) -> Pte:
    """``do_wp_page``: a store hit a present read-only page of a writable (or forced) VMA.

    Shared mapping: make it writable (``wp_page_shared``). Private: reuse an
    anonymous frame nobody else maps (``wp_page_reuse``), otherwise copy
    (``wp_page_copy``): the zero page, a page-cache page, or a frame still
    shared with a fork parent or child.
    """
    shift = k.mem.page_shift
    vpn = vaddr >> shift
    page = vpn << shift
    if vma.shared:
        pte.write = True
        k.trace.emit(EventKind.DECISION, "do_wp_page.shared",
                     "first store to shared page {:#x} since it was mapped: made writable in place",
                     page)
        return pte
    old = pte.pfn
    state = int(k.mem.state[old])
    if not pte.special and state in (PageState.ANON, PageState.FILE_COPY) and k.mapcount[old] == 1:
        pte.write = _pte_write(vma)
        k.trace.emit(EventKind.DECISION, "do_wp_page.reuse",
                     "frame {} at {:#x} is mapped only here now: reused in place, nothing copied",
                     old, page)
        return pte
    anon_vma_prepare(k, vma)
    if pte.special and old == k.zero_pfn:
        pfn = alloc_user_frame(k, PageState.ANON, mm.id)
        clear_frame(k, pfn)
        k.trace.emit(EventKind.ALLOC, "wp_page_copy.zero_page",
                     "store to {:#x}, which was only read so far: the zero page is replaced by "
                     "zeroed frame {}", page, pfn, frames=(pfn, 1), zeroed=k.page_size)
    else:
        new_state = PageState.FILE_COPY if state == PageState.PAGECACHE else PageState.ANON
        pfn = alloc_user_frame(k, new_state, mm.id)
        copy_frame(k, old, pfn)
        if state == PageState.PAGECACHE:
            k.trace.emit(EventKind.ALLOC, "do_wp_page.copy_file_page",
                         "first store to {:#x}, a page-cache page read through a private "
                         "mapping: copied from frame {} into frame {}; the file keeps its bytes",
                         page, old, pfn, frames=(pfn, 1))
        elif pte.special:
            k.trace.emit(EventKind.ALLOC, "do_wp_page.copy_device_page",
                         "store to {:#x} in a private mapping of device memory: the device frame "
                         "{} is copied into frame {}", page, old, pfn, frames=(pfn, 1))
        else:
            k.trace.emit(EventKind.ALLOC, "do_wp_page.copy",
                         "copy-on-write at {:#x}: frame {} is mapped by {} page tables, so the "
                         "writer gets its own copy in frame {}", page, old,
                         int(k.mapcount[old]), pfn, frames=(pfn, 1))
    if not pte.special:
        put_frame(k, old)
    pte.pfn, pte.special, pte.write = pfn, False, _pte_write(vma)
    k.mapcount[pfn] += 1
    return pte


def handle_mm_fault(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int, write: bool) -> Pte:
    """``handle_mm_fault``: make the page at ``vaddr`` present (and writable if asked)."""
    pte = mm.pte.get(vaddr >> k.mem.page_shift)
    if pte is None:
        if vma.anonymous:
            return do_anonymous_page(k, mm, vma, vaddr, write)
        if not write:
            return do_read_fault(k, mm, vma, vaddr)
        if not vma.shared:
            return do_cow_fault(k, mm, vma, vaddr)
        return do_shared_fault(k, mm, vma, vaddr)
    if write and not pte.write:
        return do_wp_page(k, mm, vma, vaddr, pte)
    return pte


def frames_needed(k: MmuKernel, mm: MmuMm, vma: MmuVma, vaddr: int, write: bool) -> int:
    """How many free frames ``handle_mm_fault`` would take for this page (for the OOM check)."""
    shift = k.mem.page_shift
    pte = mm.pte.get(vaddr >> shift)
    cached = 0
    if vma.vm_file is not None and not vma.anonymous and not vma.pfnmap:
        cached = 0 if pagecache_lookup(vma.vm_file.inode, vma.file_index(vaddr, shift)) is not None else 1
    if pte is None:
        if vma.anonymous:
            return 1 if write else 0
        if not write or vma.shared:
            return cached
        return cached + 1
    if not write or pte.write or vma.shared:
        return 0
    reuse = (not pte.special and k.mapcount[pte.pfn] == 1
             and int(k.mem.state[pte.pfn]) in (PageState.ANON, PageState.FILE_COPY))
    return 0 if reuse else 1


# ---------------------------------------------------------------------------
# a load or store by the process (or a debugger)
# ---------------------------------------------------------------------------
def access_check(k: MmuKernel, mm: MmuMm, addr: int, n: int, write: bool, force: bool,
                 pid: int) -> None:
    """Decide, before anything changes, whether every page of the access can be served.

    Raises ``EFAULT`` (standing for the SIGSEGV or SIGBUS the process would
    get) for an unmapped page, a protection violation or a page beyond the
    end of the file, and ``ENOMEM`` when RAM cannot supply the frames.
    """
    ps = k.page_size
    need = 0
    if n == 0:
        return
    first, last = addr // ps, (addr + n - 1) // ps
    for vpn in range(first, last + 1):
        vaddr = vpn * ps
        here = max(addr, vaddr)
        vma = mm.vma_lookup(vaddr)
        if vma is None:
            raise KernelError(E.EFAULT, "do_page_fault.bad_area",
                              f"{here:#x} is not inside any mapping of process {pid}: the MMU "
                              "faults, the kernel finds no VMA there and sends SIGSEGV")
        if write and not vma.vm_flags & VM_WRITE:
            if not (force and not vma.shared and vma.vm_flags & VM_MAYWRITE):
                raise KernelError(E.EFAULT, "do_page_fault.access_error",
                                  f"the mapping {vma.vm_start:#x}-{vma.vm_end:#x} has no PROT_WRITE: "
                                  f"the MMU refuses the store to {here:#x} and the process gets "
                                  "SIGSEGV; mprotect() it writable first")
        if not write and not vma.readable and not force:
            raise KernelError(E.EFAULT, "do_page_fault.access_error",
                              f"the mapping {vma.vm_start:#x}-{vma.vm_end:#x} has no PROT_READ: "
                              f"the MMU refuses the load from {here:#x} and the process gets SIGSEGV")
        if vma.vm_file is not None and not vma.anonymous and not vma.pfnmap:
            inode = vma.vm_file.inode
            index = vma.file_index(vaddr, k.mem.page_shift)
            size = file_size(inode)
            if index >= (size + ps - 1) // ps:
                raise KernelError(E.EFAULT, "filemap_fault.sigbus",
                                  f"{here:#x} maps page {index} of {vma.vm_file.path}, beyond the "
                                  f"end of the file ({size} bytes): the process gets SIGBUS")
        need += frames_needed(k, mm, vma, vaddr, write)
    if need > k.mem.nr_free:
        raise KernelError(E.ENOMEM, "handle_mm_fault.oom",
                          f"the access needs {plural(need, 'free frame')} and only "
                          f"{k.mem.nr_free} {'is' if k.mem.nr_free == 1 else 'are'} left: "
                          "Linux would now run the OOM killer; the model refuses the access")


def access_vm(k: MmuKernel, mm: MmuMm, addr: int, n: int, data: bytes | None, force: bool,
              pid: int) -> bytes:
    """Load ``n`` bytes at ``addr``, or store ``data`` there, faulting pages in as needed."""
    write = data is not None
    access_check(k, mm, addr, n, write, force, pid)
    ps = k.page_size
    out = bytearray()
    done = 0
    while done < n:
        va = addr + done
        off = va % ps
        chunk = min(ps - off, n - done)
        vma = mm.vma_lookup(va)
        assert vma is not None
        pte = handle_mm_fault(k, mm, vma, va, write)
        pa = pte.pfn * ps + off
        if write:
            assert data is not None
            k.mem.data[pa:pa + chunk] = memoryview(data)[done:done + chunk]
            if vma.shared and vma.vm_file is not None and not vma.pfnmap:
                writeback_page(k, vma.vm_file, vma.file_index(va, k.mem.page_shift), pte.pfn)
        else:
            out += k.mem.data[pa:pa + chunk].tobytes()
        done += chunk
    return bytes(out)


def read_nofault(k: MmuKernel, mm: MmuMm, addr: int, n: int, pid: int) -> bytes:
    """Read what a load would see without installing anything (``get_user`` for a futex word).

    The model keeps a refused call free of side effects, so a FUTEX_WAIT
    that fails with EAGAIN must not leave a faulted-in page behind; reading
    untouched memory this way gives the bytes the fault would have mapped.
    """
    access_check(k, mm, addr, n, False, False, pid)
    ps = k.page_size
    shift = k.mem.page_shift
    out = bytearray()
    done = 0
    while done < n:
        va = addr + done
        off = va % ps
        chunk = min(ps - off, n - done)
        pte = mm.pte.get(va >> shift)
        if pte is not None:
            a = pte.pfn * ps + off
            out += k.mem.data[a:a + chunk].tobytes()
        else:
            vma = mm.vma_lookup(va)
            assert vma is not None
            if vma.anonymous or vma.vm_file is None:
                out += bytes(chunk)
            else:
                index = vma.file_index(va, shift)
                pfn = pagecache_lookup(vma.vm_file.inode, index)
                if pfn is not None:
                    a = pfn * ps + off
                    out += k.mem.data[a:a + chunk].tobytes()
                elif is_memory_fs(k, vma.vm_file.inode):
                    out += bytes(chunk)
                else:
                    data = vma.vm_file.fops.read(vma.vm_file, ps, index * ps)
                    data = (data if isinstance(data, bytes) else b"").ljust(ps, b"\0")
                    out += data[off:off + chunk]
        done += chunk
    return bytes(out)
