"""Translate scenarios into the line format oracle/runner.c reads.

The runner is freestanding C, so everything symbolic is resolved here: flag
names are numbers already (the parser did that), processes become slot
numbers, paths and data become hex, and a label becomes ``r<step>.<which>``
(+ offset), which the runner's director replaces by the value the kernel
returned at that step.  The format is described at the top of runner.c.
"""

from __future__ import annotations

from nommu_lab.fidelity.scenario import Proc, Ref, Scenario, Step

# machine-wide /proc reads: the director answers these itself
_PROC_READS = ("procmaps", "meminfo", "buddyinfo")


def _arg(a: object, procs: list[str] | None = None) -> str:
    if isinstance(a, Proc):
        assert procs is not None
        return f"p{procs.index(a.name)}"
    if isinstance(a, Ref):
        off = f"+{a.offset}" if a.offset >= 0 else str(a.offset)
        return f"r{a.step}.{a.which}{off}"
    if isinstance(a, bool):
        raise TypeError("boolean argument")
    if isinstance(a, int):
        return f"i{a}"
    if isinstance(a, str):
        return "x" + a.encode("latin-1").hex()
    if isinstance(a, bytes):
        return "x" + a.hex()
    raise TypeError(f"cannot encode {a!r}")


def _step(sc: Scenario, st: Step) -> str:
    slot = sc.procs.index(st.proc)
    if st.op == "spawn":
        assert st.new_proc is not None
        return f"P {st.index} {sc.procs.index(st.new_proc)} spawn"
    if st.op in _PROC_READS:
        return f"P {st.index} 0 {st.op}"
    if st.op == "sysctl":
        path = "/proc/sys/" + str(st.args[0]).replace(".", "/")
        value = "".join(f" {_arg(v)}" for v in st.args[1:])
        return f"P {st.index} 0 sysctl {_arg(path)}{value}"
    if st.op in ("vfork", "clone"):
        assert st.new_proc is not None
        child = sc.procs.index(st.new_proc)
        rest = "".join(f" {_arg(v)}" for v in st.args)
        return f"P {st.index} {slot} {st.op} i{child}{rest}"
    args = list(st.args)
    if st.op == "futex" and st.sleeps:
        args[3] = -2  # the runner's "sleep until woken"
    text = "".join(f" {_arg(v, sc.procs)}" for v in args)
    return f"{'Q' if st.sleeps else 'P'} {st.index} {slot} {st.op}{text}"


def cleanup(sc: Scenario) -> list[str]:
    """What the director removes after the scenario: created files, SysV keys."""
    out: list[str] = []
    for st in sc.steps:
        if st.op == "open" and isinstance(st.args[1], int) and st.args[1] & 0o100:
            out.append(f"C f {_arg(st.args[0])[1:]}")
        elif st.op == "shm_open" and isinstance(st.args[1], int) and st.args[1] & 0o100:
            path = "/dev/shm/" + str(st.args[0]).lstrip("/")
            out.append(f"C f {_arg(path)[1:]}")
        elif st.op == "shmget" and isinstance(st.args[0], int) and st.args[0] != 0:
            out.append(f"C k {st.args[0]}")
    return sorted(set(out), key=out.index)


def compile_group(scenarios: list[Scenario]) -> str:
    """The whole ``/scen.txt`` for one boot."""
    lines: list[str] = []
    for n, sc in enumerate(scenarios):
        lines.append(f"S {n} {len(sc.procs)} {sc.name}")
        lines.extend(_step(sc, st) for st in sc.steps)
        lines.extend(cleanup(sc))
        lines.append("E")
    text = "\n".join(lines) + "\n"
    if len(text) > 250_000:
        raise ValueError("scenario group too large for the runner's 256 KiB buffer: split the file")
    return text
