"""``nl.Lab``: every view of one kernel, with controls and time travel.

``Lab(kernel)`` is the learner's layout for JupyterLab; ``Lab(kernel,
presenter=True)`` the lecturer's: a big RAM map, big buttons, big type and no
code, for a projector or Voila. Both watch the same kind of machine the same
way; the difference is only in arrangement and size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..session import Session
from .base import Selection, View
from .controls import Controls, TimeTravel
from .fragmentation import FragmentationView
from .rammap import RamMap
from .tables import DevicesView, EventLog, RegionsView, VmaView

if TYPE_CHECKING:
    from ..kernel import Kernel

_CSS = """
<style>
.nl-lab .nl-table select, .nl-lab pre.nl-header, .nl-lab .nl-history-text,
.nl-lab .nl-recording textarea { font-family: monospace; font-size: 12px; }
.nl-lab pre.nl-header { margin: 0 0 0 4px; color: #555; }
.nl-lab .nl-table { width: 100%; }
.nl-lab .nl-table select { width: 100%; }
.nl-lab .nl-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; }
.nl-lab .nl-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; border: 1px solid #999; }
.nl-lab .nl-count { color: #666; }
.nl-lab .nl-badge { display: inline-block; padding: 0 5px; margin: 0 2px; border-radius: 3px;
  font-size: 11px; font-family: monospace; }
.nl-lab .nl-badge.on { background: #2e7d32; color: white; }
.nl-lab .nl-badge.off { background: #eee; color: #aaa; text-decoration: line-through; }
.nl-lab .nl-badge-none { background: #b71c1c; color: white; }
.nl-lab .nl-dev-table { border-collapse: collapse; font-size: 12px; margin-bottom: 6px; }
.nl-lab .nl-dev-table td, .nl-lab .nl-dev-table th { padding: 1px 8px; text-align: left;
  border-bottom: 1px solid #eee; }
.nl-lab .nl-flash-busy { background: #ffcdd2; font-weight: bold; }
.nl-lab .nl-status-text { padding: 4px 8px; border-radius: 4px; }
.nl-lab .nl-ok { background: #e8f5e9; }
.nl-lab .nl-error { background: #ffebee; color: #b71c1c; }
.nl-presenter { font-size: 18px; }
.nl-presenter .nl-table select { font-size: 16px; }
.nl-presenter .nl-button { height: 44px; font-size: 18px; }
.nl-presenter .nl-legend { font-size: 16px; }
.nl-presenter .nl-swatch { width: 18px; height: 18px; }
.nl-presenter .nl-frame-info, .nl-presenter .nl-status-text { font-size: 18px; }
</style>
"""


class Lab(W.VBox):
    """The live lab: RAM map, regions, VMAs, devices, event log, controls, time travel.

    ``kernel`` is the machine to watch. ``factory`` (optional) builds the
    same starting machine again; without it, time travel starts from a
    snapshot taken now. ``presenter=True`` gives the big, code-free layout.
    Calls made with the controls or :meth:`call` are recorded in
    :attr:`session`; stepping back replaces :attr:`kernel` with a rebuilt
    machine (calls made directly on the old kernel object are not recorded).
    """

    def __init__(self, kernel: Kernel, presenter: bool = False, *,
                 factory: Callable[[], Kernel] | None = None, board: str | None = None) -> None:
        super().__init__()
        self.presenter = presenter
        self.session = Session(kernel, factory=factory, board=board)
        self.selection = Selection()
        sel = self.selection
        self.ram = RamMap(kernel, sel, presenter=presenter)
        self.regions = RegionsView(kernel, sel, rows=10 if presenter else 8)
        self.vmas = VmaView(kernel, sel, rows=8 if presenter else 6)
        self.devices = DevicesView(kernel, sel)
        self.events = EventLog(kernel, sel, rows=12 if presenter else 10)
        self.controls = Controls(self.session, hold=self.hold)
        self.timetravel = TimeTravel(self.session, hold=self.hold)
        self.views: list[View] = [self.ram, self.regions, self.vmas, self.devices, self.events,
                                  self.controls, self.timetravel]
        self.session.on_kernel_change(self._rebind)
        self.controls.proc.observe(self._follow_process, names="value")
        self.add_class("nl-lab")
        css = W.HTML(_CSS)
        if presenter:
            self.add_class("nl-presenter")
            self.children = (
                css,
                W.HBox([W.Box([self.ram], layout=W.Layout(width="64%")),
                        W.VBox([self.controls, self.timetravel], layout=W.Layout(width="36%"))]),
                W.HBox([W.Box([self.events], layout=W.Layout(width="55%")),
                        W.Box([self.regions], layout=W.Layout(width="45%"))]),
                W.HBox([W.Box([self.vmas], layout=W.Layout(width="45%")),
                        W.Box([self.devices], layout=W.Layout(width="55%"))]),
            )
        else:
            self.children = (
                css,
                W.HBox([W.Box([self.ram], layout=W.Layout(width="58%")),
                        W.Box([self.controls], layout=W.Layout(width="42%"))]),
                W.HBox([W.Box([self.regions], layout=W.Layout(width="55%")),
                        W.Box([self.vmas], layout=W.Layout(width="45%"))]),
                W.HBox([W.Box([self.events], layout=W.Layout(width="60%")),
                        W.Box([self.timetravel], layout=W.Layout(width="40%"))]),
                self.devices,
            )
        # free blocks per order and MemFree over time (added on the rammap branch; place it freely)
        self.fragmentation = FragmentationView(kernel, sel, presenter=presenter)
        self.views.append(self.fragmentation)
        self.children = (*self.children, self.fragmentation)

    def _follow_process(self, change: dict[str, Any]) -> None:
        """The VMA table shows the process the controls act on."""
        if change["new"] is not None and change["new"] >= 0:
            self.vmas.show(change["new"])

    # ------------------------------------------------------------ the machine
    @property
    def kernel(self) -> Kernel:
        """The machine on display (time travel may replace it)."""
        return self.session.kernel

    def _rebind(self, kernel: Kernel) -> None:
        self.selection.clear()
        with self.hold():
            for v in self.views:
                v.bind(kernel)
                v._dirty = True  # redraw once when the hold ends
        s = self.session
        self.controls._say(f"Time travel: the machine as it was after call {s.position} of "
                           f"{len(s.calls)} (rebuilt by replaying the calls)")

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Make several calls with one redraw of each view at the end."""
        with ExitStack() as stack:
            for v in reversed(self.views):  # released in order: the RAM map redraws first
                stack.enter_context(v.hold())
            yield

    def call(self, pid: int | None, name: str, *args: Any, **kwargs: Any) -> Any:
        """Make a recorded call (``lab.call(1, "mmap", 0, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS)``)."""
        with self.hold():
            return self.session.call(pid, name, *args, **kwargs)

    def back(self) -> Kernel:
        """Step one call back in time."""
        with self.hold():
            return self.session.back()

    def forward(self) -> Kernel:
        """Step one call forward."""
        with self.hold():
            return self.session.forward()

    def close(self) -> None:
        """Close every view (they stop watching the kernel)."""
        for v in self.views:
            v.close()
        super().close()

    # ----------------------------------------------------------------- text
    def describe(self) -> str:
        """Every view as text: RAM runs, regions, VMAs, devices, recent events, history."""
        parts = [self.ram.describe(), self.regions.describe(), self.vmas.describe(),
                 self.devices.describe(), self.events.describe(limit=10),
                 self.timetravel.describe()]
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        k = self.kernel
        mem = k.mem
        mode = "presenter" if self.presenter else "lab"
        return (f"<nommu-lab {mode}: {mem.ram_size >> 20} MiB RAM, {len(k.processes)} process(es), "
                f"{len(k.region_tree)} region(s), call {self.session.position} of "
                f"{len(self.session.calls)}>")
