"""How fast the no-MMU model maps and unmaps, and how much memory it needs.

Prints mmap+munmap pairs per second on the default board for a fixed, seeded
mix of anonymous and file mappings of 1 to 64 pages, with the trace on and
off, and the peak Python memory of a 64 MiB board. Figures are printed, never
asserted: run ``python benchmarks/bench_mmap.py``.
"""

from __future__ import annotations

import random
import time
import tracemalloc

import nommu_lab as nl
from nommu_lab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
)

PAGE = 4096
SEED = 1234


def workload(pairs: int, seed: int = SEED) -> list[tuple[str, int]]:
    """A seeded mix: (kind, pages) with kind anon / rom / ramfs-shared / disk."""
    rnd = random.Random(seed)
    kinds = ["anon", "anon", "anon", "rom", "shm", "disk"]
    return [(rnd.choice(kinds), rnd.randint(1, 64)) for _ in range(pairs)]


def run(pairs: int, trace: bool) -> float:
    k = nl.boards.default()
    k.trace.enabled = trace
    p = k.spawn("bench")
    rom = p.open("/rom/data/pattern.bin", O_RDONLY)  # 3 pages: XIP for <= 3 pages
    disk = p.open("/mnt/disk/pattern.bin", O_RDONLY)
    shm = p.open("/dev/shm/bench", O_CREAT | O_RDWR)
    p.ftruncate(shm, 64 * PAGE)
    calls = workload(pairs)
    t0 = time.perf_counter()
    for kind, pages in calls:
        n = pages * PAGE
        if kind == "anon":
            a = p.mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        elif kind == "rom":
            n = min(n, 3 * PAGE)
            a = p.mmap(0, n, PROT_READ, MAP_PRIVATE, rom, 0)
        elif kind == "shm":
            a = p.mmap(0, n, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0)
        else:
            a = p.mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, disk, 0)
        p.munmap(a, n)
    dt = time.perf_counter() - t0
    k.check()
    return pairs / dt


def peak_memory_mib(ram_mib: int = 64) -> float:
    tracemalloc.start()
    k = nl.boards.default(ram_size=ram_mib << 20)
    p = k.spawn("mem")
    for pages in (1, 2, 5, 16, 64, 300):
        p.mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (1 << 20)


def best_and_median(pairs: int, trace: bool, repeats: int = 5) -> tuple[float, float]:
    """Like ``timeit``: the best of several runs is the model's speed, the
    median shows how much the machine's other work got in the way."""
    rates = sorted(run(pairs, trace) for _ in range(repeats))
    return rates[-1], rates[len(rates) // 2]


def main() -> None:
    pairs = 10_000
    run(2_000, True)  # warm up
    on = best_and_median(pairs, True)
    off = best_and_median(pairs, False)
    print(f"mmap+munmap pairs/s, default board, 1-64 pages, seed {SEED} (best / median of 5 runs):")
    print(f"  trace on : {on[0]:10,.0f} / {on[1]:,.0f}")
    print(f"  trace off: {off[0]:10,.0f} / {off[1]:,.0f}")
    print(f"peak Python memory for a 64 MiB board: {peak_memory_mib(64):.1f} MiB")


if __name__ == "__main__":
    main()
