"""``nl.Lab``: every view of one kernel, with controls, time travel and lecture decks.

``Lab(kernel)`` is the learner's layout for JupyterLab and Notebook;
``Lab(kernel, presenter=True)`` the lecturer's, for a projector or Voila: the
deck bar on top (choose a deck, step through it, open the MMU comparison),
the RAM map and the last call large, type of at least 18 px everywhere, and
no code in view. Both watch the same kind of machine the same way; the
difference is only in arrangement and size.

The layout is two columns that wrap into one when the page is narrow, each a
stack of views, so a short view never leaves a hole beside a tall one; every
box may shrink to its container, and long lines wrap or scroll inside their
own box rather than push the page sideways.

In exam mode (``kernel.exam`` true, as ``nl.boards.default(exam=True)``
sets) the event log and the last-call panel are hidden: they would answer
the "predict" and "diagnose" questions for the learner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..session import Session
from .base import Selection, View
from .controls import FIELD_EMS, Controls, TimeTravel
from .deck import DeckPlayer
from .fragmentation import FragmentationView
from .rammap import RamMap
from .tables import DevicesView, EventLog, LastCall, RegionsView, VmaView

if TYPE_CHECKING:
    from ..kernel import Kernel

#: smallest computed font size of any text in presenter mode (px)
PRESENTER_FONT_PX = 18

_CSS = """
<style>
/* ---- boxes may shrink to their container; long content scrolls inside its own box */
.nl-lab { width: 100%; max-width: 100%; box-sizing: border-box; overflow-x: hidden;
  --jp-widgets-horizontal-tab-width: auto; }
.nl-lab .widget-box, .nl-lab .widget-hbox, .nl-lab .widget-vbox,
.nl-lab .widget-hbox > *, .nl-lab .widget-vbox > * { min-width: 0; max-width: 100%;
  box-sizing: border-box; }
