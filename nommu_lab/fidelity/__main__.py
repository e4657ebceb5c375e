"""Command line: ``nommu-lab fidelity compare|record|list|show`` (or ``python -m nommu_lab.fidelity``).

compare   run every scenario on the model and compare it with the recorded
          Linux transcripts (no QEMU); exit status 1 on a disagreement
record    boot real Linux under QEMU (after ``bash oracle/build.sh``) and
          write the transcripts; ``--check`` records into a scratch folder
          and compares with the committed transcripts instead
list      the scenarios and what they check
show ID   one scenario: its steps, Linux's results, the model's results
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from nommu_lab.fidelity import compare as cmp
from nommu_lab.fidelity import transcript as tr
from nommu_lab.fidelity.normalise import normalise
from nommu_lab.fidelity.scenario import SCENARIO_DIR, Scenario, load_all


def _select(groups: dict[str, list[Scenario]], group: str | None, name: str | None) -> dict[str, list[Scenario]]:
    out: dict[str, list[Scenario]] = {}
    for g, scs in groups.items():
        if group and g != group:
            continue
        chosen = [s for s in scs if not name or s.name == name or s.id == name]
        if chosen:
            out[g] = chosen
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    from nommu_lab.fidelity.model_runner import run_scenario

    groups = _select(load_all(Path(args.scenarios)), args.group, args.scenario)
    real_dir = Path(args.real)
    results: list[cmp.ScenarioResult] = []
    for g, scs in groups.items():
        path = real_dir / f"{g}.json"
        real = tr.load(path)["scenarios"] if path.exists() else {}
        for sc in scs:
            results.append(cmp.compare_scenario(sc, real.get(sc.name), dict(run_scenario(sc))))
    print(cmp.report(results, args.verbose))
    return 1 if any(r.failed for r in results) else 0


def cmd_record(args: argparse.Namespace) -> int:
    from nommu_lab.fidelity import record

    build = Path(args.build)
    missing = record.check_built(build)
    if missing:
        print(f"not built: {', '.join(missing)}; run: bash oracle/build.sh", file=sys.stderr)
        return 2
    groups = _select(load_all(Path(args.scenarios)), args.group, None)
    tmp = tempfile.TemporaryDirectory(prefix="nommu-record-") if args.check else None
    dest = Path(tmp.name) if tmp else Path(args.out)
    t0 = time.monotonic()
    clean = True
    for g, scs in groups.items():
        ok, secs = record.record_group(g, scs, build, dest)
        clean &= ok
        print(f"{g}: {len(scs)} scenarios, {secs:.1f} s{'' if ok else ', INCOMPLETE'}")
    print(f"recorded {sum(map(len, groups.values()))} scenarios in {time.monotonic() - t0:.1f} s")
    status = 0 if clean else 1
    if args.check:
        status = max(status, _check_against(groups, dest, Path(args.out), build))
    if tmp:
        tmp.cleanup()
    return status


def _check_against(groups: dict[str, list[Scenario]], fresh: Path, committed: Path,
                   build: Path) -> int:
    """Real against real: does a new recording reproduce the committed one?

    A group whose recording differs is booted once more before the difference
    counts, so one unlucky page allocation does not fail a CI run.
    """
    from nommu_lab.fidelity import record

    def check(g: str, scs: list[Scenario]) -> list[cmp.ScenarioResult]:
        new = tr.load(fresh / f"{g}.json")["scenarios"]
        old_path = committed / f"{g}.json"
        old = tr.load(old_path)["scenarios"] if old_path.exists() else {}
        return [cmp.compare_scenario(sc, old.get(sc.name), new[sc.name]) for sc in scs]

    results = []
    for g, scs in groups.items():
        res = check(g, scs)
        if any(r.failed for r in res):
            print(f"{g}: differs from the committed transcript; recording it once more")
            record.record_group(g, scs, build, fresh)
            res = check(g, scs)
        results.extend(res)
    print("committed transcripts (linux) against this recording (now):")
    print(cmp.report(results).replace("model", "now"))
    return 1 if any(r.failed for r in results) else 0


def cmd_list(args: argparse.Namespace) -> int:
    groups = load_all(Path(args.scenarios))
    n = 0
    for g, scs in groups.items():
        print(f"[{g}]")
        for sc in scs:
            n += 1
            bugs = f" (kernel bug {', '.join(map(str, sc.bugs))})" if sc.bugs else ""
            print(f"  {sc.name}{bugs}: {sc.doc}")
    print(f"{n} scenarios in {len(groups)} groups")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nommu_lab.fidelity.model_runner import run_scenario

    sel = _select(load_all(Path(args.scenarios)), None, args.id)
    if not sel:
        print(f"no scenario {args.id}", file=sys.stderr)
        return 2
    for g, scs in sel.items():
        path = Path(args.real) / f"{g}.json"
        if path.exists():
            real_all = tr.load(path)["scenarios"]
        else:  # a new group: show the model's side, and say how to get Linux's
            print(f"(no Linux transcript for {g} yet: record it with bash oracle/run.sh -g {g})")
            real_all = {}
        for sc in scs:
            print(f"{sc.id}: {sc.doc}")
            real = real_all.get(sc.name)
            rr = normalise(sc, real) if real else [None] * len(sc.steps)
            mr = normalise(sc, dict(run_scenario(sc))) if args.model else [None] * len(sc.steps)
            for st, a, b in zip(sc.steps, rr, mr, strict=True):
                print(f"{st.index:3} {st.proc}: {st.text}")
                if real:
                    raw = real["steps"][st.index]
                    for line in raw.get("lines", []):
                        print(f"        | {line}")
                print(f"      linux {a}")
                if args.model:
                    print(f"      model {b}")
    return 0


def build_parser(prog: str = "python -m nommu_lab.fidelity") -> argparse.ArgumentParser:
    """The fidelity command line's parser (each sub-command sets ``fn``)."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=str(SCENARIO_DIR), help="folder of .scn files")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare", help="the model against the recorded Linux transcripts")
    c.add_argument("-g", "--group")
    c.add_argument("-s", "--scenario", help="a scenario name or group/name")
    c.add_argument("-v", "--verbose", action="store_true", help="list agreeing scenarios too")
    c.add_argument("--real", default=str(tr.TRANSCRIPT_DIR), help="folder of recorded transcripts")
    c.set_defaults(fn=cmd_compare)
    r = sub.add_parser("record", help="boot Linux under QEMU and record transcripts")
    r.add_argument("-g", "--group")
    r.add_argument("--out", default=str(tr.TRANSCRIPT_DIR), help="where transcripts go")
    r.add_argument("--build", default=str(_oracle_out()), help="oracle/build.sh's output folder")
    r.add_argument("--check", action="store_true",
                   help="record into a scratch folder and compare with the transcripts in --out")
    r.set_defaults(fn=cmd_record)
    sub.add_parser("list", help="list the scenarios").set_defaults(fn=cmd_list)
    s = sub.add_parser("show", help="one scenario, step by step")
    s.add_argument("id", help="group/name or name")
    s.add_argument("--model", action="store_true", help="run it on the model too")
    s.add_argument("--real", default=str(tr.TRANSCRIPT_DIR))
    s.set_defaults(fn=cmd_show)
    return ap


def main(argv: list[str] | None = None, prog: str = "python -m nommu_lab.fidelity") -> int:
    """The fidelity command line (also ``nommu-lab fidelity``)."""
    args = build_parser(prog).parse_args(argv)
    return int(args.fn(args))


def _oracle_out() -> Path:
    from nommu_lab.fidelity.record import ORACLE_DIR

    return ORACLE_DIR / "build" / "out"


if __name__ == "__main__":
    sys.exit(main())
