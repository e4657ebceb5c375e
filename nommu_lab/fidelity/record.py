"""Run scenario groups on real no-MMU Linux under QEMU and keep the transcripts.

Needs the outputs of ``oracle/build.sh`` (kernel Image, runner, the romfs
image, the patched device tree, disk.img).  For each group: compile the
scenarios (:mod:`compile`), pack an initramfs (newc cpio, written here)
holding the runner as ``/init`` and the compiled scenarios, boot QEMU once
under a timeout with the romfs loaded into the NOR flash bank at 0x20000000
and a fresh copy of the ext2 disk, and turn the console output into a
transcript.  A boot
that fails (no end marker, an abandoned scenario) is tried once more.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nommu_lab.fidelity import transcript as tr
from nommu_lab.fidelity.compile import compile_group
from nommu_lab.fidelity.scenario import Scenario

ORACLE_DIR = Path(__file__).resolve().parents[2] / "oracle"
BOOT_TIMEOUT = 120  # seconds for one boot; a group normally takes about one

QEMU = [
    "qemu-system-riscv64", "-M", "virt", "-bios", "none", "-m", "128M", "-smp", "1",
    "-nographic", "-no-reboot",
]


def cpio_newc(entries: Iterable[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """A ``newc`` cpio archive: (name, mode, data, (rdev major, minor)) entries."""
    out = bytearray()
    ino = 1
    for name, mode, data, (major, minor) in [*entries, ("TRAILER!!!", 0, b"", (0, 0))]:
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(nb), 0]
        out += b"070701" + "".join(f"{v:08x}" for v in fields).encode() + nb
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return bytes(out)


def initramfs(runner: bytes, scen_txt: str) -> bytes:
    d, f, x = 0o040755, 0o100644, 0o100755
    return cpio_newc([
        ("dev", d, b"", (0, 0)),
        ("dev/console", 0o020600, b"", (5, 1)),
        ("proc", d, b"", (0, 0)),
        ("tmp", d, b"", (0, 0)),
        ("rom", d, b"", (0, 0)),
        ("mnt", d, b"", (0, 0)),
        ("mnt/disk", d, b"", (0, 0)),
        ("init", x, runner, (0, 0)),
        ("scen.txt", f, scen_txt.encode(), (0, 0)),
    ])


@dataclass
class Boot:
    """The console output of one boot, parsed."""

    release: str
    scenarios: dict[int, dict[str, Any]]
    ended: bool
    console: list[str]
    seconds: float


_TS = re.compile(r"^(<\d>)?\[\s*\d+\.\d+\]\s?")


def _signed_to_result(v: int) -> int:
    """The runner prints signed longs: -4095..-1 are errors, other negatives addresses."""
    if v < -4095:
        return v + (1 << 64)
    return v


def parse_console(text: str, seconds: float = 0.0) -> Boot:
    """Turn the runner's ``@@`` records into per-scenario raw steps."""
    release = ""
    ended = False
    scen: dict[int, dict[str, Any]] = {}
    console: list[str] = []
    for raw in text.replace("\r", "").split("\n"):
        if not raw.startswith("@@"):
            # kernel messages that reached the console (oopses, panics); the
            # normal end of a boot is not worth keeping
            text = _TS.sub("", raw).strip()
            if text and release and text != "reboot: Power down":
                console.append(text)
            continue
        tag, _, rest = raw.partition(" ")
        if tag == "@@BOOT":
            release = rest.strip()
            continue
        if tag == "@@END":
            ended = True
            continue
        if tag == "@@SETUP":
            console.append(raw)
            continue
        parts = rest.split(" ", 2)
        if len(parts) < 2:
            continue
        try:
            n, step = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        payload = parts[2] if len(parts) > 2 else ""
        if n < 0:
            continue
        s = scen.setdefault(n, {"name": "", "steps": {}, "abandoned": None, "ended": False,
                                "answered": set()})
        if tag == "@@S":
            s["name"] = payload.strip()
            continue
        if tag == "@@E":
            s["ended"] = True
            continue
        if step < 0 or step >= 4095:
            continue
        st = s["steps"].setdefault(step, tr.empty_step())
        if tag == "@@R":
            s["answered"].add(step)
            a, _, b = payload.partition(" ")
            st["ret"] = _signed_to_result(int(a))
            st["ret2"] = _signed_to_result(int(b or 0))
        elif tag == "@@B":
            st["bytes"] = payload.strip()
        elif tag == "@@L":
            st["lines"].append(payload)
        elif tag == "@@K":
            st["klog"].append(_TS.sub(lambda m: m.group(1) or "", payload))
        elif tag == "@@X":
            s["answered"].add(step)
            st["killed"] = int(payload.strip() or 0)
        elif tag == "@@A":
            s["abandoned"] = {"step": step, "why": payload}
    return Boot(release, scen, ended, console, seconds)


