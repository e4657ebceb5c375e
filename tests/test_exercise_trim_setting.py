"""trim-setting: the checks re-measure on the model and give partial credit that teaches.

The right answers come from the module's own player (``play``), the same
code a learner writes in the solution notebook; each wrong answer below is a
mistake a learner makes, and must lose exactly the points of the criterion
it breaks, with feedback that names the mistake.
"""

from __future__ import annotations

import pytest

import nommu_lab as nl
from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu_lab.exercises import get
from nommu_lab.exercises.trim_setting import CRITERIA, Measurement, get_order, play

NAME = "trim-setting"
PAGE = 4096


def variant(cond=lambda ex: True):
    """The first student id (t0, t1...) whose variant meets ``cond``."""
    cls = get(NAME)
    return next(ex for ex in (cls(f"t{i}") for i in range(200)) if cond(ex))


def measure_right(ex):
    def measure(k):
        return play(k, ex.script())[0].figures()
    return measure


def test_variants_differ_and_every_candidate_fails_some_requests() -> None:
    ex = variant()
    runs = {s: ex._reference(s) for s in ex.params["settings"]}
    assert min(r.failed for r in runs.values()) > 0
    # the stated criterion decides on more than the tie-break (choose() draws until it does)
    key = CRITERIA[ex.params["criterion"]][1]
    first, second = sorted(runs, key=lambda s: key(s, runs[s]))[:2]
    assert key(first, runs[first])[:-1] != key(second, runs[second])[:-1]
    # and the first failure of part 3 had more memory free than it asked for, in pieces
    f = ex._first_failure(ex.params["why_setting"])
    assert f.mem_free_kb > f.pages * 4 and f.largest_kb < (1 << get_order(f.pages)) * 4


def test_measure_in_bytes_loses_the_largest_block_criterion(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()

    def measure_bytes(k):  # k.largest_free_block() is in bytes; the task wants kB
        free, _, failed = play(k, ex.script())[0].figures()
        return free, k.largest_free_block(), failed

    assert ex.check("trim-measure", measure_right(ex)) == 2.0
    assert ex.check("trim-measure", measure_bytes) == 1.5
    out = capsys.readouterr().out
    assert "for the largest free block: the figure is wanted in kB" in out
    assert "revisit: /proc/buddyinfo in the tutorial's notebook 10-page-trimming" in out


def test_measure_that_stops_at_the_first_failure_is_wrong_twice(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()

    def measure_stops(k):  # gives up at the first ENOMEM instead of carrying on
        p, live, failed = k.spawn("w"), {}, 0
        for op in ex.script():
            if op[0] == "map":
                try:
                    live[op[1]] = (p.mmap(0, op[2] * PAGE, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS), op[2])
                except nl.KernelError:
                    failed += 1
                    break
            elif op[1] in live:
                a, n = live.pop(op[1])
                p.munmap(a, n * PAGE)
        return k.meminfo()["MemFree"], k.largest_free_block() // 1024, failed

    score = ex.check("trim-measure", measure_stops)
    out = capsys.readouterr().out
    assert score < 2.0 and "✗ at nr_trim_pages=" in out
    assert "count each ENOMEM and carry on" in out


def test_choosing_by_the_wrong_criterion_keeps_the_figures_points(capsys: pytest.CaptureFixture[str]) -> None:
    # a variant where "most free memory" is not what its criterion picks
    def most_free(ex):
        runs = {s: ex._reference(s) for s in ex.params["settings"]}
        return max(runs, key=lambda s: (runs[s].mem_free_kb, -s))

    ex = variant(lambda ex: most_free(ex) != ex._best())
    figures = {s: ex._reference(s).figures() for s in ex.params["settings"]}
    assert ex.check("trim-choose", lambda: (ex._best(), figures)) == 3.0
    assert ex.check("trim-choose", lambda: (most_free(ex), figures)) == 1.0
    out = capsys.readouterr().out
    assert f"{most_free(ex)} is not the best by the criterion ({ex.criterion})" in out

    partial = dict(list(figures.items())[:-1])  # one candidate not measured: no justification
    assert ex.check("trim-choose", lambda: (ex._best(), partial)) == 2.0
    last = ex.params["settings"][-1]
    assert f"no figures for nr_trim_pages = {last}: measure every candidate" in capsys.readouterr().out


def test_a_choice_that_follows_from_wrong_figures_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    settings = ex.params["settings"]
    key = CRITERIA[ex.params["criterion"]][1]
    # figures that make another candidate look best
    wrong = {s: ex._reference(s).figures() for s in settings}
    right = dict(wrong)
    other = next(s for s in settings if s != ex._best())
    wrong[other] = (10 ** 6, 10 ** 6, 0)
    assert min(settings, key=lambda s: key(s, Measurement(*wrong[s]))) == other
    assert wrong != right
    assert ex.check("trim-choose", lambda: (other, wrong)) == 0.0
    out = capsys.readouterr().out
    assert f"{other} follows from your figures, but they are not the model's" in out


def test_first_failure_half_right(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    f = ex._first_failure(ex.params["why_setting"])
    right = (f.pages, get_order(f.pages), f.mem_free_kb, f.largest_kb)
    assert ex.check("trim-why", lambda: right) == 2.0
    # the order as pages.bit_length() is one too many for a power of two; here: off by one
    assert ex.check("trim-why", lambda: (f.pages, get_order(f.pages) + 1, f.mem_free_kb, f.largest_kb)) == 1.5
    assert "get_order(n) is the smallest order" in capsys.readouterr().out
    # free memory in pages, not kB
    assert ex.check("trim-why", lambda: (f.pages, get_order(f.pages), f.mem_free_kb // 4, f.largest_kb)) == 1.5
    assert "is not MemFree at the moment of the refusal" in capsys.readouterr().out


def test_the_best_setting_follows_the_stated_criterion() -> None:
    # the criteria, written out again here from the sentences the task states
    rank = {"failures": lambda s, r: (r.failed, -r.mem_free_kb, s),
            "largest": lambda s, r: (-r.largest_kb, r.failed, -r.mem_free_kb, s)}
    for i in range(12):
        ex = get(NAME)(f"t{i}")
        runs = {s: ex._reference(s) for s in ex.params["settings"]}
        assert ex._best() == min(runs, key=lambda s: rank[ex.params["criterion"]](s, runs[s]))
        assert ex.criterion.startswith({"failures": "the fewest failed allocations; among equals, "
                                                    "the most free memory",
                                        "largest": "the largest free block"}[ex.params["criterion"]])

def test_no_answer_breaks_a_check() -> None:
    ex = variant()
    for gid in ex.parts:
        for answer in (None, 42, lambda *a: None, lambda *a: 1 / 0, lambda *a: (1, 2),
                       lambda *a: ("x", {}), lambda *a: (True, True, True)):
            assert ex.check(gid, answer) == 0.0
