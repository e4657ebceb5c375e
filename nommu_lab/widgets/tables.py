"""Tables linked to the RAM map: regions, a process's VMAs, devices, the event log.

Each table lists what the kernel reports (``Kernel.regions()``,
``Process.vmas()``, the mount table and drivers, the trace). Picking a row
sets the shared :class:`~nommu_lab.widgets.base.Selection`, and the RAM map
highlights the frames behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..kernel import EventKind
from ..kernel.constants import S_IFREG
from ..kernel.mmap import CAPS_NOT_ASKED, capabilities_last_answered, mmap_capabilities_of
from ..kernel.vfs import capability_names
from .base import Selection, View, address_ranges_to_frames, html_escape, touched_frames

if TYPE_CHECKING:
    from ..kernel import Kernel

NONE = -1  # option value meaning "nothing selected"
EVENT_ROWS = 100  # newest events listed in the log (older ones stay in k.trace); each call resends them
ALL_CAPS = ("COPY", "DIRECT", "READ", "WRITE", "EXEC")


def _rows_layout(rows: int) -> W.Layout:
    return W.Layout(width="auto")  # stretched by the view's box (width 100% would add the margins)


def _select(rows: int, cls: str) -> W.Select:
    s = W.Select(options=[("(none)", NONE)], value=NONE, rows=rows, layout=_rows_layout(rows))
    s.add_class("nl-table")
    s.add_class(cls)
    return s


def _set_options(sel: Any, options: list[tuple[str, Any]], empty: str = "(none)",
                 prefer: Any = None) -> None:
    """Replace a Select's or Dropdown's rows, keeping the chosen value when it is still there.

    ``prefer`` is chosen when the old value is gone (None: the "nothing" row).
    """
    keep = sel.value
    values = [v for _, v in options]
    opts = [(empty, NONE), *options] if prefer is None or not options else list(options)
    if keep in values:
        target = keep
    elif prefer is not None and options:
        target = prefer if prefer in values else values[-1]
    else:
        target = opts[0][1]
    with sel.hold_sync():  # the rows and the chosen row reach the browser as one message
        if list(sel.options) != opts:
            sel.options = opts  # resets the value; set it again below
        if sel.value != target:
            sel.value = target


def _region_where(k: Kernel, start: int, end: int) -> str:
    """Where an address range lives, for ranges outside RAM."""
    if k.mem.contains(start):
        return ""
    for chip in k.bus:
        if chip.contains(start):
            return (f"{start:#x}-{end:#x} is in {chip.name} (NOR flash at {chip.base:#x}), "
                    "mapped in place: no RAM frames used")
    return f"{start:#x}-{end:#x} is outside RAM"


def _region_name(v: Any) -> str:
    """``R<id>`` of a VMA's region (an MMU kernel's VMAs have none: ``-``)."""
    r = getattr(v, "region", None)
    return f"R{r.id}" if r is not None else "-"


# ---------------------------------------------------------------------------
class RegionsView(View):
    """``/proc/maps``: every region on the machine with its usage count.

    Kind ``copy`` means the kernel allocated the frames (``VM_MAPPED_COPY``);
    ``direct`` means the region points at memory that already existed (flash,
    page cache, frame buffer).
    """

    HEADER = "start   -end      perm pgoff    usage kind   slack path"  # slack in pages

    def __init__(self, kernel: Kernel, selection: Selection | None = None, rows: int = 8) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-regions")
        self.header = W.HTML(f"<pre class='nl-header'>{self.HEADER}</pre>")
        self.table = _select(rows, "nl-regions-table")
        self.table.observe(self._on_pick, names="value")
        self.children = (W.HTML("<b>Regions</b> (/proc/maps: one per distinct piece of mapped memory)"),
                         self.header, self.table)
        self.refresh()

    def rows(self) -> list[str]:
        """One text row per region, in address order."""
        out = []
        for r in self.kernel.regions():
            slack = r.slack // self.kernel.page_size
            out.append(f"{r.start:08x}-{r.end:08x} {r.perms} {r.pgoff:08x} {r.usage:>5} "
                       f"{'copy' if r.copy else 'direct':6} {slack:>5} {r.path or '[anon]'}")
        return out

    def refresh(self) -> None:
        """Re-list the regions."""
        regions = self.kernel.regions()
        _set_options(self.table, list(zip(self.rows(), [r.id for r in regions], strict=True)))
        self.redraws += 1

    def select_region(self, region_id: int) -> None:
        """Pick a region by id (as clicking its row does)."""
        self.table.value = region_id

    def _on_pick(self, change: dict[str, Any]) -> None:
        rid = change["new"]
        if rid == NONE:
            return
        for r in self.kernel.regions():
            if r.id == rid:
                end = max(r.top, r.end)
                self.selection.set(address_ranges_to_frames(self.kernel, r.start, end),
                                   f"region R{r.id} {r.path or 'anonymous'} "
                                   f"{r.start:#x}-{r.end:#x} (usage {r.usage})",
                                   _region_where(self.kernel, r.start, end))
                return

    def describe(self) -> str:
        """The table as text."""
        rows = self.rows()
        return "\n".join([f"Regions ({len(rows)})", self.HEADER, *rows])


# ---------------------------------------------------------------------------
class VmaView(View):
    """``/proc/<pid>/maps`` of one process: its VMAs, each a window on a region."""

    HEADER = "start   -end      perm pgoff    region path"

    def __init__(self, kernel: Kernel, selection: Selection | None = None, rows: int = 6) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-vmas")
        self.pid = W.Dropdown(options=[("(no process)", NONE)], value=NONE, description="Process",
                              layout=W.Layout(width="260px"))
        self.pid.add_class("nl-vma-pid")
        self._wanted: int | None = None
        self.pid.observe(self._on_pid, names="value")
        self.table = _select(rows, "nl-vmas-table")
        self.table.observe(self._on_pick, names="value")
        self.children = (W.HTML("<b>VMAs</b> (/proc/&lt;pid&gt;/maps)"), self.pid,
                         W.HTML(f"<pre class='nl-header'>{self.HEADER}</pre>"), self.table)
        self.refresh()

    def _on_pid(self, change: dict[str, Any]) -> None:
        if change["new"] != NONE:
            self._wanted = change["new"]
        self.refresh()

    def show(self, pid: int) -> None:
        """Show ``pid``'s VMAs (now, or as soon as the process appears in the list)."""
        self._wanted = pid
        if pid in [v for _, v in self.pid.options]:
            self.pid.value = pid

    def _proc_options(self) -> list[tuple[str, int]]:
        return [(f"{p.pid} {p.name}", p.pid) for p in sorted(self.kernel.processes.values(),
                                                              key=lambda p: p.pid)]

    def rows(self, pid: int) -> list[str]:
        """One text row per VMA of ``pid``."""
        p = self.kernel.processes.get(pid)
        if p is None:
            return []
        return [f"{v.start:08x}-{v.end:08x} {v.perms} {v.pgoff:08x} {_region_name(v):<6} "
                f"{v.path or '[anon]'}" for v in p.vmas()]

    def refresh(self) -> None:
        """Re-list processes and the chosen process's VMAs."""
        opts = self._proc_options()
        _set_options(self.pid, opts, "(no process)", prefer=opts[-1][1] if opts else None)
        if self._wanted is not None and self._wanted != self.pid.value and \
                self._wanted in [v for _, v in opts]:
            self.pid.value = self._wanted
        pid = self.pid.value
        rows = self.rows(pid)
        _set_options(self.table, [(row, i) for i, row in enumerate(rows)])
        self.redraws += 1

    def _on_pick(self, change: dict[str, Any]) -> None:
        i = change["new"]
        p = self.kernel.processes.get(self.pid.value)
        if i == NONE or p is None:
            return
        vmas = p.vmas()
        if i >= len(vmas):
            return
        v = vmas[i]
        self.selection.set(address_ranges_to_frames(self.kernel, v.start, v.end),
                           f"VMA of pid {p.pid} {v.start:#x}-{v.end:#x} {v.perms} "
                           f"{v.path or 'anonymous'} (region {_region_name(v)})",
                           _region_where(self.kernel, v.start, v.end))

    def describe(self) -> str:
        """Every process's maps, by pid."""
        out = []
        for _, pid in self._proc_options():
            p = self.kernel.processes[pid]
            out.append(f"pid {pid} ({p.name}):")
            out.extend("  " + row for row in self.rows(pid))
        return "\n".join(out) if out else "no processes"


