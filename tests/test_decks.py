"""Lecture decks: every shipped deck plays forward and back, deterministically, and says true things.

A deck claims, step by step, that a call succeeds or fails with a given errno
and fires a given trace rule; resolving it on the model checks every claim. The
presenter steps through a deck's stops by time travel, so each stop must leave
the same machine as a fresh replay of the calls before it.
"""

from __future__ import annotations

import json

import pytest

import nommu_lab as nl
import nommu_lab.decks as D
from nommu_lab.constants import *
from nommu_lab.session import Recording, Session, format_result

DECKS = D.deck_names()
#: one deck per case group of the document
GROUPS = ["01-anonymous", "02-private-file", "03-shared-file-devices", "04-trimming",
          "05-flash", "06-processes", "07-shm-futex-mremap"]


def test_one_deck_per_case_group_is_shipped_as_package_data():
    assert DECKS == GROUPS
    for d in D.all_decks():
        assert d.title and d.summary and len(d.steps) >= 8, d.key
        assert d.compare, f"{d.key} has no MMU side-by-side view"
        for key in d.compare:
            assert callable(D.compare_program(key).program)


@pytest.mark.parametrize("key", DECKS)
def test_every_step_succeeds_or_fails_as_the_deck_says(key: str):
    r = D.load(key).resolve()
    assert r.mismatches() == []
    # and the deck does not only succeed: the refusals it teaches are there
    assert len(r.outcomes) == len(r.deck.steps)


@pytest.mark.parametrize("key", DECKS)
def test_a_deck_plays_forward_to_the_end_and_back_like_a_fresh_replay(key: str):
    deck = D.load(key)
    play = D.Playback(Session(nl.boards.default()))
    play.load(deck)
    calls = play.resolved.recording.calls
    factory = deck.factory()
    fresh = [Recording(calls[:n]).replay(factory).state_digest() for n in range(len(calls) + 1)]
    seen = [play.stop]
    assert play.session.kernel.state_digest() == fresh[0]
    while play.can_forward:
        stop = play.forward()
        seen.append(stop)
        assert play.session.position == stop.position
        assert play.session.kernel.state_digest() == fresh[stop.position], (key, stop)
    assert play.stop.position == len(calls) and play.stop.phase == "reveal"
    while play.can_back:
        stop = play.back()
        assert play.session.kernel.state_digest() == fresh[stop.position], (key, stop)
    assert play.index == 0 and play.session.position == 0
    # every question stops the deck *before* its call, then the reveal makes it
    questions = [s for s in seen if s.phase == "question"]
    assert len(questions) == sum(1 for s in deck.steps if s.predict is not None) > 0
    for q in questions:
        nxt = seen[seen.index(q) + 1]
        assert (nxt.phase, nxt.step, nxt.position) == ("reveal", q.step, q.position + 1)


def test_a_detour_during_a_deck_is_set_aside_when_the_deck_goes_on():
    play = D.Playback(Session(nl.boards.default()))
    play.load(D.load("01-anonymous"))
    play.goto(3)
    pos = play.session.position
    play.session.call(None, "spawn", "detour")  # the presenter clicks a button mid-deck
    assert play.diverged
    play.forward()
    assert not play.diverged and play.session.calls == play.resolved.recording.calls
    assert all(p.name != "detour" for p in play.session.kernel.processes.values())
    assert play.session.position >= pos


def test_the_flash_deck_shows_the_crash_and_both_fixes():
    r = D.load("05-flash").resolve()
    by_rule = {rule: i for i, o in enumerate(r.outcomes, 1) for rule in o.rules}
    crash = by_rule["cpu.illegal_instruction"]
    assert r.outcomes[crash - 1].call.name == "run"
    guard = [o for o in r.outcomes if o.call.kwargs == (("guard", True),)]
    assert [o.errno_name for o in guard] == ["EBUSY"]
    ram = [o for o in r.outcomes if o.call.args == ("/rom/bin/hello-ram",)]
    assert ram and ram[0].ok
    # after the RAM-copy fix a run during programming survives
    last_run = max(i for i, o in enumerate(r.outcomes, 1) if o.call.name == "run")
    assert r.outcomes[last_run - 1].result == 8


