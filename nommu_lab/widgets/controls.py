"""Controls that make calls, and the time-travel bar.

Every button goes through a :class:`~nommu_lab.session.Session`, so each call
is recorded (and can be stepped over, saved and replayed), and every outcome
is shown as a C programmer writes it: ``pid 1: mmap(0, 0x3000,
PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x80108000``
(the wording of :func:`nommu_lab.kernel.callfmt.format_call`, as in the trace).

Numbers typed in a form are numbers whatever their sign or size: ``-4096``
and ``-5 pages`` go to the kernel, whose argument conversion reads them as the
C ABI does (a negative length is a huge unsigned one) and answers with the
errno a real kernel gives. Only text that is not a number at all is refused
here, with the forms accepted. A refused call shows the kernel's own sentence
(errno, rule, what to do). No handler lets an exception reach the browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..kernel import KernelError
from ..kernel.constants import (
    CLONE_VM,
    FUTEX_WAIT,
    FUTEX_WAKE,
    IPC_CREAT,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_UNINITIALIZED,
    MREMAP_MAYMOVE,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from ..kernel.devices import SimpleDriver
from .base import View, html_escape
from .tables import _set_options

if TYPE_CHECKING:
    from ..session import Session

NONE = -1
ANON = "(anonymous)"
MAX_TRIM = 32
_SUFFIX = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
           "p": 4096, "page": 4096, "pages": 4096}
_NUM = re.compile(r"^\s*([+-]?)\s*(0x[0-9a-f]+|\d+)\s*([a-z]*)\s*$", re.I)
FD_PREFIX = "fd:"  # file-menu values that name an open descriptor rather than a path


def parse_size(text: str, what: str, page_size: int = 4096) -> int:
    """A number typed by a learner: ``4096``, ``0x1000``, ``12K``, ``3 pages``, ``3*4096``, ``-4096``.

    Any sign and any size: whether the kernel accepts it is the kernel's
    business (its C-ABI conversion and its checks). Raises ValueError, with a
    sentence naming the field and the forms accepted, only for text that is
    not a number.
    """
    product = 1
    for part in str(text).split("*"):
        m = _NUM.match(part)
        unit = m.group(3).lower() if m else ""
        if m is None or unit not in _SUFFIX:
            raise ValueError(f"{what}: {text!r} is not a number (try 4096, 0x1000, 12K, "
                             "3 pages, 3*4096 or -4096)")
        scale = page_size if unit in ("p", "page", "pages") else _SUFFIX[unit]
        value = int(m.group(2), 0) * scale
        product *= -value if m.group(1) == "-" else value
    return product


def parse_bytes(text: str, what: str = "data") -> bytes:
    """Data for a store or a write: ``hex:deadbeef`` or plain text (UTF-8)."""
    t = str(text)
    if t.lower().startswith("hex:"):
        try:
            return bytes.fromhex(t[4:])
        except ValueError:
            raise ValueError(f"{what}: {t[4:]!r} is not hex digits in pairs") from None
    if not t:
        raise ValueError(f"{what}: type some bytes (text, or hex:0011aa)")
    return t.encode()


def _button(label: str, cls: str, style: str = "", tip: str = "") -> W.Button:
    b = W.Button(description=label, button_style=style, tooltip=tip or label,
                 layout=W.Layout(width="auto"))
    b.add_class("nl-button")
    b.add_class(cls)
    return b


#: widths of the text boxes of the forms, in em (the description comes on top of it)
FIELD_EMS = (3, 4, 6, 7, 8, 9, 10)


def _text(value: str, cls: str, desc: str, ems: int = 8) -> W.Text:
    """A labelled text box whose box is ``ems`` wide, whatever the label (it never squeezes)."""
    assert ems in FIELD_EMS
    t = W.Text(value=value, description=desc, layout=W.Layout(width="auto"),
               style={"description_width": "initial"})
    t.add_class(cls)
    t.add_class("nl-field")
    t.add_class(f"nl-w{ems}")
    return t


def _check(label: str, cls: str, value: bool = False) -> W.Checkbox:
    c = W.Checkbox(value=value, description=label, indent=False, layout=W.Layout(width="auto"))
    c.add_class(cls)
    return c


def _dropdown(options: Sequence[Any], cls: str, desc: str = "", width: str = "auto",
              value: Any = None) -> W.Dropdown:
    d = W.Dropdown(options=options, description=desc, layout=W.Layout(width=width),
                   style={"description_width": "initial"})
    if value is not None:
        d.value = value
    d.add_class(cls)
    d.add_class("nl-field")
    return d


def _row(*children: W.Widget) -> W.HBox:
    box = W.HBox(list(children), layout=W.Layout(flex_flow="row wrap", align_items="center"))
    box.add_class("nl-row")
    return box


def _pane(*children: W.Widget) -> W.VBox:
    box = W.VBox(list(children))
    box.add_class("nl-pane")
    return box


#: the tabs of the controls, in order (title, CSS class)
TABS = (("process", "nl-tab-process"), ("mmap", "nl-tab-mmap"), ("unmap", "nl-tab-unmap"),
        ("files", "nl-tab-files"), ("memory", "nl-tab-memory"), ("devices", "nl-tab-devices"))


class Controls(View):
    """Pick a process and make any call a lesson needs, recorded in the session.

    Tabs: process (spawn, vfork, fork, clone, execve, run, exit); mmap
    (with ``vm.nr_trim_pages``); unmap (munmap, and mremap with or without
    MREMAP_MAYMOVE); files and shared memory (open, shm_open, write,
    ftruncate, close, shmget, shmat); memory (poke, peek, ptrace, futex);
    devices: the flash chip (program, erase, complete) and a learner's own
    driver (``register_driver`` with a :class:`~nommu_lab.SimpleDriver`).
    ``status`` shows the last outcome with named flags, or what was wrong
    with the form.
    """

    def __init__(self, session: Session, hold: Callable[[], AbstractContextManager[Any]] | None = None,
                 compact: bool = False) -> None:
        super().__init__(session.kernel)
        self.session = session
        self._hold = hold or nullcontext
        self.add_class("nl-controls")
        self.last_message = ""
        self.last_ok = True

        # ---------------------------------------------------------- processes
        self.proc = _dropdown([("(no process)", NONE)], "nl-proc", "process", "16em", NONE)
        self.name = _text("app", "nl-spawn-name", "name", 6)
        self.b_spawn = _button("spawn", "nl-spawn", "info", "start a new process with an empty mm")
        self.b_vfork = _button("vfork", "nl-vfork", "", "child shares the mm; parent waits")
        self.b_fork = _button("fork", "nl-fork", "", "no fork() without an MMU: see what it says")
        self.clone_vm = _check("CLONE_VM", "nl-clone-vm", True)
        self.b_clone = _button("clone", "nl-clone", "", "clone(), with or without CLONE_VM")
        self.b_exit = _button("exit", "nl-exit", "warning", "the process exits; its VMAs go")
        self.exec_path = _dropdown([], "nl-exec-path", "program", "17em")
        self.b_exec = _button("execve", "nl-exec", "", "load a program into this process")
        self.instructions = _text("8", "nl-run-count", "instructions", 4)
        self.b_run = _button("run", "nl-run", "success",
                             "let the CPU execute the program's next instructions")

        # ---------------------------------------------------------- mmap
        self.addr = _text("0", "nl-mmap-addr", "addr", 9)
        self.length = _text("3 pages", "nl-mmap-length", "length", 7)
        self.offset = _text("0", "nl-mmap-offset", "offset", 6)
        self.prot_r = _check("PROT_READ", "nl-prot-read", True)
        self.prot_w = _check("PROT_WRITE", "nl-prot-write", True)
        self.prot_x = _check("PROT_EXEC", "nl-prot-exec")
        self.map_type = W.ToggleButtons(options=[("MAP_PRIVATE", MAP_PRIVATE), ("MAP_SHARED", MAP_SHARED)],
                                        value=MAP_PRIVATE, style={"button_width": "auto"})
        self.map_type.add_class("nl-map-type")
        self.uninit = _check("MAP_UNINITIALIZED", "nl-map-uninitialized")
        self.fixed = _check("MAP_FIXED", "nl-map-fixed")
        self.file = _dropdown([ANON], "nl-mmap-file", "file", "17em", ANON)
        self.open_mode = _dropdown([("O_RDONLY", O_RDONLY), ("O_RDWR", O_RDWR)], "nl-open-mode",
                                   value=O_RDONLY)
        self.b_mmap = _button("mmap", "nl-mmap", "primary",
                              "map (a path is opened first and closed after)")
        self.trim = W.IntSlider(value=session.kernel.nr_trim_pages, min=0, max=MAX_TRIM,
                                description="vm.nr_trim_pages", continuous_update=False,
                                style={"description_width": "initial"},
                                layout=W.Layout(width="22em", max_width="100%"))
        self.trim.add_class("nl-trim")
        self.trim.observe(self._on_trim, names="value")

        # ---------------------------------------------------------- munmap / mremap
        self.vma = _dropdown([("(no mapping)", NONE)], "nl-vma-pick", "mapping", "28em", NONE)
        self.unmap_addr = _text("", "nl-unmap-addr", "addr", 9)
        self.unmap_length = _text("", "nl-unmap-length", "length", 7)
        self.b_munmap = _button("munmap", "nl-munmap", "danger", "unmap addr..addr+length")
        self.new_length = _text("1 page", "nl-mremap-length", "new length", 7)
        self.maymove = _check("MREMAP_MAYMOVE", "nl-mremap-maymove")
        self.b_mremap = _button("mremap", "nl-mremap", "", "resize the mapping at addr")
        self.vma.observe(self._fill_unmap, names="value")

        # ---------------------------------------------------------- files and shm
        self.path = _text("/tmp/data", "nl-open-path", "path", 10)
        self.access = _dropdown([("O_RDONLY", O_RDONLY), ("O_WRONLY", O_WRONLY), ("O_RDWR", O_RDWR)],
                                "nl-open-access", value=O_RDWR)
        self.o_creat = _check("O_CREAT", "nl-open-creat", True)
        self.o_trunc = _check("O_TRUNC", "nl-open-trunc")
        self.b_open = _button("open", "nl-open", "", "open(path, flags, 0644)")
        self.b_shm_open = _button("shm_open", "nl-shm-open", "",
                                  "shm_open(name, flags, 0600): a file on /dev/shm")
        self.fd = _dropdown([("(no open file)", NONE)], "nl-fd", "fd", "16em", NONE)
        self.file_data = _text("hello", "nl-write-data", "data", 8)
        self.b_write = _button("write", "nl-write", "", "write(fd, data)")
        self.file_size = _text("3 pages", "nl-ftruncate-length", "size", 7)
        self.b_ftruncate = _button("ftruncate", "nl-ftruncate", "", "ftruncate(fd, size)")
        self.b_close = _button("close", "nl-close", "", "close(fd)")
        self.shm_key = _text("0x1234", "nl-shm-key", "key", 6)
        self.shm_size = _text("2 pages", "nl-shm-size", "size", 7)
        self.b_shmget = _button("shmget", "nl-shmget", "", "shmget(key, size, IPC_CREAT|0600)")
        self.shm_id = _text("", "nl-shm-id", "shmid", 4)
        self.b_shmat = _button("shmat", "nl-shmat", "", "shmat(shmid, NULL, 0)")

        # ---------------------------------------------------------- memory
        self.mem_addr = _text("0x80108000", "nl-mem-addr", "addr", 9)
        self.mem_data = _text("hello", "nl-mem-data", "data", 8)
        self.mem_count = _text("16", "nl-peek-count", "bytes", 4)
        self.b_poke = _button("poke", "nl-poke", "", "store data at addr (no MMU: nothing checks)")
        self.b_peek = _button("peek", "nl-peek", "", "read bytes at addr")
        self.target = _dropdown([("(no process)", NONE)], "nl-ptrace-target", "tracee", "12em", NONE)
        self.b_attach = _button("PTRACE_ATTACH", "nl-ptrace-attach", "", "ptrace_attach(tracee)")
        self.b_ppeek = _button("PEEKTEXT", "nl-ptrace-peek", "", "ptrace_peek(tracee, addr)")
        self.b_ppoke = _button("POKETEXT", "nl-ptrace-poke", "", "ptrace_poke(tracee, addr, data)")
        self.futex_op = _dropdown([("FUTEX_WAIT", FUTEX_WAIT), ("FUTEX_WAKE", FUTEX_WAKE)],
                                  "nl-futex-op", value=FUTEX_WAIT)
        self.futex_val = _text("0", "nl-futex-val", "val", 4)
        self.b_futex = _button("futex", "nl-futex", "", "futex(addr, op, val)")

        # ---------------------------------------------------------- flash and drivers
        self.flash_offset = _text("0x80000", "nl-flash-offset", "flash offset", 7)
        self.flash_data = _text("hex:c0ffee", "nl-flash-data", "data", 8)
        self.flash_guard = _check("guard", "nl-flash-guard")
        self.b_program = _button("program", "nl-flash-program", "", "start a program operation")
        self.b_erase = _button("erase", "nl-flash-erase", "", "start a block erase")
        self.b_complete = _button("complete", "nl-flash-complete", "", "the operation finishes")
        self.drv_path = _text("/dev/mydev", "nl-driver-path", "node", 9)
        self.drv_caps = {name: _check(name, f"nl-cap-{name.lower()}", name in ("DIRECT", "READ", "WRITE"))
                         for name in ("COPY", "DIRECT", "READ", "WRITE", "EXEC")}
        self.drv_no_caps = _check("no mmap_capabilities", "nl-cap-none")
        self.drv_pages = _text("4", "nl-driver-pages", "memory pages", 3)
        self.drv_gua = _dropdown([("get_unmapped_area: device address", "address"),
                                  ("get_unmapped_area: -ENOSYS", "enosys"),
                                  ("no get_unmapped_area", None)], "nl-driver-gua", value="address")
        self.b_register = _button("register_driver", "nl-register-driver", "info",
                                  "put a SimpleDriver with these capabilities at the node")

        self.status = W.HTML()
        self.status.add_class("nl-status")

        for b, fn in ((self.b_spawn, self._spawn), (self.b_vfork, self._vfork),
                      (self.b_fork, self._fork), (self.b_clone, self._clone),
                      (self.b_exec, self._exec), (self.b_run, self._run), (self.b_exit, self._exit),
                      (self.b_mmap, self._mmap), (self.b_munmap, self._munmap),
                      (self.b_mremap, self._mremap), (self.b_open, self._open),
                      (self.b_shm_open, self._shm_open), (self.b_write, self._write),
                      (self.b_ftruncate, self._ftruncate), (self.b_close, self._close),
                      (self.b_shmget, self._shmget), (self.b_shmat, self._shmat),
                      (self.b_poke, self._poke), (self.b_peek, self._peek),
                      (self.b_attach, self._ptrace_attach), (self.b_ppeek, self._ptrace_peek),
                      (self.b_ppoke, self._ptrace_poke), (self.b_futex, self._futex),
                      (self.b_program, self._program), (self.b_erase, self._erase),
                      (self.b_complete, self._complete), (self.b_register, self._register)):
            b.on_click(self._guarded(fn))
        self.proc.observe(lambda _c: self._refresh_process(), names="value")

        panes = (
            _pane(_row(self.proc, self.name, self.b_spawn),
                  _row(self.b_vfork, self.b_fork, self.clone_vm, self.b_clone, self.b_exit),
                  _row(self.exec_path, self.b_exec),
                  _row(self.instructions, self.b_run)),
            _pane(_row(self.addr, self.length, self.offset),
                  _row(self.prot_r, self.prot_w, self.prot_x),
                  _row(self.map_type, self.uninit, self.fixed),
                  _row(self.file, self.open_mode, self.b_mmap),
                  _row(self.trim)),
            _pane(_row(self.vma),
                  _row(self.unmap_addr, self.unmap_length, self.b_munmap),
                  _row(self.new_length, self.maymove, self.b_mremap)),
            _pane(_row(self.path, self.access, self.o_creat, self.o_trunc, self.b_open,
                       self.b_shm_open),
                  _row(self.fd, self.file_data, self.b_write, self.b_close),
                  _row(self.file_size, self.b_ftruncate),
                  _row(self.shm_key, self.shm_size, self.b_shmget, self.shm_id, self.b_shmat)),
            _pane(_row(self.mem_addr, self.mem_data, self.b_poke, self.mem_count, self.b_peek),
                  _row(self.target, self.b_attach, self.b_ppeek, self.b_ppoke),
                  _row(self.futex_op, self.futex_val, self.b_futex)),
            _pane(W.HTML("<b>NOR flash</b>: while it programs or erases, every read of the chip "
                         "returns status bytes"),
                  _row(self.flash_offset, self.flash_data, self.flash_guard),
                  _row(self.b_program, self.b_erase, self.b_complete),
                  W.HTML("<b>Your own driver</b> (a SimpleDriver): its mmap capabilities"),
                  _row(self.drv_path, self.drv_pages, self.drv_gua),
                  _row(*self.drv_caps.values(), self.drv_no_caps, self.b_register)),
        )
        self.tabs = W.Tab(children=panes, titles=[t for t, _ in TABS])
        self.tabs.add_class("nl-tabs")
        for pane, (_, cls) in zip(panes, TABS, strict=True):
            pane.add_class(cls)
        self.children = (self.tabs, self.status)
        self.refresh()

    # ------------------------------------------------------------ plumbing
    @property
    def pid(self) -> int | None:
        """The chosen process, or None."""
        v = self.proc.value
        return None if v == NONE else int(v)

    def _guarded(self, fn: Callable[[], None]) -> Callable[[Any], None]:
        """A click handler that shows errors as sentences and never raises."""
        def handler(_button: Any = None) -> None:
            try:
                with self._hold():
                    fn()
            except KernelError as e:
                last = self.session.last
                if last is not None and last.error is e:
                    self._say("Refused: " + last.describe(), ok=False)
                else:  # refused before it was recorded (not a number the ABI can hold)
                    self._say(f"Refused: {e}", ok=False)
            except (ValueError, TypeError) as e:
                self._say(str(e), ok=False)
            except Exception as e:  # a bug in the lab: report it, keep the lab alive
                self._say(f"Unexpected error in nommu-lab ({type(e).__name__}): {e}", ok=False)
        return handler

    def _say(self, text: str, ok: bool = True) -> None:
        self.last_message = text
        self.last_ok = ok
        cls = "nl-ok" if ok else "nl-error"
        self.status.value = f"<div class='nl-status-text {cls}'>{html_escape(text)}</div>"

    def _need_pid(self) -> int:
        pid = self.pid
        if pid is None:
            raise ValueError("pick a process first (or spawn one)")
        return pid

    def _call(self, pid: int | None, name: str, *args: Any, note: str = "", **kwargs: Any) -> Any:
        """Make a recorded call and show it, flags named, with its result."""
        result = self.session.call(pid, name, *args, **kwargs)
        assert self.session.last is not None
        self._say(self.session.last.describe() + (f" ({note})" if note else ""))
        return result

    def _num(self, w: W.Text, what: str) -> int:
        return parse_size(w.value, what, self.kernel.page_size)

    def _select_pid(self, pid: int) -> None:
        self.refresh()
        if pid in [v for _, v in self.proc.options]:
            self.proc.value = pid

    # ------------------------------------------------------------ processes
    def _spawn(self) -> None:
        p = self._call(None, "spawn", self.name.value.strip() or "app")
        self._select_pid(p.pid)

    def _vfork(self) -> None:
        pid = self._need_pid()
        c = self._call(pid, "vfork", note=f"parent {pid} waits until the child calls execve() "
                       "or exit()")
        self._select_pid(c.pid)

    def _fork(self) -> None:
        c = self._call(self._need_pid(), "fork")
        self._select_pid(c.pid)  # an MMU kernel forks

    def _clone(self) -> None:
        flags = CLONE_VM if self.clone_vm.value else 0
        c = self._call(self._need_pid(), "clone", flags)
        self._select_pid(c.pid)

    def _exec(self) -> None:
        pid = self._need_pid()
        path = self.exec_path.value
        if not path:
            raise ValueError("execve: pick a program")
        self._call(pid, "execve", path)

    def _run(self) -> None:
        pid = self._need_pid()
        n = self._call(pid, "run", self._num(self.instructions, "instructions"))
        if pid not in self.kernel.processes:
            self._say(self.last_message + f" (process {pid} died: see the event log)", ok=False)
        else:
            assert isinstance(n, int)

    def _exit(self) -> None:
        self._call(self._need_pid(), "exit", 0)

    # ------------------------------------------------------------ mmap
    def mmap_args(self) -> tuple[int, int, int, int]:
        """``(length, prot, flags, offset)`` from the form (ValueError if not numbers)."""
        length = self._num(self.length, "length")
        offset = self._num(self.offset, "offset")
        prot = ((PROT_READ if self.prot_r.value else 0) | (PROT_WRITE if self.prot_w.value else 0)
                | (PROT_EXEC if self.prot_x.value else 0))
        flags = int(self.map_type.value)
        if self.file.value == ANON:
            flags |= MAP_ANONYMOUS
        if self.uninit.value:
            flags |= MAP_UNINITIALIZED
        if self.fixed.value:
            flags |= MAP_FIXED
        return length, prot, flags, offset

    def _mmap(self) -> None:
        pid = self._need_pid()
        addr = self._num(self.addr, "addr")
        length, prot, flags, offset = self.mmap_args()
        what = self.file.value
        if what == ANON:
            self._call(pid, "mmap", addr, length, prot, flags, -1, offset)
        elif str(what).startswith(FD_PREFIX):  # a descriptor the process opened itself
            self._call(pid, "mmap", addr, length, prot, flags, int(what[len(FD_PREFIX):]), offset)
        else:  # a path: open, map, close, as a one-line C program would
            fd = self.session.call(pid, "open", what, int(self.open_mode.value))
            try:
                self._call(pid, "mmap", addr, length, prot, flags, fd, offset)
            finally:
                self.session.call(pid, "close", fd)

    # ------------------------------------------------------------ munmap / mremap
    def _fill_unmap(self, change: dict[str, Any]) -> None:
        """Picking a mapping fills in its address and length (edit them for a partial unmap)."""
        v = self._vma_at(change["new"])
        if v is not None:
            self.unmap_addr.value = f"{v.start:#x}"
            self.unmap_length.value = f"{v.length:#x}"

    def _vma_at(self, i: Any) -> Any:
        p = self.kernel.processes.get(self.pid) if self.pid is not None else None
        if p is None or i is None or i == NONE:
            return None
        vmas = p.vmas()
        return vmas[i] if 0 <= i < len(vmas) else None

    def _unmap_range(self) -> tuple[int, int, int]:
        pid = self._need_pid()
        if not self.unmap_addr.value.strip():
            raise ValueError("pick a mapping first (or type its address and length)")
        return (pid, self._num(self.unmap_addr, "addr"),
                self._num(self.unmap_length, "length"))

    def _munmap(self) -> None:
        pid, addr, length = self._unmap_range()
        self._call(pid, "munmap", addr, length)

    def _mremap(self) -> None:
        pid, addr, length = self._unmap_range()
        new = self._num(self.new_length, "new length")
        self._call(pid, "mremap", addr, length, new, MREMAP_MAYMOVE if self.maymove.value else 0)

    def _on_trim(self, change: dict[str, Any]) -> None:
        if self._refreshing or change["new"] == self.kernel.nr_trim_pages:
            return
        self._guarded(lambda: self._call(None, "sysctl", "vm.nr_trim_pages", int(change["new"])))()

    # ------------------------------------------------------------ files and shm
    def _open_flags(self) -> int:
        return (int(self.access.value) | (O_CREAT if self.o_creat.value else 0)
                | (O_TRUNC if self.o_trunc.value else 0))

    def _open(self) -> None:
        fd = self._call(self._need_pid(), "open", self.path.value.strip(), self._open_flags(), 0o644)
        self._pick_fd(fd)

    def _shm_open(self) -> None:
        fd = self._call(self._need_pid(), "shm_open", self.path.value.strip(), self._open_flags(),
                        0o600)
        self._pick_fd(fd)

    def _pick_fd(self, fd: int) -> None:
        self.refresh()
        if fd in [v for _, v in self.fd.options]:
            self.fd.value = fd
        key = f"{FD_PREFIX}{fd}"
        if key in [v for _, v in self.file.options]:
            self.file.value = key  # ready to be mapped

    def _need_fd(self) -> int:
        if self.fd.value is None or self.fd.value == NONE:
            raise ValueError("pick an open file first (open or shm_open one)")
        return int(self.fd.value)

    def _write(self) -> None:
        self._call(self._need_pid(), "write", self._need_fd(),
                   parse_bytes(self.file_data.value))

    def _ftruncate(self) -> None:
        self._call(self._need_pid(), "ftruncate", self._need_fd(),
                   self._num(self.file_size, "size"))

    def _close(self) -> None:
        self._call(self._need_pid(), "close", self._need_fd())
        self.refresh()

    def _shmget(self) -> None:
        shmid = self._call(self._need_pid(), "shmget", self._num(self.shm_key, "key"),
                           self._num(self.shm_size, "size"), IPC_CREAT | 0o600)
        self.shm_id.value = str(shmid)

    def _shmat(self) -> None:
        self._call(self._need_pid(), "shmat", self._num(self.shm_id, "shmid"), 0, 0)

    # ------------------------------------------------------------ memory
    def _poke(self) -> None:
        self._call(self._need_pid(), "poke", self._num(self.mem_addr, "addr"),
                   parse_bytes(self.mem_data.value))

    def _peek(self) -> None:
        self._call(self._need_pid(), "peek", self._num(self.mem_addr, "addr"),
                   self._num(self.mem_count, "bytes"))

    def _tracee(self) -> int:
        if self.target.value is None or self.target.value == NONE:
            raise ValueError("pick the process to trace (the tracee)")
        return int(self.target.value)

    def _ptrace_attach(self) -> None:
        self._call(self._need_pid(), "ptrace_attach", self._tracee())

    def _ptrace_peek(self) -> None:
        self._call(self._need_pid(), "ptrace_peek", self._tracee(),
                   self._num(self.mem_addr, "addr"))

    def _ptrace_poke(self) -> None:
        self._call(self._need_pid(), "ptrace_poke", self._tracee(),
                   self._num(self.mem_addr, "addr"), parse_bytes(self.mem_data.value))

    def _futex(self) -> None:
        self._call(self._need_pid(), "futex", self._num(self.mem_addr, "addr"),
                   int(self.futex_op.value), self._num(self.futex_val, "val"))

    # ------------------------------------------------------------ flash and drivers
    def _flash(self, name: str, *args: Any, **kwargs: Any) -> None:
        if not hasattr(self.kernel, name):
            raise ValueError(f"this kernel model has no {name}(): flash operations are "
                             "not available")
        self._call(None, name, *args, **kwargs)
        mode = getattr(self.kernel.flash, "mode", None)
        self._say(self.last_message + f" (flash mode is now {getattr(mode, 'value', mode)})")

    def _program(self) -> None:
        self._flash("mtd_program", self._num(self.flash_offset, "flash offset"),
                    parse_bytes(self.flash_data.value), guard=bool(self.flash_guard.value))

    def _erase(self) -> None:
        self._flash("mtd_erase", self._num(self.flash_offset, "flash offset"),
                    guard=bool(self.flash_guard.value))

    def _complete(self) -> None:
        self._flash("mtd_complete")

    def driver(self) -> SimpleDriver:
        """The SimpleDriver the form describes (ValueError if a number is not one)."""
        bits = {"COPY": NOMMU_MAP_COPY, "DIRECT": NOMMU_MAP_DIRECT, "READ": NOMMU_MAP_READ,
                "WRITE": NOMMU_MAP_WRITE, "EXEC": NOMMU_MAP_EXEC}
        caps = None if self.drv_no_caps.value else sum(
            bits[n] for n, c in self.drv_caps.items() if c.value)
        path = self.drv_path.value.strip()
        pages = self._num(self.drv_pages, "memory pages")
        if pages < 0:
            raise ValueError("memory pages: a driver cannot set aside a negative number of pages")
        return SimpleDriver(path.rsplit("/", 1)[-1] or "mydev", capabilities=caps,
                            memory_pages=pages, unmapped_area=self.drv_gua.value)

    def _register(self) -> None:
        self._call(None, "register_driver", self.drv_path.value.strip(), self.driver())
        self.refresh()

    # ------------------------------------------------------------ refresh
    _refreshing = False

    def _files(self) -> tuple[list[str], list[str]]:
        """Mappable paths (regular files and devices) and programs, by walking the VFS."""
        from ..kernel.constants import S_IFBLK, S_IFCHR, S_IFREG

        k = self.kernel
        files: list[str] = []
        progs: list[str] = []
        stack = ["/"]
        while stack:
            path = stack.pop()
            node = k.lookup(path)
            if node is None or path.startswith("/proc"):
                continue
            if node.is_dir:
                for name in node.children:
                    stack.append(path.rstrip("/") + "/" + name)
            elif node.kind in (S_IFREG, S_IFCHR, S_IFBLK):
                files.append(path)
                if node.kind == S_IFREG and "/bin/" in path:
                    progs.append(path)
        return sorted(files), sorted(progs)

    def _refresh_vmas(self) -> None:
        p = self.kernel.processes.get(self.pid) if self.pid is not None else None
        opts = [(f"{v.start:#x}-{v.end:#x} {v.perms} {v.path or 'anon'}", i)
                for i, v in enumerate(p.vmas())] if p is not None else []
        keep = self.vma.value
        _set_options(self.vma, opts, "(no mapping)", prefer=opts[-1][1] if opts else None)
        if self.vma.value == keep:  # the same row may now be another mapping: re-read it
            self._fill_unmap({"new": self.vma.value})

    def _refresh_process(self) -> None:
        """The parts of the form that depend on the chosen process: its mappings and files."""
        k = self.kernel
        p = k.processes.get(self.pid) if self.pid is not None else None
        fds = sorted(p.fds.items()) if p is not None else []
        fd_opts = [(f"{fd} {getattr(f, 'path', '?')}", fd) for fd, f in fds if fd > 2]
        _set_options(self.fd, fd_opts, "(no open file)", prefer=fd_opts[-1][1] if fd_opts else None)
        files, _ = self._files()
        fopts = ([(ANON, ANON)] + [(f"fd {fd}: {getattr(f, 'path', '?')}", f"{FD_PREFIX}{fd}")
                                   for fd, f in fds if fd > 2] + [(f, f) for f in files])
        if list(self.file.options) != fopts:
            keep = self.file.value
            self.file.options = fopts
            self.file.value = keep if keep in [v for _, v in fopts] else ANON
        self._refresh_vmas()

    def refresh(self) -> None:
        """Re-read processes, files, mappings, the sysctl and the flash chip from the kernel."""
        k = self.kernel
        self._refreshing = True
        try:
            opts = [(f"{p.pid} {p.name}" + (" (waiting for vfork child)" if p.vfork_child else ""),
                     p.pid) for p in sorted(k.processes.values(), key=lambda p: p.pid)]
            _set_options(self.proc, opts, "(no process)", prefer=opts[-1][1] if opts else None)
            _set_options(self.target, opts, "(no process)",
                         prefer=opts[0][1] if opts else None)
            _, progs = self._files()
            if list(self.exec_path.options) != progs:
                self.exec_path.options = progs
                if progs:  # XIP from flash first: the case the lab is about
                    rom = [p for p in progs if p.startswith("/rom/")]
                    self.exec_path.value = (rom or progs)[0]
            self._refresh_process()
            self.trim.value = min(k.nr_trim_pages, MAX_TRIM)
            has_flash = hasattr(k, "mtd_program") and k.flash is not None
            for b in (self.b_program, self.b_erase, self.b_complete):
                b.disabled = not has_flash
        finally:
            self._refreshing = False
        self.redraws += 1

    def describe(self) -> str:
        """The chosen process, the form and the last message."""
        return (f"Controls: process {self.pid}; mmap length {self.length.value!r} "
                f"file {self.file.value}; last: {self.last_message or '-'}")


class TimeTravel(View):
    """Step back and forward through the calls made, show and replay a recording."""

    HISTORY_ROWS = 8

    def __init__(self, session: Session, hold: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        super().__init__(session.kernel)
        self.session = session
        self._hold = hold or nullcontext
        self.add_class("nl-timetravel")
        self.b_back = _button("◀ back", "nl-back", "", "undo the last call (rebuilds the machine)")
        self.b_forward = _button("forward ▶", "nl-forward", "", "redo the next call")
        self.position = W.HTML()
        self.position.add_class("nl-position")
        # no readout: the position line says "call N of M", and the slider's readout
        # measures its own text width on every update (a forced layout of the whole page)
        self.timeline = W.IntSlider(value=0, min=0, max=0, description="call",
                                    continuous_update=False, readout=False,
                                    layout=W.Layout(width="28em"))
        self.timeline.add_class("nl-timeline")
        self.timeline.observe(self._on_timeline, names="value")
        self._syncing = False
        self.b_show = _button("show recording", "nl-show-recording", "", "the calls as JSON")
        self.b_replay = _button("replay", "nl-replay", "success",
                                "start again from the board and make the calls in the box")
        self.text = W.Textarea(placeholder="a recording (JSON) to replay",
                               layout=W.Layout(width="auto", height="90px"))
        self.text.add_class("nl-recording")
        self.history = W.HTML()
        self.history.add_class("nl-history")
        self.message = W.HTML()
        self.message.add_class("nl-tt-message")
        self.b_back.on_click(self._guarded(self.session_back))
        self.b_forward.on_click(self._guarded(self.session_forward))
        self.b_show.on_click(self._guarded(self.show_recording))
        self.b_replay.on_click(self._guarded(self.replay_text))
        self.children = (W.HTML("<b>Time travel</b> (every call is recorded)"),
                         _row(self.b_back, self.b_forward, self.position), self.timeline,
                         self.history, _row(self.b_show, self.b_replay), self.text, self.message)
        self.refresh()

    def _guarded(self, fn: Callable[[], None]) -> Callable[[Any], None]:
        def handler(_b: Any = None) -> None:
            try:
                with self._hold():
                    fn()
            except (ValueError, TypeError, KernelError) as e:
                self.message.value = f"<span class='nl-error'>{html_escape(str(e))}</span>"
            except Exception as e:
                self.message.value = (f"<span class='nl-error'>Unexpected error in nommu-lab "
                                      f"({type(e).__name__}): {html_escape(str(e))}</span>")
        return handler

    def _on_timeline(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return

        def jump() -> None:
            self.session.goto(int(change["new"]))
            self.refresh()
        self._guarded(jump)()

    def session_back(self) -> None:
        """Step one call back (warning if code changed the kernel behind the lab's back)."""
        lost = self.session.outside_changes
        self.session.back()
        self.message.value = ("<span class='nl-error'>Calls made on the kernel in code (not "
                              "through the lab) were not recorded: the rebuilt machine does not "
                              "have them. Use lab.call(pid, name, *args) to record them.</span>"
                              if lost else "")
        self.refresh()

    def session_forward(self) -> None:
        """Step one call forward."""
        self.session.forward()
        self.refresh()

    def show_recording(self) -> None:
        """Put the session's recording in the text box."""
        self.text.value = self.session.to_json()
        self.message.value = f"{len(self.session.calls)} call(s) recorded"

    def replay_text(self) -> None:
        """Replay the recording in the text box from the starting machine."""
        if not self.text.value.strip():
            raise ValueError("paste a recording (JSON) into the box first")
        self.session.load(self.text.value)
        self.message.value = f"replayed {len(self.session.calls)} call(s)"
        self.refresh()

    def refresh(self) -> None:
        """Show the position and the calls around it, flags named."""
        s = self.session
        self.position.value = f"<span class='nl-position-text'>call {s.position} of {len(s.calls)}</span>"
        self.b_back.disabled = not s.can_back
        self.b_forward.disabled = not s.can_forward
        self._syncing = True
        try:
            with self.timeline.hold_sync():  # one message to the browser, not three
                self.timeline.max = max(len(s.calls), self.timeline.min)
                self.timeline.value = s.position
                self.timeline.disabled = not s.calls
        finally:
            self._syncing = False
        lines = s.describe().splitlines()[1:]
        lo = max(0, min(s.position - self.HISTORY_ROWS // 2, len(lines) - self.HISTORY_ROWS))
        shown = lines[lo:lo + self.HISTORY_ROWS]
        self.history.value = ("<pre class='nl-history-text'>" + html_escape("\n".join(shown)) + "</pre>"
                              if shown else "")
        self.redraws += 1

    def describe(self) -> str:
        """The history with the current position marked."""
        return self.session.describe()
