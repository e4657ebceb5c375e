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

__all__ = ["Scenario", "ScenarioError", "get_scenario", "load_all", "parse", "real_transcript"]


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
