"""The checks of the mapping exercises have teeth: wrong answers get partial credit and say why.

For each part of anonymous-mappings, private-file-mappings, shared-mappings,
map-uninitialized and mremap-rules, a typical wrong answer (the mistake a
learner makes) is marked on real variants: its score is partial, and the
feedback names what is wrong and what to revisit. The full-marks side is
tests/test_exercises.py (the solution notebooks on 24 variants each).
"""

from __future__ import annotations

import pytest

from nommu_lab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
)
from nommu_lab.exercises import get

PS = 4096
STUDENTS = ("alice", "bob", "s007")


def check(ex, part: str, answer, capsys: pytest.CaptureFixture[str]) -> tuple[float, str]:
    score = ex.check(part, answer)
    return float(score), capsys.readouterr().out


MINE = ["anonymous-mappings", "private-file-mappings", "shared-mappings", "map-uninitialized",
        "mremap-rules"]


@pytest.mark.parametrize("name", MINE)
def test_a_check_survives_any_answer(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    ex = get(name)("alice")
    for part in ex.parts:
        for answer in (None, 42, "A", lambda *a: None, lambda *a: 1 / 0, lambda *a: (1, 2)):
            score, out = check(ex, part, answer, capsys)
            assert score < ex.parts[part].points, (part, answer, out)
            assert "could not finish" not in out, out  # a wrong answer is feedback, not a crash


# ---------------------------------------------------------------------------
# anonymous-mappings
# ---------------------------------------------------------------------------
def _get_order(pages: int) -> int:
    return max(0, (pages - 1).bit_length())


@pytest.mark.parametrize("student", STUDENTS)
def test_anon_charge_gives_a_point_per_trim_setting(student: str, capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("anonymous-mappings")(student)

    def asked(length: int, trim: int) -> int:  # what /proc/<pid>/maps shows
        return -(-length // PS)

    def block(length: int, trim: int) -> int:  # forgets trimming
        return 1 << _get_order(-(-length // PS))

    def trims_always(length: int, trim: int) -> int:  # forgets that 0 turns trimming off
        return asked(length, trim)

    score, out = check(ex, "anon-charge", block, capsys)
    assert score == 1.0  # right only with vm.nr_trim_pages = 0
    assert "✓ right for all 6 lengths with vm.nr_trim_pages = 0" in out
    assert "that is the whole block; with vm.nr_trim_pages = 1 its tail" in out
    assert "revisit: the tutorial's notebook 02-anonymous-mappings" in out
    score, out = check(ex, "anon-charge", trims_always, capsys)
    assert score < 3.0
    assert "that is the length asked for, in pages; the kernel takes a block of" in out


def test_anon_aligned_needs_the_block_not_luck(capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("anonymous-mappings")("alice")
    size, align = ex.params["dma_bytes"], ex.params["dma_align"]

    def just_the_buffer(p):  # aligned only by the page allocator's state, if at all
        return p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)

    def the_whole_alignment(p):  # aligned for sure, but holds the whole block
        return p.mmap(0, align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)

    score, out = check(ex, "anon-aligned", just_the_buffer, capsys)
    assert score == 1.0 and "not aligned for sure: when the daemon holds" in out
    score, out = check(ex, "anon-aligned", the_whole_alignment, capsys)
    assert ex.cheapest() < align // PS  # this variant can do better than the whole block
    assert score == 2.0 and f"it holds {align // PS} pages; {ex.cheapest()} would do" in out


def test_anon_shared_marks_each_statement(capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("anonymous-mappings")("alice")
    score, out = check(ex, "anon-shared", set(), capsys)  # "nothing is true"
    assert 0 < score < 2
    assert "you judged it false; try it on the board" in out
    assert "revisit: notebook 02-anonymous-mappings, case 2" in out
    score, out = check(ex, "anon-shared", "ABCDEZ", capsys)  # "everything is true"
    assert 0 < score < 2 and "there is no statement Z" in out


# ---------------------------------------------------------------------------
# private-file-mappings
# ---------------------------------------------------------------------------
def _pf_variant(layout_first_smaller: bool):
    """A student whose reader_a needs fewer pages than reader_b (or more), on a disk file."""
    for i in range(200):
        ex = get("private-file-mappings")(f"pf{i}")
        (a0, a1), (b0, b1) = ex.params["reader_a"], ex.params["reader_b"]
        a_inside_b = b0 // PS <= a0 // PS and -(-a1 // PS) <= -(-b1 // PS) and (a0, a1) != (b0, b1)
        if ex.params["path"].startswith("/mnt/disk") and a_inside_b == layout_first_smaller:
            return ex
    raise AssertionError("no such variant")


def _map_pages(p, path: str, lo: int, hi: int, prot: int = PROT_READ) -> int:
    """Map the pages holding bytes lo..hi; the address of byte lo."""
    from nommu_lab.constants import O_RDONLY

    first = lo // PS * PS
    return p.mmap(0, hi - first, prot, MAP_PRIVATE, p.open(path, O_RDONLY), first) + lo - first


def test_pf_share_each_reader_its_own_range_is_refused_or_not_shared(
        capsys: pytest.CaptureFixture[str]) -> None:
    ex = _pf_variant(layout_first_smaller=True)
    path = ex.params["path"]

    def own_ranges(k):  # reader_a maps fewer pages first: reader_b overlaps inexactly
        a, b, w = k.spawn("a"), k.spawn("b"), k.spawn("w")
        return (a, b, w, _map_pages(a, path, *ex.params["reader_a"]),
                _map_pages(b, path, *ex.params["reader_b"]), 0)

    from nommu_lab import KernelError

    with pytest.raises(KernelError) as refused:  # what the model says, whatever its rule ids
        own_ranges(ex.board())
    score, out = check(ex, "pf-share", own_ranges, capsys)
    assert score == 0.0  # a disk file: the kernel refuses the mismatched overlap
    assert refused.value.errno_name == "EINVAL"
    assert f"share(k) was refused: EINVAL [{refused.value.rule}]" in out


def test_pf_share_a_read_only_writer_leaks_the_patch(capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("private-file-mappings")("alice")
    prm = ex.params
    lo = min(prm["reader_a"][0], prm["reader_b"][0])
    hi = max(prm["reader_a"][1], prm["reader_b"][1])

    def read_only_writer(k):  # the writer maps PROT_READ and stores anyway: no MMU stops it
        a, b, w = k.spawn("a"), k.spawn("b"), k.spawn("w")
        xa, xb, xw = (_map_pages(p, prm["path"], lo, hi) for p in (a, b, w))
        aw = xw + prm["patch_offset"] - lo
        w.poke(aw, prm["patch"])
        return a, b, w, xa + prm["reader_a"][0] - lo, xb + prm["reader_b"][0] - lo, aw

    score, out = check(ex, "pf-share", read_only_writer, capsys)
    assert score == 2.0
    assert "✓ one region for both readers (usage 3)" in out
    assert "the writer has no writable private copy" in out
    assert "the patch reached the file or a reader" in out


def test_pf_direct_and_eof_mark_each_answer(capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("private-file-mappings")("alice")
    score, out = check(ex, "pf-direct", lambda: [("copy", "F")] * 4, capsys)  # "always a copy"
    want_copies = sum(ex.kind_of(o) == "copy" for o in ex.mapped_objects())
    assert 0 < want_copies < 4
    assert score == pytest.approx(0.25 * want_copies)
    assert "cause 'F' does not explain it" in out and "revisit: notebook 03-private-file-mappings" in out
    score, out = check(ex, "pf-eof", lambda: (0, "ENODEV"), capsys)
    assert score == 0.0 and "is not the number of zero bytes between EOF" in out


# ---------------------------------------------------------------------------
# shared-mappings
# ---------------------------------------------------------------------------
def _variant(name: str, **want) -> object:
    for i in range(300):
        ex = get(name)(f"v{i}")
        if all(ex.params[k] == v for k, v in want.items()):
            return ex
    raise AssertionError(f"no {name} variant with {want}")


def test_sm_diagnose_needs_the_cause(capsys: pytest.CaptureFixture[str]) -> None:
    ex = _variant("shared-mappings", other="ramdisk")
    e = ex.refusal()
    score, out = check(ex, "sm-diagnose", lambda: (e.errno_name, e.rule, "A"), capsys)
    assert score == 1.0  # errno and rule read off the refusal; a disk file is not a ramdisk
    assert "cause 'A' does not explain ENODEV" in out and "revisit: notebook 04-shared-file-mappings" in out


def test_sm_share_refilling_is_needed_and_must_keep_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab.constants import MAP_SHARED, O_RDWR

    ex = _variant("shared-mappings", object="ramfs_written")
    prm = ex.params

    def mapped(k, keep_data: bool, refill: bool):
        w, r = k.spawn("w"), k.spawn("r")
        fd = w.open(prm["path"], O_RDWR)
        data = w.pread(fd, prm["size"], 0)
        if refill:
            w.ftruncate(fd, 0)
            w.ftruncate(fd, prm["size"])
            if keep_data:
                w.pwrite(fd, data, 0)
        a = w.mmap(0, prm["size"], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        b = r.mmap(0, prm["size"], PROT_READ | PROT_WRITE, MAP_SHARED, r.open(prm["path"], O_RDWR), 0)
        w.poke(a + prm["offset"], prm["message"])
        return w, r, a + prm["offset"], b + prm["offset"]

    from nommu_lab import KernelError

    with pytest.raises(KernelError) as refused:  # the pages came one at a time: not in place
        mapped(ex.board(), True, False)
    assert refused.value.errno_name == "ENODEV"
    score, out = check(ex, "sm-share", lambda k: mapped(k, True, False), capsys)
    assert score == 0.0 and f"share(k) was refused: ENODEV [{refused.value.rule}]" in out
    score, out = check(ex, "sm-share", lambda k: mapped(k, False, True), capsys)
    assert score == 2.0 and f"{prm['path']} lost some of what it held" in out
    assert check(ex, "sm-share", lambda k: mapped(k, True, True), capsys)[0] == 3.0


def test_sm_share_frame_buffer_reader_must_map_it(capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab.constants import MAP_SHARED, O_RDWR

    ex = _variant("shared-mappings", object="framebuffer")
    prm = ex.params

    def reader_peeks(k):  # no MMU: the reader could read the screen without mapping it
        w, r = k.spawn("w"), k.spawn("r")
        a = w.mmap(0, prm["size"], PROT_READ | PROT_WRITE, MAP_SHARED, w.open("/dev/fb0", O_RDWR), 0)
        w.poke(a + prm["offset"], prm["message"])
        return w, r, a + prm["offset"], a + prm["offset"]

    score, out = check(ex, "sm-share", reader_peeks, capsys)
    assert score == 1.25  # the writer's mapping, and the screen keeps the rest of its picture
    assert "the reader has no MAP_SHARED, writable mapping of /dev/fb0" in out
    assert "the two mappings are not one region at one address" in out


# ---------------------------------------------------------------------------
# map-uninitialized
# ---------------------------------------------------------------------------
def _sweep(ex, flags: int, where: str = "marker"):
    """Take free pages one at a time with ``flags``; stop at the page holding the secret."""
    from nommu_lab import KernelError
    from nommu_lab.exercises.map_uninitialized import secret_of

    marker, secret_page = ex.params["marker"].encode(), ex.secret_address() // PS * PS

    def recover(k):
        p = k.spawn("attacker")
        while True:
            try:
                a = p.mmap(0, PS, PROT_READ | PROT_WRITE, flags)
            except KernelError:
                return p, 0
            if a == secret_page:
                at = p.peek(a, PS).find(marker)
                return p, (a + at if where == "marker" and at >= 0 else a)
    assert secret_of(ex.params).startswith(marker)
    return recover


def test_uninit_recover_needs_the_flag_and_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab.constants import MAP_UNINITIALIZED

    ex = get("map-uninitialized")("alice")
    anon = MAP_PRIVATE | MAP_ANONYMOUS
    score, out = check(ex, "uninit-recover", _sweep(ex, anon), capsys)  # the page, cleared
    assert score == 0.0 and "that was made with MAP_UNINITIALIZED" in out
    score, out = check(ex, "uninit-recover", _sweep(ex, anon | MAP_UNINITIALIZED, "page"), capsys)
    assert score == 1.0 and "the secret is not at" in out and "search your mapping for" in out
    assert check(ex, "uninit-recover", _sweep(ex, anon | MAP_UNINITIALIZED), capsys)[0] == 3.0


def test_uninit_statements_are_judged_by_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab.exercises.map_uninitialized import STATEMENTS

    ex = get("map-uninitialized")("alice")
    truth = {key: STATEMENTS[key].probe(ex.params) for key in STATEMENTS}
    # what Linux 6.12 does (seen under QEMU, uninit.scn and ext2.scn): ignored without the option,
    # never for files, other processes' bytes, freed pages keep their bytes, slack not cleared
    assert truth == {"ignored": True, "refused": False, "shared_anon": True, "file_copy": False,
                     "other_process": True, "exit_clears": False, "slack": True, "mmu": False}
    score, out = check(ex, "uninit-statements", "ABCDEF", capsys)
    listed = ex.params["statements"]
    assert score == pytest.approx(0.5 * sum(truth[k] for k in listed))
    assert "you judged it true; try it on the board" in out


# ---------------------------------------------------------------------------
# mremap-rules
# ---------------------------------------------------------------------------
def test_mremap_predict_marks_errno_and_reason_apart(capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab import KernelError

    ex = get("mremap-rules")("alice")
    results = ex.outcomes()
    share = 3 / len(results)

    def errno_right_reason_wrong():
        return [(r.errno_name, "Z") if isinstance(r, KernelError) else r + PS for r, _ in results]

    score, out = check(ex, "mremap-predict", errno_right_reason_wrong, capsys)
    refused = sum(isinstance(r, KernelError) for r, _ in results)
    assert 0 < refused < len(results)
    assert score == pytest.approx(refused * share / 2)
    assert "reason 'Z' is not what refuses it" in out
    assert "is not what it returns (it succeeds; without an MMU a mapping never moves)" in out


def test_mremap_reasons_are_read_from_the_machine() -> None:
    # every variant's refused calls have exactly one reason holding, and it matches the errno
    from nommu_lab import KernelError

    errno_of = {"A": "EINVAL", "B": "EINVAL", "C": "EINVAL", "D": "EINVAL", "E": "EPERM", "F": "ENOMEM"}
    for i in range(24):
        for r, held in get("mremap-rules")(f"s{i:03d}").outcomes():
            if isinstance(r, KernelError):
                (why,) = held
                assert errno_of[why] == r.errno_name, (i, why, r)
            else:
                assert held == set()


@pytest.mark.parametrize("in_place", [True, False])
def test_mremap_goal_in_place_or_without_a_leak(in_place: bool, capsys: pytest.CaptureFixture[str]) -> None:
    ex = next(e for e in (get("mremap-rules")(f"g{i}") for i in range(100))
              if (e.params["goal_pages"] <= e.params["buf_pages"]) == in_place)
    prm = ex.params

    def copy_and_keep_the_old(p, maps):  # moves even when mremap could grow it, and leaks
        new = p.mmap(0, prm["goal_pages"] * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.poke(new, p.peek(maps["buf"], prm["buf_now"] * PS))
        return new

    score, out = check(ex, "mremap-goal", copy_and_keep_the_old, capsys)
    assert score == 1.0 and "holding buf's data" in out
    assert ("keep its address" if in_place else "so map anew, copy, and unmap the old buf") in out


def test_mremap_slack_is_beyond_the_region() -> None:
    # a call into the untrimmed slack (vm_end < new end <= vm_top) is refused for reason F
    params = {"ram_mib": 8, "nr_trim_pages": 0, "buf_pages": 5, "buf_now": 5, "data_len": 100,
              "data_seed": 1, "ring": "/r", "ring_pages": 1, "table_pages": 1,
              "scratch": "shared_anon", "scratch_pages": 2, "goal_pages": 7,
              "calls": [["buf", 0, 5 * PS, 7 * PS, "MREMAP_MAYMOVE", None],
                        ["scratch", 0, 2 * PS, PS, "0", None]]}
    ex = get("mremap-rules")("x", params=params)
    _, p, maps = ex.scenario()
    (buf,) = [v for v in p.vmas() if v.start == maps["buf"]]
    assert buf.region.top - buf.region.start == 8 * PS  # 3 pages of slack
    (slack, held), (shrink, none) = ex.outcomes()
    assert slack.errno_name == "ENOMEM" and held == {"F"}
    assert shrink == maps["scratch"] and none == set()  # anonymous MAP_SHARED: not shareable


def test_pf_reader_ranges_are_inside_the_file_and_overlap() -> None:
    for i in range(500):
        prm = get("private-file-mappings")(f"r{i}").params
        (a0, a1), (b0, b1) = prm["reader_a"], prm["reader_b"]
        assert 0 <= a0 < a1 <= prm["size"] and 0 <= b0 < b1 <= prm["size"], (i, prm)
        assert a0 // PS < -(-b1 // PS) and b0 // PS < -(-a1 // PS), (i, prm)  # pages overlap
