"""Exercise "flash-hazard" (kinds: diagnose a failure from the machine; fix it under a constraint).

A board runs a few services, each a build of the same program, while a
configuration daemon programs bytes into a free erase block of the NOR
flash. Some services die with SIGILL: their text is mapped *directly* from
the flash (a ROM bFLT: ``load_flat_file`` maps its text from the file, and
romfs on the XIP-capable MTD maps it in place), and a chip that is
programming answers every read with its status register. The others run
from copies in RAM (a RAM bFLT, a bFLT on the ext2 disk) and survive.

Part one asks which services die and from which direct mapping (path,
address). Part two asks for a fix under the variant's constraint: either
the update must be written now while every service keeps running (only
copies in RAM can do that), or no service may change its program (then the
driver must refuse while the chip is mapped directly: ``guard=True``).
The checks run the programs (``Process.run``) through the flash operation
on fresh boards, and compare a refusal with the one the model's guarded
driver gives on the same machine.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from ..boards import FLASH_BASE, default
from ..kernel.devices import FlashMode
from ..kernel.errors import KernelError
from .common import compile_shown
from .framework import Exercise, Marker, Stop, part

REVISIT = ("the tutorial's notebook 09-flash-hazard: XIP text is fetched from the chip itself, "
           "and a chip that programs answers every read with its status register")

#: the builds of the program a service may run: a ROM bFLT whose text the board maps in
#: place from the flash, a RAM bFLT (text copied into its own block) and a bFLT on the
#: ext2 disk (text in a shared copy). The model's ELF builds start at the wrong entry
#: point (the loader ignores e_entry), so they cannot be run with Process.run yet.
IN_PLACE = ("/rom/bin/hello",)
IN_RAM = ("/rom/bin/hello-ram", "/mnt/disk/bin/hello")
BUILDS = IN_PLACE + IN_RAM
INSTRUCTIONS = 8

#: constraint -> what part two requires, as the notebook states it
CONSTRAINTS: dict[str, str] = {
    "update_now": "the update must be written now, while every service keeps running "
                  "(each may run any of the program's builds: " + ", ".join(BUILDS) + ")",
    "keep_programs": "no service may change its program (there is no RAM to spare for copies "
                     "of their code); the update may wait until nothing runs from the flash",
}


class FlashHazard(Exercise):
    name = "flash-hazard"
    title = "Why do some services die while the flash is updated? Find out, then fix it"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        names = rng.sample(["sensord", "logger", "netd", "ui", "gpsd", "watchdog", "audiod"],
                           rng.randint(3, 4))
        culprits = rng.randint(1, 2)
        programs = [rng.choice(IN_PLACE) for _ in range(culprits)]
        programs += [rng.choice(IN_RAM) for _ in range(len(names) - culprits)]
        rng.shuffle(programs)
        block = rng.randint(2, 15)
        return {
            "ram_mib": rng.choice([4, 8]),
            "services": [[n, p] for n, p in zip(names, programs, strict=True)],
            "offset": block * 0x10000 + rng.randrange(0, 0x10000 - 64, 16),
            "data": f"config v{rng.randint(2, 9)}.{rng.randint(0, 99)} {rng.choice(['eu', 'us', 'jp'])}".encode(),
            "constraint": rng.choice(sorted(CONSTRAINTS)),
        }

    def board(self) -> Any:
        return default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)

    @property
    def constraint(self) -> str:
        return CONSTRAINTS[self.params["constraint"]]

    # -- the variant's system, as the notebook shows it ---------------------------
    @property
    def system_source(self) -> str:
        """The services and the daemon's update, as Python the notebook prints and runs."""
        lines = ["def start(k):", "    services = {}"]
        for name, prog in self.params["services"]:
            lines += [f"    services[{name!r}] = p = k.spawn({name!r})", f"    p.execve({prog!r})"]
        lines += ["    return services", "", "",
                  "def update(k):",
                  f"    k.mtd_program({self.params['offset']:#x}, {self.params['data']!r})", ""]
        return "\n".join(lines)

    def system(self) -> tuple[Any, Any]:
        """``(start, update)``: the variant's system as functions."""
        ns = compile_shown(self.system_source, f"{self.name} system")
        return ns["start"], ns["update"]

    def machine(self) -> tuple[Any, dict[str, Any], dict[str, tuple[str | None, int]]]:
        """The variant's system started, every service run once, and the update begun
        (the chip busy): the board, the services, and the mapping each executes from."""
        k = self.board()
        start, update = self.system()
        services = start(k)
        texts = {name: self._text(p) for name, p in services.items()}
        for p in services.values():
            p.run(INSTRUCTIONS)
        update(k)
        return k, services, texts

    def deaths(self) -> dict[str, tuple[str | None, int]]:
        """Run the system now: every service that dies, and the mapping it executed from."""
        k, services, texts = self.machine()
        dead = {name: texts[name] for name, p in services.items()
                if p.run(INSTRUCTIONS) < INSTRUCTIONS or not p.alive}
        k.mtd_complete()
        return dead

    @staticmethod
    def _text(p: Any) -> tuple[str | None, int]:
        """(path, start) of the VMA holding the process's first instruction."""
        pc = p.mm.start_code
        v = next((v for v in p.vmas() if v.start <= pc < v.end), None)
        return (v.path, v.start) if v is not None else (None, 0)

    # -- part 1 ----------------------------------------------------------------
    @part("flash-diagnosis", 2, "Which services die, and from which direct mapping?", REVISIT)
    def check_diagnosis(self, m: Marker, diagnosis: Any) -> None:
        got = m.answer(diagnosis, what="diagnosis()")
        if not isinstance(got, dict):
            raise Stop("diagnosis() must return a dict {service name: (path, address)}")
        want = self.deaths()
        m.award(set(got) == set(want), 1,
                f"{', '.join(sorted(want))} die{'s' if len(want) == 1 else ''} with SIGILL",
                f"the services that die are not {sorted(got)!r}: run the system, let every "
                "service run while the chip programs, and look at which are still alive")
        wrong = []
        for name, (path, start) in want.items():
            g = got.get(name)
            ok = (isinstance(g, (tuple, list)) and len(g) == 2 and g[0] == path
                  and isinstance(g[1], int) and g[1] == start)
            if not ok:
                wrong.append(name)
        right = ", ".join(f"{n}: {p} at {a:#x}" for n, (p, a) in sorted(want.items()))
        m.award(not wrong and set(got) == set(want), 1, f"their text is mapped in place: {right}",
                (f"for {', '.join(wrong)}: give the path and start address of the mapping the "
                 "process executes from (the VMA that holds its first instruction, "
                 f"inside the flash at {FLASH_BASE:#x})") if wrong else
                "name exactly the services that die")

    # -- part 2 ----------------------------------------------------------------
    @part("flash-fix", 3, "A fix that meets the constraint, run through a flash operation",
          REVISIT + "; the two fixes are a guarding driver and code in RAM")
    def check_fix(self, m: Marker, answer: Any) -> None:
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise Stop("the answer is (start, update): two functions")
        start, update = answer
        prm = self.params
        names = [n for n, _ in prm["services"]]
        k = self.board()
        services = m.run(start, k, what="start(k)")
        if not (isinstance(services, dict) and set(services) == set(names)
                and all(hasattr(p, "run") for p in services.values())):
            raise Stop(f"start(k) must return a dict of the processes {names}, by name")
        self._judge_programs(m, services)
        before = {n: self._runs(p) for n, p in services.items()}
        if not all(before.values()):
            raise Stop("every service must run before the update: "
                       + ", ".join(n for n, ok in before.items() if not ok) + " cannot")
        guarded = copy.deepcopy(k)  # what the model's guarded driver does on this very machine
        try:
            guarded.mtd_program(prm["offset"], prm["data"], guard=True)
            expected: KernelError | None = None
        except KernelError as e:
            expected = e
        digest = k.state_digest()
        error = self._update(m, update, k)
        busy = k.flash.mode is not FlashMode.READ_ARRAY
        alive = {n: self._runs(p) for n, p in services.items()}  # while the chip programs
        if prm["constraint"] == "update_now":
            tested = self._judge_update_now(m, k, error, busy)
        else:
            tested = self._judge_guarded(m, k, error, expected, busy, digest)
        dead = [n for n, ok in alive.items() if not ok]
        m.award(tested and not dead, 1.5, "every service kept running through the update",
                f"{', '.join(dead)} died while the chip was busy: its text is still fetched "
                "from the flash" if dead else "the update did not run while the services ran "
                "(nor did the driver refuse it), so nothing was tested")

    def _update(self, m: Marker, update: Any, k: Any) -> BaseException | None:
        """Run the learner's ``update(k)``: a refusal is an outcome to judge, not a failure."""
        if not callable(update):
            raise Stop(f"update: expected a function, got {type(update).__name__}")
        try:
            update(k)
        except NotImplementedError:
            raise Stop("update(k) is not written yet (it raises NotImplementedError)") from None
        except KernelError as e:
            return e
        except Exception as e:  # the learner's bug, reported, never raised
            m.note(f"update(k) raised {type(e).__name__}: {e}")
            return e
        return None

    def _runs(self, p: Any) -> bool:
        try:
            return p.alive and p.run(INSTRUCTIONS) == INSTRUCTIONS
        except KernelError:
            return False

    def _judge_programs(self, m: Marker, services: dict[str, Any]) -> None:
        prm = self.params
        if prm["constraint"] == "keep_programs":
            changed = [n for n, prog in prm["services"] if services[n].mm.exe != prog]
            m.award(not changed, 0.5, "every service runs its own program, as before",
                    f"{', '.join(changed)} changed program: the constraint forbids it")
        else:
            other = [n for n, p in services.items() if p.mm.exe not in BUILDS]
            m.award(not other, 0.5, "every service runs a build of the program",
                    f"{', '.join(other)} runs none of the program's builds ({', '.join(BUILDS)})")

    def _judge_update_now(self, m: Marker, k: Any, error: BaseException | None, busy: bool) -> bool:
        """The variant's programming operation started, and (once complete) reached the flash."""
        prm = self.params
        started = error is None and busy and k.flash.pending == (prm["offset"], prm["data"])
        m.award(started, 0.5, "the programming operation started while the services run",
                "update(k) was refused: a guarded update waits while services run from the "
                "flash, and this constraint needs it written now" if error is not None else
                "update(k) must start the variant's programming operation and leave it running "
                "(the check lets the services run, then completes it)")
        if busy:
            k.mtd_complete()
        end = prm["offset"] + len(prm["data"])
        m.award(started and bytes(k.flash.array[prm["offset"]:end]) == prm["data"], 0.5,
                f"{prm['data']!r} is in the flash at {prm['offset']:#x} once it completes",
                "the update did not reach the flash")
        return started

    def _judge_guarded(self, m: Marker, k: Any, error: BaseException | None,
                       expected: KernelError | None, busy: bool, digest: str) -> bool:
        """The update was refused as the model's guarded driver refuses it, changing nothing.

        Returns whether the services were put to the test (refused, or run during the update)."""
        prm = self.params
        ok = (isinstance(error, KernelError) and expected is not None
              and (error.errno, error.rule) == (expected.errno, expected.rule)
              and not busy and k.state_digest() == digest)
        if busy:
            k.mtd_complete()
        m.award(ok, 1, f"the driver refused the update ({expected.errno_name} [{expected.rule}]) "
                "while a region maps the chip directly, and nothing changed" if expected else "",
                "the update started: under this constraint the services keep their programs, so the "
                "driver must refuse to program the chip while anything runs from it" if busy else
                f"update(k) must ask the driver to program {prm['data']!r} at {prm['offset']:#x}, "
                "and the driver must refuse while the chip is mapped directly")
        return ok or busy
