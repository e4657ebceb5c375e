"""Controls that make calls, and the time-travel bar.

Every button goes through a :class:`~nommu_lab.session.Session`, so each call
is recorded and can be stepped over. A refused call shows the kernel's own
sentence (errno, rule, what to do); input that is not a number shows what
was expected. No handler lets an exception reach the browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..kernel import KernelError
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_UNINITIALIZED,
    MREMAP_MAYMOVE,
    O_RDONLY,
    O_RDWR,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from .base import View, html_escape
from .tables import _set_options

if TYPE_CHECKING:
    from ..session import Session

NONE = -1
ANON = "(anonymous)"
MAX_TRIM = 32
_SUFFIX = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
           "p": 4096, "page": 4096, "pages": 4096}
_NUM = re.compile(r"^\s*(0x[0-9a-f]+|\d+)\s*([a-z]*)\s*$", re.I)


def parse_size(text: str, what: str, page_size: int = 4096) -> int:
    """A number typed by a learner: ``4096``, ``0x1000``, ``12K``, ``3 pages``, ``3*4096``.

    Raises ValueError with a sentence naming the field and the forms accepted.
    """
    product = 1
    parts = str(text).split("*")
    for part in parts:
        m = _NUM.match(part)
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _SUFFIX:
            raise ValueError(f"{what}: {text!r} is not a number (try 4096, 0x1000, 12K, "
                             "3 pages or 3*4096)")
        scale = page_size if unit in ("p", "page", "pages") else _SUFFIX[unit]
        product *= int(m.group(1), 0) * scale
    if product >= 1 << 64:
        raise ValueError(f"{what}: {text!r} does not fit in 64 bits")
    return product


def parse_bytes(text: str) -> bytes:
    """Data for the flash form: ``hex:deadbeef`` or plain text (UTF-8)."""
    t = str(text)
    if t.lower().startswith("hex:"):
        try:
            return bytes.fromhex(t[4:])
        except ValueError:
            raise ValueError(f"data: {t[4:]!r} is not hex digits in pairs") from None
    if not t:
        raise ValueError("data: type some bytes to program (text, or hex:0011aa)")
    return t.encode()


def _button(label: str, cls: str, style: str = "", tip: str = "") -> W.Button:
    b = W.Button(description=label, button_style=style, tooltip=tip or label,
                 layout=W.Layout(width="auto"))
    b.add_class("nl-button")
    b.add_class(cls)
    return b


def _text(value: str, cls: str, desc: str, width: str = "180px") -> W.Text:
    t = W.Text(value=value, description=desc, layout=W.Layout(width=width),
               style={"description_width": "initial"})
    t.add_class(cls)
    return t


class Controls(View):
    """Pick a process and make calls: spawn/vfork/exec/exit, mmap/munmap/mremap,
    ``vm.nr_trim_pages``, flash program/erase.

    ``status`` shows the last outcome: the result, the kernel's refusal
    sentence, or what was wrong with the form.
    """

    def __init__(self, session: Session, hold: Callable[[], AbstractContextManager[Any]] | None = None,
                 compact: bool = False) -> None:
        super().__init__(session.kernel)
        self.session = session
        self._hold = hold or nullcontext
        self.add_class("nl-controls")
        self.last_message = ""
        self.last_ok = True

        # processes
        self.proc = W.Dropdown(options=[("(no process)", NONE)], value=NONE, description="Process",
                               layout=W.Layout(width="230px"))
        self.proc.add_class("nl-proc")
        self.name = _text("app", "nl-spawn-name", "name", "130px")
        self.b_spawn = _button("spawn", "nl-spawn", "info", "start a new process with an empty mm")
        self.b_vfork = _button("vfork", "nl-vfork", "", "child shares the mm; parent waits")
        self.exec_path = W.Dropdown(options=[], description="exec", layout=W.Layout(width="250px"))
        self.exec_path.add_class("nl-exec-path")
        self.b_exec = _button("execve", "nl-exec", "", "load a program into this process")
        self.b_exit = _button("exit", "nl-exit", "warning", "the process exits; its VMAs go")

        # mmap form
        self.length = _text("3 pages", "nl-mmap-length", "length")
        self.prot_r = W.Checkbox(value=True, description="PROT_READ", indent=False,
                                 layout=W.Layout(width="auto"))
        self.prot_w = W.Checkbox(value=True, description="PROT_WRITE", indent=False,
                                 layout=W.Layout(width="auto"))
        self.prot_x = W.Checkbox(value=False, description="PROT_EXEC", indent=False,
                                 layout=W.Layout(width="auto"))
        for c, cls in ((self.prot_r, "nl-prot-read"), (self.prot_w, "nl-prot-write"),
                       (self.prot_x, "nl-prot-exec")):
            c.add_class(cls)
        self.map_type = W.ToggleButtons(options=[("MAP_PRIVATE", MAP_PRIVATE), ("MAP_SHARED", MAP_SHARED)],
                                        value=MAP_PRIVATE, style={"button_width": "110px"})
        self.map_type.add_class("nl-map-type")
        self.uninit = W.Checkbox(value=False, description="MAP_UNINITIALIZED", indent=False,
                                 layout=W.Layout(width="auto"))
        self.uninit.add_class("nl-map-uninitialized")
        self.fixed = W.Checkbox(value=False, description="MAP_FIXED", indent=False,
                                layout=W.Layout(width="auto"))
        self.fixed.add_class("nl-map-fixed")
        self.file = W.Dropdown(options=[ANON], value=ANON, description="file",
                               layout=W.Layout(width="260px"))
        self.file.add_class("nl-mmap-file")
        self.open_mode = W.Dropdown(options=[("O_RDONLY", O_RDONLY), ("O_RDWR", O_RDWR)],
                                    value=O_RDONLY, layout=W.Layout(width="110px"))
        self.open_mode.add_class("nl-open-mode")
        self.offset = _text("0", "nl-mmap-offset", "offset", "140px")
        self.b_mmap = _button("mmap", "nl-mmap", "primary", "open the file (if any), mmap, close")

        # munmap / mremap
        self.vma = W.Dropdown(options=[("(no mapping)", NONE)], value=NONE, description="mapping",
                              layout=W.Layout(width="330px"))
        self.vma.add_class("nl-vma-pick")
        self.new_length = _text("1 page", "nl-mremap-length", "new length", "170px")
        self.b_munmap = _button("munmap", "nl-munmap", "danger", "unmap the whole mapping")
        self.b_mremap = _button("mremap", "nl-mremap", "", "resize the mapping in place")

        # sysctl and flash
        self.trim = W.IntSlider(value=session.kernel.nr_trim_pages, min=0, max=MAX_TRIM,
                                description="vm.nr_trim_pages", continuous_update=False,
                                style={"description_width": "initial"}, layout=W.Layout(width="330px"))
        self.trim.add_class("nl-trim")
        self.trim.observe(self._on_trim, names="value")
        self.flash_offset = _text("0x80000", "nl-flash-offset", "flash offset", "190px")
        self.flash_data = _text("hex:c0ffee", "nl-flash-data", "data", "170px")
        self.flash_guard = W.Checkbox(value=False, description="guard", indent=False,
                                      layout=W.Layout(width="auto"))
        self.flash_guard.add_class("nl-flash-guard")
        self.b_program = _button("program", "nl-flash-program", "", "start a program operation")
        self.b_erase = _button("erase", "nl-flash-erase", "", "start a block erase")
        self.b_complete = _button("complete", "nl-flash-complete", "", "the operation finishes")

        self.status = W.HTML()
        self.status.add_class("nl-status")

        for b, fn in ((self.b_spawn, self._spawn), (self.b_vfork, self._vfork),
                      (self.b_exec, self._exec), (self.b_exit, self._exit),
                      (self.b_mmap, self._mmap), (self.b_munmap, self._munmap),
                      (self.b_mremap, self._mremap), (self.b_program, self._program),
                      (self.b_erase, self._erase), (self.b_complete, self._complete)):
            b.on_click(self._guarded(fn))
        self.proc.observe(lambda _c: self._refresh_vmas(), names="value")

        row = W.HBox
        wrap = W.Layout(flex_flow="row wrap", align_items="center")
        self.children = (
            W.HTML("<b>Processes</b>"),
            row([self.proc, self.name, self.b_spawn, self.b_vfork, self.b_exit], layout=wrap),
            row([self.exec_path, self.b_exec], layout=wrap),
            W.HTML("<b>mmap</b>"),
            row([self.length, self.prot_r, self.prot_w, self.prot_x], layout=wrap),
            row([self.map_type, self.uninit, self.fixed], layout=wrap),
            row([self.file, self.open_mode, self.offset, self.b_mmap], layout=wrap),
            W.HTML("<b>munmap / mremap</b>"),
            row([self.vma, self.new_length, self.b_munmap, self.b_mremap], layout=wrap),
            row([self.trim], layout=wrap),
            W.HTML("<b>NOR flash</b> (a program or erase makes the chip answer reads with status bytes)"),
            row([self.flash_offset, self.flash_data, self.flash_guard, self.b_program,
                 self.b_erase, self.b_complete], layout=wrap),
            self.status,
        )
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

    def _call(self, pid: int | None, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.session.call(pid, name, *args, **kwargs)

    def _select_pid(self, pid: int) -> None:
        self.refresh()
        if pid in [v for _, v in self.proc.options]:
            self.proc.value = pid

    # ------------------------------------------------------------ actions
    def _spawn(self) -> None:
        name = self.name.value.strip() or "app"
        p = self._call(None, "spawn", name)
        self._select_pid(p.pid)
        self._say(f"spawn({name!r}) -> pid {p.pid}")

    def _vfork(self) -> None:
        pid = self._need_pid()
        c = self._call(pid, "vfork")
        self._select_pid(c.pid)
        self._say(f"pid {pid}: vfork() -> child {c.pid}; parent {pid} waits until the child "
                  "calls execve() or exit()")

    def _exec(self) -> None:
        pid = self._need_pid()
        path = self.exec_path.value
        if not path:
            raise ValueError("exec: pick a program")
        self._call(pid, "execve", path)
        self._say(f"pid {pid}: execve({path!r}) -> 0")

    def _exit(self) -> None:
        pid = self._need_pid()
        self._call(pid, "exit", 0)
        self._say(f"pid {pid} exited")

    def mmap_args(self) -> tuple[int, int, int, int]:
        """``(length, prot, flags, offset)`` from the form (ValueError if malformed)."""
        ps = self.kernel.page_size
        length = parse_size(self.length.value, "length", ps)
        offset = parse_size(self.offset.value, "offset", ps)
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
        length, prot, flags, offset = self.mmap_args()
        path = self.file.value
        if path == ANON:
            addr = self._call(pid, "mmap", 0, length, prot, flags, -1, offset)
            self._say(f"pid {pid}: mmap(anonymous, {length:#x} bytes) -> {addr:#x}")
            return
        fd = self._call(pid, "open", path, int(self.open_mode.value))
        try:
            addr = self._call(pid, "mmap", 0, length, prot, flags, fd, offset)
        finally:
            self._call(pid, "close", fd)
        self._say(f"pid {pid}: mmap({path}, {length:#x} bytes at offset {offset:#x}) -> {addr:#x}")

    def _chosen_vma(self) -> Any:
        pid = self._need_pid()
        i = self.vma.value
        vmas = self.kernel.process(pid).vmas()
        if i == NONE or i >= len(vmas):
            raise ValueError("pick a mapping first")
        return pid, vmas[i]

    def _munmap(self) -> None:
        pid, v = self._chosen_vma()
        self._call(pid, "munmap", v.start, v.length)
        self._say(f"pid {pid}: munmap({v.start:#x}, {v.length:#x}) -> 0")

    def _mremap(self) -> None:
        pid, v = self._chosen_vma()
        new = parse_size(self.new_length.value, "new length", self.kernel.page_size)
        addr = self._call(pid, "mremap", v.start, v.length, new, MREMAP_MAYMOVE)
        self._say(f"pid {pid}: mremap({v.start:#x}, {v.length:#x} -> {new:#x}) -> {addr:#x}")

    def _on_trim(self, change: dict[str, Any]) -> None:
        if self._refreshing or change["new"] == self.kernel.nr_trim_pages:
            return

        def act() -> None:
            self._call(None, "sysctl", "vm.nr_trim_pages", int(change["new"]))
            self._say(f"vm.nr_trim_pages = {change['new']}")
        self._guarded(act)()

    def _flash(self, name: str, *args: Any, **kwargs: Any) -> None:
        if not hasattr(self.kernel, name):
            raise ValueError(f"this kernel model has no {name}() yet: flash operations are "
                             "not available")
        self._call(None, name, *args, **kwargs)
        mode = getattr(self.kernel.flash, "mode", None)
        self._say(f"{name} done; flash mode is now {getattr(mode, 'value', mode)}")

    def _program(self) -> None:
        off = parse_size(self.flash_offset.value, "flash offset")
        self._flash("mtd_program", off, parse_bytes(self.flash_data.value),
                    guard=bool(self.flash_guard.value))

    def _erase(self) -> None:
        off = parse_size(self.flash_offset.value, "flash offset")
        self._flash("mtd_erase", off, guard=bool(self.flash_guard.value))

    def _complete(self) -> None:
        self._flash("mtd_complete")

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
        _set_options(self.vma, opts, "(no mapping)", prefer=opts[-1][1] if opts else None)

    def refresh(self) -> None:
        """Re-read processes, files, mappings and the sysctl from the kernel."""
        k = self.kernel
        self._refreshing = True
        try:
            opts = [(f"{p.pid} {p.name}" + (" (waiting for vfork child)" if p.vfork_child else ""),
                     p.pid) for p in sorted(k.processes.values(), key=lambda p: p.pid)]
            _set_options(self.proc, opts, "(no process)", prefer=opts[-1][1] if opts else None)
            files, progs = self._files()
            fopts = [ANON, *files]
            if list(self.file.options) != fopts:
                keep = self.file.value
                self.file.options = fopts
                self.file.value = keep if keep in fopts else ANON
            if list(self.exec_path.options) != progs:
                self.exec_path.options = progs
                if progs:  # XIP from flash first: the case the lab is about
                    rom = [p for p in progs if p.startswith("/rom/")]
                    self.exec_path.value = (rom or progs)[0]
            self._refresh_vmas()
            self.trim.value = min(k.nr_trim_pages, MAX_TRIM)
            has_flash = hasattr(k, "mtd_program") and k.flash is not None
            for b in (self.b_program, self.b_erase, self.b_complete):
                b.disabled = not has_flash
        finally:
            self._refreshing = False
        self.redraws += 1

    def describe(self) -> str:
        """The chosen process, the form and the last message."""
        length = self.length.value
        return (f"Controls: process {self.pid}; mmap length {length!r} "
                f"file {self.file.value}; last: {self.last_message or '-'}")


class TimeTravel(View):
    """Step back and forward through the calls made, show and replay a recording."""

    def __init__(self, session: Session, hold: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        super().__init__(session.kernel)
        self.session = session
        self._hold = hold or nullcontext
        self.add_class("nl-timetravel")
        self.b_back = _button("◀ back", "nl-back", "", "undo the last call (rebuilds the machine)")
        self.b_forward = _button("forward ▶", "nl-forward", "", "redo the next call")
        self.position = W.HTML()
        self.position.add_class("nl-position")
        self.timeline = W.IntSlider(value=0, min=0, max=0, description="call",
                                    continuous_update=False, layout=W.Layout(width="320px"))
        self.timeline.add_class("nl-timeline")
        self.timeline.observe(self._on_timeline, names="value")
        self._syncing = False
        self.b_show = _button("show recording", "nl-show-recording", "", "the calls as JSON")
        self.b_replay = _button("replay", "nl-replay", "success",
                                "start again from the board and make the calls in the box")
        self.text = W.Textarea(placeholder="a recording (JSON) to replay",
                               layout=W.Layout(width="100%", height="90px"))
        self.text.add_class("nl-recording")
        self.history = W.HTML()
        self.history.add_class("nl-history")
        self.message = W.HTML()
        self.message.add_class("nl-tt-message")
        self.b_back.on_click(self._guarded(self.session_back))
        self.b_forward.on_click(self._guarded(self.session_forward))
        self.b_show.on_click(self._guarded(self.show_recording))
        self.b_replay.on_click(self._guarded(self.replay_text))
        self.children = (W.HBox([self.b_back, self.b_forward, self.position]), self.timeline,
                         self.history,
                         W.HBox([self.b_show, self.b_replay]), self.text, self.message)
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
        """Show the position and the last few calls."""
        s = self.session
        self.position.value = f"<span class='nl-position-text'>call {s.position} of {len(s.calls)}</span>"
        self.b_back.disabled = not s.can_back
        self.b_forward.disabled = not s.can_forward
        self._syncing = True
        try:
            self.timeline.max = max(len(s.calls), self.timeline.min)
            self.timeline.value = s.position
            self.timeline.disabled = not s.calls
        finally:
            self._syncing = False
        lines = s.describe().splitlines()[1:]
        lo = max(0, s.position - 4)
        shown = lines[lo:lo + 8]
        self.history.value = ("<pre class='nl-history-text'>" + html_escape("\n".join(shown)) + "</pre>"
                              if shown else "")
        self.redraws += 1

    def describe(self) -> str:
        """The history with the current position marked."""
        return self.session.describe()