# ---------------------------------------------------------------------------
def _caps_of_ops(kernel: Kernel, ops: Any, kind: int | None,
                 path: str = "") -> tuple[list[str] | None, str]:
    """Capability names of a driver and where they come from, without calling it.

    ``None`` names means the file has no mmap method at all. Without an
    ``mmap_capabilities`` method, validate_mmap_request falls back to a
    default by file type; the same fallback is shown here, marked as such.
    A driver whose word only its own method can give (a learner's, which may
    log its calls) is never asked by a view: the table shows what it answered
    the kernel the last time ``path`` was mapped, if the event log holds that.
    """
    caps, source = mmap_capabilities_of(ops, kind if kind is not None else 0, observe=True)
    if caps is None:
        return None, "no mmap method: ENODEV"
    if caps == CAPS_NOT_ASKED:
        seen = capabilities_last_answered(kernel, path) if path else None
        if seen is None:
            return [], f"{source}; not asked yet"
        return capability_names(seen), f"{ops.name}'s mmap_capabilities, as answered at the last mmap"
    if caps < 0:
        return [], source
    return capability_names(caps), source


def _is_regular_file(k: Kernel, path: str) -> bool:
    """A file whose data is page cache (a device node's memory is the driver's own)."""
    node = k.lookup(path)
    return node is not None and node.is_reg


