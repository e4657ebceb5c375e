"""The fidelity suite: the model checked against real no-MMU Linux.

Scenarios (``scenarios/*.scn``, see :mod:`nommu_lab.fidelity.scenario`) run on
both sides.  The real side is Linux 6.12 booted under QEMU by
``oracle/build.sh`` and :mod:`nommu_lab.fidelity.record`; its transcripts are
committed in ``transcripts/`` so notebooks can show what Linux printed
without building a kernel.  :mod:`nommu_lab.fidelity.compare` reports, step
by step, where the model agrees and where it differs.

This package does not import Jupyter, and imports the model only when a
scenario is run on it.
"""

from __future__ import annotations

from typing import Any

from nommu_lab.fidelity.scenario import Scenario, ScenarioError, load_all, parse

__all__ = [
    "Scenario",
    "ScenarioError",
    "check_model",
    "get_scenario",
    "linux_said",
    "load_all",
    "parse",
    "real_transcript",
]


def get_scenario(scenario_id: str) -> Scenario:
    """A scenario by id, ``"group/name"``."""
    group, _, name = scenario_id.partition("/")
    for sc in load_all().get(group, []):
        if sc.name == name:
            return sc
    raise KeyError(scenario_id)


def real_transcript(scenario_id: str) -> dict[str, Any]:
    """What Linux 6.12 returned for a scenario: the recorded raw transcript."""
    from nommu_lab.fidelity import transcript

    group, _, name = scenario_id.partition("/")
    return transcript.load(transcript.TRANSCRIPT_DIR / f"{group}.json")["scenarios"][name]  # type: ignore[no-any-return]


def linux_said(scenario_id: str) -> list[dict[str, Any]]:
    """Step by step, what Linux 6.12 answered, for a notebook to show.

    Each entry: ``step``, ``process``, ``call`` (the scenario line),
    ``result`` (``"0x80401000"`` for an address, an errno name such as
    ``"EINVAL"``, or the number returned), ``lines`` (/proc text) and
    ``bytes`` (what was read), plus ``kernel_log`` (messages printed then).
    """
    from nommu_lab.fidelity.linux import errno_name
    from nommu_lab.fidelity.normalise import is_error

    sc = get_scenario(scenario_id)
    raw = real_transcript(scenario_id)
    out = []
    for st, r in zip(sc.steps, raw["steps"], strict=True):
        ret = int(r.get("ret", 0))
        if is_error(ret):
            result: str | int = errno_name(-ret)
        elif st.result_kind == "addr":
            result = f"{ret:#x}"
        else:
            result = ret
        out.append({
            "step": st.index,
            "process": st.proc,
            "call": st.text,
            "result": result,
            "lines": list(r.get("lines", [])),
            "bytes": bytes.fromhex(r["bytes"]) if r.get("bytes") else None,
            "kernel_log": list(r.get("klog", [])),
        })
    return out


def check_model(scenario_id: str) -> Any:
    """Run one scenario on the model and compare it with Linux (a ScenarioResult)."""
    from nommu_lab.fidelity.compare import compare_scenario
    from nommu_lab.fidelity.model_runner import run_scenario

    sc = get_scenario(scenario_id)
    return compare_scenario(sc, real_transcript(scenario_id), dict(run_scenario(sc)))