.nl-lab .widget-inline-hbox { max-width: 100%; }
.nl-lab .nl-cols { display: flex; flex-flow: row wrap; gap: 6px 14px; align-items: flex-start; }
.nl-lab .nl-col { display: flex; flex-direction: column; gap: 6px; }
.nl-lab .nl-col-right { flex: 1 1 380px; }
.nl-lab .nl-row { gap: 2px 8px; }
.nl-lab .nl-row > * { flex-shrink: 0; }  /* a row wraps rather than squeeze a field */
.nl-lab .widget-button, .nl-lab .jupyter-button { white-space: nowrap; overflow: visible; }
.nl-lab .nl-field { max-width: 100%; }
.nl-lab .widget-dropdown > select { min-width: 0; text-overflow: ellipsis; }
.nl-lab .widget-text input { min-width: 0; }
.nl-lab .widget-tab > .p-TabBar, .nl-lab .widget-tab > .lm-TabBar { overflow-x: auto; }
.nl-lab .nl-table select, .nl-lab pre.nl-header, .nl-lab .nl-history-text,
.nl-lab .nl-recording textarea { font-family: monospace; font-size: 12px; }
.nl-lab pre.nl-header { margin: 0 0 0 4px; color: #555; overflow-x: auto; }
.nl-lab .nl-table { align-self: stretch; }
.nl-lab .nl-table select { width: 100%; box-sizing: border-box; }
.nl-lab .nl-recording { align-self: stretch; }
.nl-lab .nl-recording textarea { width: 100%; box-sizing: border-box; }
.nl-lab .nl-history-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0; }
.nl-lab .nl-event-detail-text { font-family: monospace; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; padding: 2px 4px; background: #f6f6f6; }
.nl-lab .widget-html-content { overflow-wrap: anywhere; }
.nl-lab .nl-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; }
.nl-lab .nl-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; border: 1px solid #999; }
.nl-lab .nl-count { color: #666; }
.nl-lab .nl-badge { display: inline-block; padding: 0 5px; margin: 0 2px; border-radius: 3px;
  font-size: 11px; font-family: monospace; }
.nl-lab .nl-badge.on { background: #2e7d32; color: white; }
.nl-lab .nl-badge.off { background: #eee; color: #aaa; text-decoration: line-through; }
.nl-lab .nl-badge-none { background: #b71c1c; color: white; }
.nl-lab .nl-devices-body { overflow-x: auto; max-width: 100%; }
.nl-lab .nl-dev-table { border-collapse: collapse; font-size: 12px; margin-bottom: 6px; }
.nl-lab .nl-dev-table td, .nl-lab .nl-dev-table th { padding: 1px 8px; text-align: left;
  border-bottom: 1px solid #eee; }
.nl-lab .nl-flash-busy { background: #ffcdd2; font-weight: bold; }
.nl-lab .nl-status-text { padding: 4px 8px; border-radius: 4px; font-family: monospace;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.nl-lab .nl-ok { background: #e8f5e9; }
.nl-lab .nl-error { background: #ffebee; color: #b71c1c; }
.nl-lab .nl-lastcall-head { font-family: monospace; font-weight: bold; padding: 4px 8px;
  border-radius: 4px; overflow-wrap: anywhere; }
.nl-lab .nl-lastcall-events { margin: 4px 0 0 0; padding-left: 1.2em; }
.nl-lab .nl-lastcall-events li { margin: 2px 0; overflow-wrap: anywhere; }
.nl-lab .nl-rule { font-family: monospace; color: #555; }
.nl-lab .nl-ev-hazard, .nl-lab .nl-ev-refused { color: #b71c1c; font-weight: bold; }
.nl-lab .nl-deck-card { border-left: 6px solid #1565c0; background: #f3f7fc; padding: 6px 12px; }
.nl-lab .nl-deck-head { font-weight: bold; font-family: monospace; overflow-wrap: anywhere; }
.nl-lab .nl-deck-question { color: #6a1b9a; font-family: inherit; }
.nl-lab .nl-deck-answer { margin-top: 4px; color: #1b5e20; }
.nl-lab .nl-deck-question-extra { color: #555; font-family: monospace; }
.nl-lab .nl-compare-box table { max-width: 100%; }
.nl-lab .nl-compare-box pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.nl-lab .nl-compare-box td, .nl-lab .nl-compare-box th { white-space: normal;
  overflow-wrap: anywhere; vertical-align: top; }
.nl-lab .nl-compare-box .widget-html-content { overflow-x: auto; }
.nl-lab .nl-section { font-weight: bold; }

/* ---- presenter: large type everywhere, buttons that keep their words together */
.nl-presenter { --jp-widgets-font-size: 18px; --jp-ui-font-size1: 18px; --jp-ui-font-size0: 18px;
  --jp-code-font-size: 18px; --jp-content-font-size1: 18px; --jp-widgets-inline-height: 38px;
  --jp-widgets-inline-label-width: auto; font-size: 18px; }
.nl-presenter, .nl-presenter .widget-label, .nl-presenter .widget-html-content,
.nl-presenter .widget-label-basic, .nl-presenter input, .nl-presenter select,
.nl-presenter option, .nl-presenter button, .nl-presenter textarea, .nl-presenter pre,
.nl-presenter table, .nl-presenter td, .nl-presenter th, .nl-presenter li, .nl-presenter b,
.nl-presenter span, .nl-presenter i, .nl-presenter .lm-TabBar-tabLabel,
.nl-presenter .p-TabBar-tabLabel, .nl-presenter .widget-readout,
.nl-presenter .nl-table select, .nl-presenter .nl-legend, .nl-presenter .nl-badge,
.nl-presenter .nl-dev-table, .nl-presenter .nl-history-text, .nl-presenter pre.nl-header,
.nl-presenter .nl-event-detail-text, .nl-presenter .nl-recording textarea {
  font-size: 18px; }
.nl-presenter .nl-button { height: 44px; padding: 0 14px; }
.nl-presenter .widget-tab > .lm-TabBar .lm-TabBar-tab,
.nl-presenter .widget-tab > .p-TabBar .p-TabBar-tab { min-height: 40px; line-height: 36px; }
.nl-presenter .widget-tab > .lm-TabBar, .nl-presenter .widget-tab > .p-TabBar { min-height: 42px; }
.nl-presenter .nl-swatch { width: 18px; height: 18px; }
.nl-presenter .nl-col-right { flex: 1 1 560px; }
.nl-presenter .nl-lastcall-head { font-size: 22px; }
.nl-presenter .nl-lastcall-events li { font-size: 20px; }
.nl-presenter .nl-deck-card { padding: 8px 16px; }
.nl-presenter .nl-deck-head { font-size: 22px; }
.nl-presenter .nl-deck-body { font-size: 24px; line-height: 1.35; }
.nl-presenter .nl-deck-answer { font-size: 22px; }
.nl-presenter .nl-deck-next { font-size: 22px; min-width: 8em; }
{fields}
</style>
"""


def _css() -> str:
    """The style sheet, with one rule per width of form field."""
    fields = "\n".join(f".nl-lab .widget-text.nl-w{n} input {{ flex: 0 0 {n}em; width: {n}em; }}"
                       for n in FIELD_EMS)
    return _CSS.replace("{fields}", fields)


def _column(views: list[W.Widget], cls: str) -> W.VBox:
    col = W.VBox(views)
    col.add_class("nl-col")
    col.add_class(cls)
    return col


def _columns(left: list[W.Widget], right: list[W.Widget], left_width: str) -> W.HBox:
    """Two stacks side by side, wrapping into one column on a narrow page.

    The left stack asks for ``left_width`` (the RAM map's full width, so its
    squares and label lane show without scrolling); the right one for 380 px
    (560 in presenter mode). Narrower than both, the right stack goes below.
    """
    left_col = _column(left, "nl-col-left")
    left_col.layout.flex = f"1 1 {left_width}"
    box = W.HBox([left_col, _column(right, "nl-col-right")])
    box.add_class("nl-cols")
    return box


class Lab(W.VBox):
    """The live lab: RAM map, last call, regions, VMAs, devices, event log, controls,
    time travel, lecture decks and the MMU comparison.

    ``kernel`` is the machine to watch. ``factory`` (optional) builds the
    same starting machine again; without it, time travel starts from a
    snapshot taken now. ``presenter=True`` gives the big, code-free layout
    with the deck bar on top. Calls made with the controls, the decks or
    :meth:`call` are recorded in :attr:`session`; stepping back replaces
    :attr:`kernel` with a rebuilt machine (calls made directly on the old
    kernel object are not recorded).
    """

    def __init__(self, kernel: Kernel, presenter: bool = False, *,
                 factory: Callable[[], Kernel] | None = None, board: str | None = None) -> None:
        super().__init__()
        self.presenter = presenter
        self.session = Session(kernel, factory=factory, board=board)
        self.selection = Selection()
        sel = self.selection
        self.ram = RamMap(kernel, sel, presenter=presenter)
        self.lastcall = LastCall(self.session, sel)
        self.regions = RegionsView(kernel, sel, rows=8)
        self.vmas = VmaView(kernel, sel, rows=6)
        self.devices = DevicesView(kernel, sel)
        self.events = EventLog(kernel, sel, rows=8 if presenter else 10)
        self.controls = Controls(self.session, hold=self.hold)
        self.timetravel = TimeTravel(self.session, hold=self.hold)
        self.decks = DeckPlayer(self.session, hold=self.hold, presenter=presenter)
        self.fragmentation = FragmentationView(kernel, sel, presenter=presenter)
        self.views: list[View] = [self.ram, self.lastcall, self.regions, self.vmas, self.devices,
                                  self.events, self.controls, self.timetravel, self.decks,
                                  self.fragmentation]
        self.session.on_kernel_change(self._rebind)
        self.controls.proc.observe(self._follow_process, names="value")
        sel.observe(self._on_selection, names="label")
        self.add_class("nl-lab")
        css = W.HTML(_css())
        css.add_class("nl-css")
        if presenter:
            self.add_class("nl-presenter")
            self.children = (
                css,
                self.decks,
                _columns([self.ram, self.regions, self.vmas, self.fragmentation],
                         [self.lastcall, self.controls, self.timetravel, self.events],
                         self.ram.figure.layout.width),
                self.devices,
            )
        else:
            self.children = (
                css,
                _columns([self.ram, self.lastcall, self.regions, self.fragmentation],
                         [self.controls, self.events, self.vmas, self.timetravel],
                         self.ram.figure.layout.width),
                self.devices,
                self.decks,
            )
        self._apply_exam_mode()

    # ------------------------------------------------------------ behaviour
    def _follow_process(self, change: dict[str, Any]) -> None:
        """The VMA table shows the process the controls act on."""
        if change["new"] is not None and change["new"] >= 0:
            self.vmas.show(change["new"])

    def _on_selection(self, change: dict[str, Any]) -> None:
        """A cleared selection leaves no table row picked (nothing stays "selected")."""
        if change["new"] == "":
            for table in (self.regions.table, self.vmas.table, self.events.table):
                if table.value != -1 and -1 in [v for _, v in table.options]:
                    table.value = -1

    @property
    def exam(self) -> bool:
        """True when the kernel is in exam mode: no event log, no last-call panel."""
        return bool(getattr(self.kernel, "exam", False))

    def _apply_exam_mode(self) -> None:
        hide = "none" if self.exam else None
        for v in (self.events, self.lastcall):
            v.layout.display = hide

    # ------------------------------------------------------------ the machine
    @property
    def kernel(self) -> Kernel:
        """The machine on display (time travel and decks may replace it)."""
        return self.session.kernel

    def _rebind(self, kernel: Kernel) -> None:
        self.selection.clear()
        with self.hold():
            for v in self.views:
                v.bind(kernel)
                v._dirty = True  # redraw once when the hold ends
        self._apply_exam_mode()
        # the status line spoke of the controls' last click, on a machine now replaced;
        # the last-call panel says where the machine is
        self.controls.status.value = ""

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
                 self.devices.describe()]
        if not self.exam:
            parts += [self.lastcall.describe(), self.events.describe(limit=10)]
        parts.append(self.timetravel.describe())
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        k = self.kernel
        mem = k.mem
        mode = "presenter" if self.presenter else "lab"
        return (f"<nommu-lab {mode}: {mem.ram_size >> 20} MiB RAM, {len(k.processes)} process(es), "
                f"{len(k.region_tree)} region(s), call {self.session.position} of "
                f"{len(self.session.calls)}>")