def _badges(names: list[str] | None) -> str:
    if names is None:
        return '<span class="nl-badge nl-badge-none">NO MMAP</span>'
    return "".join(
        f'<span class="nl-badge nl-badge-{c.lower()} {"on" if c in names else "off"}">{c}</span>'
        for c in ALL_CAPS)


class DevicesView(View):
    """Mounts and devices with their mmap capabilities, the flash chip's mode,
    and the regions that map device memory directly."""

    def __init__(self, kernel: Kernel, selection: Selection | None = None) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-devices")
        self.html = W.HTML()
        self.children = (self.html,)
        self.refresh()

    # ---------------------------------------------------------------- data
    def _mount_rows(self) -> list[tuple[str, str, str, list[str] | None, str]]:
        k = self.kernel
        out = []
        for path, m in sorted(k.mounts.items()):
            ops = m.sb.file_ops
            if ops is None:  # find the operations of a regular file on it
                stack = [m.root]
                while stack and ops is None:
                    node = stack.pop()
                    for child in node.children.values():
                        if child.kind == S_IFREG:
                            ops = child.fops
                            break
                        if child.is_dir:
                            stack.append(child)
            if ops is None:
                caps, why = None, "no regular files"
            else:
                caps, why = _caps_of_ops(k, ops, S_IFREG)
            ro = " ro" if m.sb.readonly else ""
            out.append((path, f"{m.sb.fstype}{ro}", m.sb.source, caps, why))
        return out

    def _device_rows(self) -> list[tuple[str, str, list[str] | None, str]]:
        k = self.kernel
        out = []
        for path, ops in sorted(k.devices.items()):
            node = k.lookup(path)
            caps, why = _caps_of_ops(k, ops, node.kind if node is not None else None, path)
            out.append((path, ops.describe(), caps, why))
        return out

    def _direct_regions(self, lo: int, hi: int) -> list[str]:
        return [f"R{r.id} {r.start:#x}-{r.end:#x} {r.path or 'anon'} (usage {r.usage})"
                for r in self.kernel.regions() if not r.copy and lo <= r.start < hi]

    def _memory_rows(self) -> list[tuple[str, str, list[str]]]:
        """Device memory the CPU can address, its state, and who maps it directly."""
        k = self.kernel
        out = []
        for chip in k.bus:
            mode = getattr(chip.mode, "value", str(chip.mode))
            out.append((f"{chip.name} NOR flash {chip.base:#x}-{chip.base + chip.size:#x}",
                        f"mode {mode}", self._direct_regions(chip.base, chip.base + chip.size)))
        fb = getattr(k, "fb", None)
        if fb is not None:
            out.append((f"{fb.name} frame buffer {fb.screen_base:#x}-{fb.screen_base + fb.size:#x}",
                        "RAM set aside at boot",
                        self._direct_regions(fb.screen_base, fb.screen_base + fb.size)))
        shown = {r for _, _, regs in out for r in regs}
        for path in sorted(k.devices):  # a driver's own RAM (a ramdisk, a learner's device)
            regs = [f"R{r.id} {r.start:#x}-{r.end:#x} {r.path} (usage {r.usage})"
                    for r in k.regions() if not r.copy and r.path == path and k.mem.contains(r.start)]
            regs = [r for r in regs if r not in shown]
            if regs:
                out.append((f"{path} driver memory", "RAM set aside for the driver", regs))
        for path, m in sorted(k.mounts.items()):
            if m.sb.fstype in ("ramfs", "tmpfs", "rootfs", "devtmpfs"):
                regs = [f"R{r.id} {r.start:#x}-{r.end:#x} {r.path} (usage {r.usage})"
                        for r in k.regions() if not r.copy and r.path and k.mount_of(r.path).path == path
                        and k.mem.contains(r.start) and _is_regular_file(k, r.path)]
                if regs:
                    out.append((f"{path} page cache", m.sb.fstype, regs))
        return out

    # ---------------------------------------------------------------- views
    def refresh(self) -> None:
        """Redraw the three tables."""
        esc = html_escape
        parts = ['<div class="nl-devices-body"><b>Mounts</b><table class="nl-dev-table">'
                 "<tr><th>mount</th><th>type</th><th>source</th><th>mmap capabilities</th></tr>"]
        for path, fstype, source, caps, why in self._mount_rows():
            parts.append(f"<tr><td>{esc(path)}</td><td>{esc(fstype)}</td><td>{esc(source)}</td>"
                         f"<td>{_badges(caps)} <i>{esc(why)}</i></td></tr>")
        parts.append("</table><b>Devices</b><table class='nl-dev-table'>"
                     "<tr><th>node</th><th>driver</th><th>mmap capabilities</th></tr>")
        for path, desc, caps, why in self._device_rows():
            parts.append(f"<tr><td>{esc(path)}</td><td>{esc(desc)}</td>"
                         f"<td>{_badges(caps)} <i>{esc(why)}</i></td></tr>")
        parts.append("</table><b>Device memory and direct mappings</b><table class='nl-dev-table'>"
                     "<tr><th>memory</th><th>state</th><th>regions mapping it directly</th></tr>")
        for what, state, regs in self._memory_rows():
            cls = "nl-flash-busy" if "flash" in what and "read-array" not in state else ""
            parts.append(f"<tr><td>{esc(what)}</td><td class='nl-mode {cls}'>{esc(state)}</td>"
                         f"<td>{'<br>'.join(esc(r) for r in regs) or '-'}</td></tr>")
        parts.append("</table></div>")
        self.html.value = "".join(parts)
        self.redraws += 1

    def describe(self) -> str:
        """Mounts, devices and device memory as text."""
        def caps_text(caps: list[str] | None, why: str) -> str:
            return ("NO MMAP" if caps is None else "|".join(caps) or "-") + f" ({why})"

        lines = ["Mounts:"]
        lines += [f"  {p:<10} {t:<9} {s:<10} {caps_text(c, w)}" for p, t, s, c, w in self._mount_rows()]
        lines.append("Devices:")
        lines += [f"  {p:<11} {d:<28} {caps_text(c, w)}" for p, d, c, w in self._device_rows()]
        lines.append("Device memory:")
        for what, state, regs in self._memory_rows():
            lines.append(f"  {what}: {state}; direct: {', '.join(regs) or 'none'}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
class EventLog(View):
    """The trace, newest first: each event's rule and sentence.

    Picking an event highlights the frames (or region) it says it touched.
    """

    def __init__(self, kernel: Kernel, selection: Selection | None = None, rows: int = 10) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-events")
        self.table = _select(rows, "nl-events-table")
        self.table.observe(self._on_pick, names="value")
        # a row of the list may be longer than the box: the picked event is shown whole here
        self.detail = W.HTML()
        self.detail.add_class("nl-event-detail")
        self.children = (W.HTML("<b>Event log</b> (newest first: rule, then what the kernel did "
                                "and why; pick one to read it whole)"), self.table, self.detail)
        self.refresh()

    def events(self, limit: int = EVENT_ROWS) -> list[Any]:
        """The newest ``limit`` events, newest first."""
        tr = self.kernel.trace
        return list(reversed(tr.since(max(0, tr.last_seq - limit))))

    @staticmethod
    def row(ev: Any) -> str:
        """``#seq pid  kind  rule: sentence``."""
        pid = f"pid {ev.pid}" if ev.pid is not None else "kernel"
        mark = "!" if ev.kind in (EventKind.REFUSED, EventKind.HAZARD) else " "
        return f"{mark}#{ev.seq:<4} {pid:<7} {ev.kind.value:<8} {ev.rule}: {ev.text}"

    def refresh(self) -> None:
        """Re-list the newest events."""
        _set_options(self.table, [(self.row(e), e.seq) for e in self.events()])
        if self.table.value == NONE:
            self.detail.value = ""
        self.redraws += 1

    def _on_pick(self, change: dict[str, Any]) -> None:
        seq = change["new"]
        if seq == NONE:
            self.detail.value = ""
            return
        for ev in self.events():
            if ev.seq == seq:
                self.detail.value = (f"<div class='nl-event-detail-text'>{html_escape(self.row(ev))}"
                                     "</div>")
                frames = touched_frames(self.kernel, ev.touched)
                if not ev.touched:
                    note = "this event names no frames or region"
                elif not frames and "region" in ev.touched:
                    r = next((r for r in self.kernel.regions() if r.id == ev.touched["region"]), None)
                    note = (f"region R{ev.touched['region']} no longer exists" if r is None
                            else _region_where(self.kernel, r.start, max(r.top, r.end)))
                else:
                    note = ""
                self.selection.set(frames, f"event #{ev.seq} {ev.rule}", note)
                return

    def describe(self, limit: int = 20) -> str:
        """The newest ``limit`` events as text."""
        evs = self.events(limit)
        return "\n".join([f"Events (newest first, {len(evs)} shown)", *map(self.row, evs)])


# ---------------------------------------------------------------------------
class LastCall(View):
    """The call just made (or stepped to) and every decision the kernel took for it.

    Large and wrapped, for the back of a lecture hall: the call with its
    flags named and its result or errno, then one line per trace event of
    that call (rule, then the kernel's sentence). Reads the session, so time
    travel shows the call at the current position.
    """

    def __init__(self, session: Any, selection: Selection | None = None) -> None:
        super().__init__(session.kernel, selection)
        self.session = session
        self.add_class("nl-lastcall")
        self.html = W.HTML()
        self.html.add_class("nl-lastcall-body")
        self.children = (self.html,)
        self.refresh()

    def lines(self) -> tuple[str, list[tuple[str, str, str]]]:
        """``(headline, [(kind, rule, sentence), ...])`` for the call at the session's position."""
        s = self.session
        out = s.outcome()
        if out is None:
            return ("No call yet: spawn a process, or pick a lecture deck.", [])
        head = f"call {s.position} of {len(s.calls)}: {out.describe()}"
        evs = [(e.kind.value, e.rule, e.text) for e in s.events_of()
               if e.kind is not EventKind.SYSCALL and e.kind is not EventKind.REFUSED]
        return head, evs

    def refresh(self) -> None:
        """Redraw from the session's current call."""
        head, evs = self.lines()
        out = self.session.outcome()
        # a refusal, or a call that "succeeded" into a hazard (the flash crash), shows red
        bad = out is not None and (not out.ok or any(kind == EventKind.HAZARD.value
                                                     for kind, _, _ in evs))
        cls = "nl-error" if bad else "nl-ok"
        items = "".join(
            f"<li class='nl-ev-{html_escape(kind)}'><span class='nl-rule'>{html_escape(rule)}</span> "
            f"{html_escape(text)}</li>" for kind, rule, text in evs)
        self.html.value = (f"<div class='nl-lastcall-head {cls}'>{html_escape(head)}</div>"
                           + (f"<ul class='nl-lastcall-events'>{items}</ul>" if items else ""))
        self.redraws += 1

    def describe(self) -> str:
        """The call and its decisions as text."""
        head, evs = self.lines()
        return "\n".join([head, *(f"  {rule}: {text}" for _, rule, text in evs)])