def boot_group(scenarios: list[Scenario], out: Path, timeout: int = BOOT_TIMEOUT) -> Boot:
    """Boot QEMU once for a group of scenarios."""
    runner = (out / "runner").read_bytes()
    with tempfile.TemporaryDirectory(prefix="nommu-oracle-") as tmp:
        t = Path(tmp)
        (t / "initramfs.cpio").write_bytes(initramfs(runner, compile_group(scenarios)))
        shutil.copyfile(out / "disk.img", t / "disk.img")
        cmd = ["timeout", "--kill-after=5", str(timeout), *QEMU,
               "-kernel", str(out / "Image"), "-initrd", str(t / "initramfs.cpio"),
               "-dtb", str(out / "virt.dtb"),
               "-device", f"loader,file={out / 'rom.img'},addr=0x20000000,force-raw=on",
               "-drive", f"file={t / 'disk.img'},format=raw,if=none,id=d0",
               "-device", "virtio-blk-device,drive=d0"]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        took = time.monotonic() - t0
    return parse_console(proc.stdout.decode("utf-8", "replace"), took)


def _abandoned(sc: Scenario, got: dict[str, Any], console: list[str]) -> dict[str, Any] | None:
    """Where and why a scenario stopped early (None if it ran to its end)."""
    if got.get("abandoned") is not None:
        return dict(got["abandoned"])
    if got.get("ended", False):
        return None
    answered = got.get("answered", set())
    first = next((i for i in range(len(sc.steps)) if i not in answered), 0)
    crash = next((line for line in console if "BUG" in line or "panic" in line.lower()), "")
    return {"step": first, "why": f"the boot ended early: {crash}" if crash else "the boot ended early"}


def expected_stop(sc: Scenario, abandoned: dict[str, Any] | None) -> bool:
    """The real kernel crashing at a step marked with a known kernel bug is its answer."""
    if abandoned is None:
        return False
    step = int(abandoned["step"])
    return 0 <= step < len(sc.steps) and bool(sc.step_bugs(sc.steps[step]))


def boot_ok(boot: Boot, scenarios: list[Scenario]) -> bool:
    """Every scenario ran to its end, or stopped where a marked kernel bug crashes Linux."""
    for n, sc in enumerate(scenarios):
        got = boot.scenarios.get(n)
        if got is None:
            return False
        ab = _abandoned(sc, got, boot.console)
        if ab is not None and not expected_stop(sc, ab):
            return False
        if ab is not None:
            return n == len(scenarios) - 1  # nothing can run after a crash
    return boot.ended


def to_transcript(group: str, scenarios: list[Scenario], boot: Boot) -> dict[str, Any]:
    data = tr.new_transcript("linux", f"Linux {boot.release} (QEMU virt, CONFIG_MMU=n)", group)
    for n, sc in enumerate(scenarios):
        got = boot.scenarios.get(n, {"steps": {}, "abandoned": {"step": 0, "why": "no output"}})
        steps = [got["steps"].get(i, tr.empty_step()) for i in range(len(sc.steps))]
        abandoned = _abandoned(sc, got, boot.console)
        data["scenarios"][sc.name] = {"digest": sc.digest, "abandoned": abandoned, "steps": steps}
    if boot.console:
        data["console"] = boot.console[-50:]
    return data


def record_group(group: str, scenarios: list[Scenario], out: Path, dest: Path,
                 retries: int = 1, log: Any = print) -> tuple[bool, float]:
    """Record one group into ``dest/<group>.json``; returns (clean, seconds)."""
    boot = boot_group(scenarios, out)
    total = boot.seconds
    tries = 0
    while not boot_ok(boot, scenarios) and tries < retries:
        tries += 1
        log(f"  {group}: boot incomplete after {boot.seconds:.1f} s, trying again")
        boot = boot_group(scenarios, out)
        total += boot.seconds
    tr.save(to_transcript(group, scenarios, boot), dest / f"{group}.json")
    return boot_ok(boot, scenarios), total


def check_built(out: Path) -> list[str]:
    """Missing build outputs (empty when ``oracle/build.sh`` has run)."""
    missing = [n for n in ("Image", "runner", "rom.img", "virt.dtb", "disk.img") if not (out / n).exists()]
    if shutil.which(QEMU[0]) is None:
        missing.append(QEMU[0])
    return missing