def test_references_are_filled_in_from_earlier_results():
    deck = D.Deck.from_json(json.dumps({
        "format": "nommu-lab-deck", "version": 1, "title": "t", "steps": [
            {"call": [None, "spawn", ["a"]], "caption": "c"},
            {"call": [{"ref": 1}, "mmap", [0, {"pages": 2}, {"c": "PROT_READ|PROT_WRITE"},
                                           {"c": "MAP_PRIVATE|MAP_ANONYMOUS"}, -1, 0]],
             "caption": "c"},
            {"call": [{"ref": 1}, "poke", [{"ref": 2, "plus": 4096}, {"text": "ab", "repeat": 2}]],
             "caption": "c"},
            {"call": [{"ref": 1}, "pipe", []], "caption": "c"},
            {"call": [{"ref": 1}, "close", [{"ref": 4, "index": 1}]], "caption": "c"},
        ]}), "t")
    r = deck.resolve()
    calls = r.recording.calls
    addr = r.outcomes[1].result
    assert calls[1].args == (0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    assert calls[2].args == (addr + 4096, b"abab")
    assert calls[4].args == (r.outcomes[3].result[1],)
    assert calls[1].pid == 1 and r.mismatches() == []


@pytest.mark.parametrize("step, message", [
    ({"call": [None, "spawn", ["a"]]}, "every step needs a caption"),
    ({"call": [None, "spawn"], "caption": "c"}, "call is"),
    ({"call": [None, "spawn", ["a"]], "caption": "c", "predict": {"question": "q"}}, "predict is"),
    ({"call": [None, "spawn", ["a"]], "caption": "c", "expect": "fails"}, "expect is"),
    ({"call": [None, "spawn", ["a"]], "caption": "c", "colour": "red"}, "unknown key"),
])
def test_malformed_steps_are_refused_with_the_step_number(step: dict, message: str):
    text = json.dumps({"format": "nommu-lab-deck", "version": 1, "steps": [step]})
    with pytest.raises(ValueError, match=f"step 1: {message}"):
        D.Deck.from_json(text)


@pytest.mark.parametrize("arg, message", [
    ({"ref": 5}, "must name an earlier step"),
    ({"c": "MAP_NOTHING"}, "not a constant"),
    ({"bogus": 1}, "unknown argument form"),
])
def test_bad_arguments_name_the_deck_and_step(arg: object, message: str):
    deck = D.Deck.from_json(json.dumps({"format": "nommu-lab-deck", "version": 1, "steps": [
        {"call": [None, "spawn", ["a"]], "caption": "c"},
        {"call": [1, "exit", [arg]], "caption": "c"}]}), "bad")
    with pytest.raises(ValueError, match=f"bad step 2: .*{message}"):
        deck.resolve()


def test_a_wrong_claim_is_reported():
    deck = D.Deck.from_json(json.dumps({"format": "nommu-lab-deck", "version": 1, "steps": [
        {"call": [None, "spawn", ["a"]], "caption": "c"},
        {"call": [1, "fork", []], "caption": "c", "expect": "ok"},
        {"call": [1, "mmap", [0, 4096, 3, 34, -1, 0]], "caption": "c", "rule": "do_mmap.share_region"},
    ]}), "wrong")
    first, second = deck.resolve().mismatches()
    assert first.startswith("wrong step 2 pid 1: fork(): expected ok, got ENOSYS: ENOSYS "
                            "[fork.no_syscall]")
    assert second == (
        "wrong step 3 pid 1: mmap(0, 0x1000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0): "
        "expected rule do_mmap.share_region, fired mmap, do_mmap_private.alloc, do_mmap.zero_anonymous, "
        "do_mmap.new_region")


def test_format_result_reads_like_c():
    assert format_result("mmap", 0x80108000) == "= 0x80108000"
    assert format_result("write", 8200) == "= 8200"
    assert format_result("peek", b"abc") == "= b'abc'"
    assert format_result("mtd_complete", None) == "= 0"
    err = nl.KernelError(22, "validate_mmap_request.map_fixed", "no")
    assert format_result("mmap", None, err) == "= -1 EINVAL (validate_mmap_request.map_fixed)"
