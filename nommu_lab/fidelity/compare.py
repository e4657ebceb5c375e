"""Compare two transcripts of the same scenarios, relation by relation.

Usually the model against the recorded real kernel; also one real recording
against another (to check that a re-recording reproduces the committed data).
A difference at a step marked ``!bug N`` (or anywhere in a scenario whose
header says ``bug: N`` and which marks no step) is a known kernel bug: the
model follows the intended behaviour there.  It is listed separately and
never counts as a failure.  A difference at a step marked ``!model`` is a
simplification the model makes knowingly (and names in its trace): also
listed separately, also never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nommu_lab.fidelity.normalise import Relations, normalise
from nommu_lab.fidelity.scenario import Scenario

AGREE = "agree"
DIFFER = "differ"
KNOWN_BUG = "known-bug"  # differs only where a known kernel bug is marked
SIMPLIFIED = "simplified"  # differs only where a model simplification is marked
STALE = "stale"  # the scenario changed since the real side was recorded
MISSING = "missing"  # no recorded real transcript for the scenario
INCOMPLETE = "incomplete"  # the real side was abandoned part way


@dataclass
class StepDiff:
    step: int
    line: int
    text: str
    key: str
    real: Any
    model: Any
    bugs: list[int]
    simplified: bool = False

    def __str__(self) -> str:
        tag = f" [known kernel bug {', '.join(map(str, self.bugs))}]" if self.bugs else ""
        if self.simplified:
            tag += " [model simplification]"
        return (f"  step {self.step} (line {self.line}) `{self.text}`: {self.key}: "
                f"linux {self.real!r}, model {self.model!r}{tag}")


@dataclass
class ScenarioResult:
    id: str
    status: str
    diffs: list[StepDiff] = field(default_factory=list)
    known: list[StepDiff] = field(default_factory=list)
    note: str = ""
    steps_compared: int = 0

    @property
    def failed(self) -> bool:
        return self.status in (DIFFER, STALE, MISSING, INCOMPLETE)


def diff_relations(a: Relations | None, b: Relations | None) -> list[tuple[str, Any, Any]]:
    if a is None or b is None:
        return []
    if "result" in a and a.get("result") != b.get("result"):
        # one side failed (or returned another value): the other relations
        # of this step only repeat that
        return [("result", a.get("result"), b.get("result"))]
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append((key, a.get(key), b.get(key)))
    return out


def compare_scenario(sc: Scenario, real: dict[str, Any] | None, model: dict[str, Any]) -> ScenarioResult:
    if real is None:
        return ScenarioResult(sc.id, MISSING, note="no recorded transcript: run the record command")
    if real.get("digest") != sc.digest:
        return ScenarioResult(sc.id, STALE, note="the scenario changed after it was recorded: re-record")
    r_rel = normalise(sc, real)
    m_rel = normalise(sc, model)
    res = ScenarioResult(sc.id, AGREE)
    for st, a, b in zip(sc.steps, r_rel, m_rel, strict=True):
        if a is None:
            continue
        res.steps_compared += 1
        if b is None:
            b = {"result": "not run"}
        bugs = sc.step_bugs(st)
        for key, x, y in diff_relations(a, b):
            d = StepDiff(st.index, st.line, st.text, key, x, y, bugs, st.simplified)
            (res.known if bugs or st.simplified else res.diffs).append(d)
    crashed = False
    if real.get("abandoned"):
        ab = real["abandoned"]
        res.note = f"the real run stopped at step {ab['step']}: {ab['why']}"
        k = int(ab["step"])
        if 0 <= k < len(sc.steps) and sc.step_bugs(sc.steps[k]):
            # Linux crashed where a known kernel bug is marked: that is its answer
            crashed = True
            st = sc.steps[k]
            got = m_rel[k] if k < len(m_rel) else None
            res.known.append(StepDiff(k, st.line, st.text, "result", "kernel crashed",
                                      (got or {}).get("result"), sc.step_bugs(st)))
    if res.diffs:
        res.status = DIFFER
    elif real.get("abandoned") and not crashed:
        res.status = INCOMPLETE
    elif any(d.bugs for d in res.known):
        res.status = KNOWN_BUG
    elif res.known:
        res.status = SIMPLIFIED
    return res


def report(results: list[ScenarioResult], verbose: bool = False) -> str:
    lines: list[str] = []
    for r in results:
        if r.status == AGREE and not verbose:
            continue
        lines.append(f"{r.status.upper():10} {r.id}" + (f"  ({r.note})" if r.note else ""))
        lines.extend(str(d) for d in r.diffs)
        if verbose or r.status in (KNOWN_BUG, SIMPLIFIED):
            lines.extend(str(d) for d in r.known)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    lines.append(f"{len(results)} scenarios: {summary}")
    return "\n".join(lines)
