"""Raw transcripts: what one side printed, step by step.

A transcript is JSON, one file per scenario group::

    {"format": 1, "side": "linux" | "model", "source": "...", "group": "anon",
     "scenarios": {
        "<name>": {"digest": "<hash of the scenario text>",
                   "abandoned": null | {"step": 7, "why": "..."},
                   "steps": [{"ret": 2156806144, "ret2": 0,
                              "bytes": "4142" | null,
                              "lines": ["80800000-80803000 rw-p ..."],
                              "klog": ["<4>nommu: ..."]}, ...]}}}

``ret`` is the value the call returned, or ``-errno``; addresses are kept as
unsigned 64-bit numbers.  ``lines`` holds /proc maps text, ``bytes`` what was
read (hex).  ``killed`` (only present then) is the signal that killed the
process during the step (the OOM killer's SIGKILL), 0 when the real side could
not tell which.  ``steps`` is indexed by step number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

FORMAT = 1
TRANSCRIPT_DIR = Path(__file__).with_name("transcripts")


class RawStep(TypedDict, total=False):
    ret: int
    ret2: int
    bytes: str | None
    lines: list[str]
    klog: list[str]
    error: str  # the model raised something that is not a KernelError
    killed: int  # the process died during the step, killed by this signal (0: unknown)


class RawScenario(TypedDict):
    digest: str
    abandoned: dict[str, Any] | None
    steps: list[RawStep]


def empty_step() -> RawStep:
    return {"ret": 0, "ret2": 0, "bytes": None, "lines": [], "klog": []}


def new_transcript(side: str, source: str, group: str) -> dict[str, Any]:
    return {"format": FORMAT, "side": side, "source": source, "group": group, "scenarios": {}}


def dumps(data: dict[str, Any]) -> str:
    """JSON with one step a line: readable, and small diffs when re-recorded."""
    head = {k: v for k, v in data.items() if k != "scenarios"}
    out = ["{"]
    for k, v in head.items():
        out.append(f" {json.dumps(k)}: {json.dumps(v)},")
    out.append(' "scenarios": {')
    names = list(data["scenarios"])
    for i, name in enumerate(names):
        sc = data["scenarios"][name]
        out.append(f"  {json.dumps(name)}: {{")
        out.append(f'   "digest": {json.dumps(sc["digest"])}, "abandoned": {json.dumps(sc["abandoned"])},')
        out.append('   "steps": [')
        steps = sc["steps"]
        for j, st in enumerate(steps):
            out.append("    " + json.dumps(st) + ("," if j < len(steps) - 1 else ""))
        out.append("   ]")
        out.append("  }" + ("," if i < len(names) - 1 else ""))
    out.append(" }")
    out.append("}")
    return "\n".join(out) + "\n"


def save(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(data)
    assert json.loads(text) == data
    path.write_text(text)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: transcript format {data.get('format')!r}, expected {FORMAT}")
    return data


def load_all(directory: Path = TRANSCRIPT_DIR) -> dict[str, dict[str, Any]]:
    """Recorded real-kernel transcripts: group -> transcript."""
    return {p.stem: load(p) for p in sorted(directory.glob("*.json"))}
