"""Run a scenario on the model through its public contract only.

Every scenario starts from a fresh ``nl.boards.default()``; process ``p`` is
``k.spawn("p")``.  A failed call is recorded as ``-errno`` from the
``nl.KernelError`` it raised; any other exception is recorded as an error of
the model (and reported as a disagreement).
"""

from __future__ import annotations

from typing import Any

from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu_lab.fidelity import transcript as tr
from nommu_lab.fidelity.scenario import Proc, Ref, Scenario, Step


def _int(v: object) -> int:
    if v is None:
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    raise TypeError(f"the model returned {v!r} where a number was expected")


# steps the real side's director answers itself, whatever state the process is in
_NOT_FORWARDED = ("spawn", "maps", "procmaps", "meminfo", "buddyinfo", "sysctl", "exit")


class _Run:
    def __init__(self, sc: Scenario) -> None:
        import nommu_lab as nl

        self.nl = nl
        self.sc = sc
        self.k: Any = nl.boards.default()
        self.procs: dict[str, Any] = {}
        self.steps: list[tr.RawStep] = []

    def val(self, a: object) -> Any:
        if isinstance(a, Proc):
            return self.procs[a.name].pid
        if isinstance(a, Ref):
            st = self.steps[a.step]
            got = st.get("ret2", 0) if a.which else st.get("ret", 0)
            return int(got) + a.offset
        return a

    def do(self, st: Step, raw: tr.RawStep) -> None:
        a = [self.val(x) for x in st.args]
        k, op = self.k, st.op
        p: Any = self.procs.get(st.proc)
        if op == "spawn":
            assert st.new_proc is not None
            self.procs[st.new_proc] = k.spawn(st.new_proc)
        elif op == "maps":
            raw["lines"] = p.maps().splitlines()
        elif op == "procmaps":
            raw["lines"] = k.proc_maps().splitlines()
        elif op == "buddyinfo":
            raw["lines"] = k.proc_buddyinfo().splitlines()
        elif op == "meminfo":
            raw["ret"] = _int(k.meminfo()["MmapCopy"])
        elif op == "sysctl":
            raw["ret"] = _int(k.sysctl(a[0])) if len(a) == 1 else 0
            if len(a) == 2:
                k.sysctl(a[0], a[1])
        elif op == "vfork":
            assert st.new_proc is not None
            self.procs[st.new_proc] = p.vfork()
        elif op == "clone":
            assert st.new_proc is not None
            self.procs[st.new_proc] = p.clone(a[0])
        elif op == "fork":
            p.fork()
        elif op == "exec":
            p.execve(a[0])
        elif op == "exit":
            p.exit(a[0])
        elif op == "open":
            raw["ret"] = _int(p.open(a[0], a[1]))
        elif op == "shm_open":
            raw["ret"] = _int(p.shm_open(a[0], a[1], a[2]))
        elif op == "pipe":
            r, w = p.pipe()
            raw["ret"], raw["ret2"] = _int(r), _int(w)
        elif op in ("read", "pread", "peek", "ptrace_peek"):
            data = bytes(getattr(p, op)(*a))
            raw["bytes"] = data.hex()
            raw["ret"] = len(data)
        elif op == "fstat":
            raw["ret"] = _int(p.fstat(a[0]).st_size)
        elif op == "futex":
            args = a if a[3] >= 0 else a[:3]
            raw["ret"] = _int(p.futex(*args))
        elif op == "fill":
            # write pieces until one is refused (the refusal is the step's answer);
            # no file can take more than RAM, so the loop ends on any board
            piece = b"F" * min(a[1], 65536)
            ret = 0
            for _ in range(k.mem.nr_pages * k.page_size // max(1, len(piece)) + 2):
                ret = _int(p.write(a[0], piece))
                if ret <= 0 or not p.alive:
                    break
            raw["ret"] = ret
        elif op == "hog":
            # map copies until one is refused (the refusal is the step's answer):
            # each takes at least a page, so the loop ends on any board
            for _ in range(k.mem.nr_pages + 2):
                p.mmap(0, a[0], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
                if not p.alive:
                    break
            raw["ret"] = 0
        elif op == "mremap":
            args = a if a[4] else a[:4]
            raw["ret"] = _int(p.mremap(*args))
        else:
            raw["ret"] = _int(getattr(p, op)(*a))

    def killed(self, st: Step) -> int | None:
        """The signal that killed the step's process, if one did (the OOM killer's)."""
        p = self.procs.get(st.proc)
        if st.op in _NOT_FORWARDED or p is None or p.alive:
            return None
        return p.killed_by

    def run(self) -> tr.RawScenario:
        for st in self.sc.steps:
            raw = tr.empty_step()
            sig = self.killed(st)
            if sig:  # killed before its step, as the real side's director finds it
                raw["killed"] = sig
                self.steps.append(raw)
                continue
            try:
                self.do(st, raw)
            except self.nl.KernelError as e:
                if not e.errno:  # the model refusing what crashes Linux (KernelBug)
                    raw["error"] = f"{type(e).__name__}: {e}"
                    self.steps.append(raw)
                    continue
                raw["ret"] = -int(e.errno)
                raw["bytes"] = None
                raw["lines"] = []
                rule = getattr(e, "rule", "")
                if rule:
                    raw["klog"] = [f"rule: {rule}"]
            except Exception as e:  # the model itself failed: report, do not hide
                raw["error"] = f"{type(e).__name__}: {e}"
            sig = self.killed(st)
            if sig:  # killed during its step
                raw["killed"] = sig
            self.steps.append(raw)
        return {"digest": self.sc.digest, "abandoned": None, "steps": self.steps}


def run_scenario(sc: Scenario) -> tr.RawScenario:
    """The model's raw transcript of one scenario."""
    return run_scenario_keeping_kernel(sc)[0]


def run_scenario_keeping_kernel(sc: Scenario) -> tuple[tr.RawScenario, Any]:
    """The raw transcript, and the kernel it ran on (to read its trace afterwards)."""
    run = _Run(sc)
    return run.run(), run.k


def run_group(group: str, scenarios: list[Scenario]) -> dict[str, Any]:
    data = tr.new_transcript("model", "nommu_lab model, nl.boards.default()", group)
    for sc in scenarios:
        data["scenarios"][sc.name] = run_scenario(sc)
    return data
