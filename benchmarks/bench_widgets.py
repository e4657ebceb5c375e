"""How long the RAM map takes to redraw, and how many bytes a redraw sends.

Builds a 256 MiB board (65,536 frames of 4 KiB), scatters some mappings over
it so the image is not trivially compressible, then times the Python side of
one redraw after one mmap: the palette lookup, the PNG encoding and handing the
new image to bqplot (target: at most 20 ms). Bytes are counted at the comm,
as the widget messages would leave the kernel (JSON state plus binary
buffers). Also times the whole Lab's reaction to one call. Figures are
printed, never asserted: ``python benchmarks/bench_widgets.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import comm
from comm import DummyComm

import nommu_lab as nl
from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu_lab.widgets import Lab, RamMap, grid_shape

PAGE = 4096
RAM_SIZES = (8 << 20, 256 << 20)
REPEATS = 30


class CountingComm(DummyComm):
    """A comm that counts what would be sent to the browser."""

    sent = 0

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        size = len(json.dumps(data, default=str).encode()) if data is not None else 0
        size += sum(len(memoryview(b).cast("B")) for b in buffers or ())
        CountingComm.sent += size


def _patch_comm() -> None:
    comm.create_comm = lambda *a, **kw: CountingComm(*a, **kw)  # type: ignore[assignment]


def board(ram_size: int) -> tuple[nl.Kernel, nl.Process]:
    """A board with a few dozen mappings spread over RAM."""
    k = nl.boards.default(ram_size=ram_size)
    p = k.spawn("bench")
    for i in range(40):
        p.mmap(0, (1 + i % 7) * 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return k, p


def bench_after_mmap(ram_size: int) -> dict[str, float]:
    """Time from the end of an mmap to the RAM map redrawn (what a click costs in Python)."""
    k, p = board(ram_size)
    ram = RamMap(k)
    k.unsubscribe(ram._on_kernel)  # time the redraw alone, not the syscall
    times: list[float] = []
    sent: list[int] = []
    for i in range(REPEATS):
        a = p.mmap(0, (1 + i % 5) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        CountingComm.sent = 0
        t = time.perf_counter()
        ram.refresh()
        times.append(time.perf_counter() - t)
        sent.append(CountingComm.sent)
        p.munmap(a, (1 + i % 5) * PAGE)
        ram.refresh()
    return {"median_ms": statistics.median(times) * 1e3, "max_ms": max(times) * 1e3,
            "sent_bytes": statistics.median(sent), "png_bytes": len(ram.png)}


def bench_lab_call(ram_size: int) -> dict[str, float]:
    """One mmap through the Lab: the syscall plus every view redrawn once."""
    k = nl.boards.default(ram_size=ram_size)
    lab = Lab(k)
    lab.call(None, "spawn", "bench")
    times: list[float] = []
    sent: list[int] = []
    for i in range(10):
        CountingComm.sent = 0
        t = time.perf_counter()
        lab.call(1, "mmap", 0, (1 + i % 5) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        times.append(time.perf_counter() - t)
        sent.append(CountingComm.sent)
    return {"median_ms": statistics.median(times) * 1e3, "sent_bytes": statistics.median(sent)}


def main() -> None:
    _patch_comm()
    print("RAM map redraw after one mmap (Python side: palette, PNG, new bqplot image)")
    for size in RAM_SIZES:
        nr = size // PAGE
        rows, cols = grid_shape(nr)
        r = bench_after_mmap(size)
        print(f"  {size >> 20:4} MiB board, {nr:6} frames ({cols}x{rows} image): "
              f"median {r['median_ms']:6.2f} ms, worst {r['max_ms']:6.2f} ms, "
              f"{r['sent_bytes']:6.0f} bytes sent per redraw, of which PNG {r['png_bytes']} "
              "(target <= 20 ms)")
    print("Lab: one mmap call with every view redrawn once")
    for size in RAM_SIZES:
        r = bench_lab_call(size)
        print(f"  {size >> 20:4} MiB board: median {r['median_ms']:6.2f} ms, "
              f"{r['sent_bytes']:8.0f} bytes sent per call")


if __name__ == "__main__":
    main()
