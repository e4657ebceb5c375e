"""The fidelity suite: the model against what Linux 6.12 recorded under QEMU.

The first tests run every scenario of nommu_lab/fidelity/scenarios on the
model and compare it, relation by relation, with the committed transcripts
(no QEMU needed).  A scenario the model still gets wrong is listed in
tests/fidelity_xfail.txt and marked xfail(strict=True).  The rest checks the
scenario language, the normaliser, the comparator and the console parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nommu_lab import board_files
from nommu_lab.fidelity import compare as cmp
from nommu_lab.fidelity import transcript as tr
from nommu_lab.fidelity.compile import cleanup, compile_group
from nommu_lab.fidelity.linux import PAGE_SIZE, SYMBOLS
from nommu_lab.fidelity.normalise import buddyinfo_shape, normalise, parse_maps_line
from nommu_lab.fidelity.record import cpio_newc, parse_console
from nommu_lab.fidelity.scenario import Ref, ScenarioError, load_all, parse

SCENARIOS = load_all()
ALL = [sc for scs in SCENARIOS.values() for sc in scs]
XFAIL_FILE = Path(__file__).with_name("fidelity_xfail.txt")


def _xfails() -> dict[str, str]:
    out = {}
    for line in XFAIL_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sid, _, why = line.partition(":")
            out[sid.strip()] = why.strip()
    return out


XFAIL = _xfails()
REAL = tr.load_all()


def _params() -> list[Any]:
    out = []
    for sc in ALL:
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[sc.id])] if sc.id in XFAIL else []
        out.append(pytest.param(sc, id=sc.id, marks=marks))
    return out


# ------------------------------------------------------------ model vs Linux

@pytest.mark.parametrize("sc", _params())
def test_model_agrees_with_linux(sc: Any) -> None:
    """Every step's relations match Linux 6.12, except at marked kernel bugs and
    marked model simplifications (``!model``)."""
    from nommu_lab.fidelity.model_runner import run_scenario

    real = REAL.get(sc.group, {"scenarios": {}})["scenarios"].get(sc.name)
    res = cmp.compare_scenario(sc, real, dict(run_scenario(sc)))
    assert res.status in (cmp.AGREE, cmp.KNOWN_BUG, cmp.SIMPLIFIED), cmp.report([res])


def test_xfail_list_names_real_scenarios() -> None:
    ids = {sc.id for sc in ALL}
    assert set(XFAIL) <= ids, set(XFAIL) - ids


@pytest.mark.parametrize("sc", ALL, ids=[sc.id for sc in ALL])
def test_transcript_recorded_and_current(sc: Any) -> None:
    """The committed real transcript belongs to this very scenario text."""
    real = REAL.get(sc.group, {"scenarios": {}})["scenarios"].get(sc.name)
    assert real is not None, f"not recorded yet: bash oracle/run.sh -g {sc.group}"
    assert real["digest"] == sc.digest, f"scenario edited: bash oracle/run.sh -g {sc.group}"
    if real["abandoned"] is not None:  # only where Linux crashes on a marked bug
        from nommu_lab.fidelity.record import expected_stop

        assert expected_stop(sc, real["abandoned"]), real["abandoned"]
    assert len(real["steps"]) == len(sc.steps)


def test_suite_size_and_documentation() -> None:
    assert len(ALL) >= 60
    for sc in ALL:
        assert sc.doc and sc.rule, sc.id
    bugs = {b for sc in ALL for b in sc.bugs}
    assert {1, 2, 6} <= bugs
    steps_bugs = {b for sc in ALL for st in sc.steps for b in st.bugs}
    assert {1, 2, 7} <= steps_bugs
    # the model follows Linux's code for SysV shmat (bug 3): no mark may excuse
    # a difference there
    assert not any(3 in sc.step_bugs(st) for sc in ALL for st in sc.steps)


def test_every_document_case_is_covered() -> None:
    cases = {sc.case for sc in ALL}
    assert {"1", "2", "3", "4", "5", "6", "7", "8"} <= cases


def test_recorded_facts_match_what_linux_is_known_to_do() -> None:
    """Spot checks that the recording says what Linux 6.12 is known to do."""
    def rel(sid: str) -> list[Any]:
        group, name = sid.split("/")
        sc = next(s for s in SCENARIOS[group] if s.name == name)
        return normalise(sc, REAL[group]["scenarios"][name])

    trim = rel("anon/trim_default_3_pages")
    assert trim[4] == {"mmapcopy_delta_pages": 3}
    assert rel("anon/trim_off")[5] == {"mmapcopy_delta_pages": 4}
    assert rel("proc/fork_is_missing")[1] == {"result": "ENOSYS"}
    assert rel("shm/sysv_shmat_enodev")[3] == {"result": "ENODEV"}
    xip = rel("romfs/xip_private_read")[3]
    assert xip["page_aligned"] is False and xip["align16"] is True
    assert rel("ramfs/shrink_under_shared_mapping")[4] == {"result": "ETXTBSY"}


def test_linux_kills_where_the_model_says_it_would() -> None:
    """The model refuses a small copy that finds no block; its trace says Linux would
    call the OOM killer instead. The Linux 6.12 recording shows exactly that."""
    from nommu_lab.fidelity.model_runner import run_scenario_keeping_kernel

    group, name = "oom_small", "small_copies_call_the_oom_killer"
    sc = next(s for s in SCENARIOS[group] if s.name == name)
    raw = REAL[group]["scenarios"][name]
    model_raw, k = run_scenario_keeping_kernel(sc)
    linux = normalise(sc, raw)
    model = normalise(sc, dict(model_raw))
    # 16 pages (order 4, above PAGE_ALLOC_COSTLY_ORDER): ENOMEM on both, nobody killed
    assert linux[2] == model[2] == {"result": "ENOMEM"}
    klog = raw["steps"][2]["klog"]
    assert any("page allocation failure: order:4" in line for line in klog)
    # 8 pages (order 3): Linux calls the OOM killer, which kills the caller, the newest
    assert linux[3] == {"result": "killed by SIGKILL"} and model[3] == {"result": "ENOMEM"}
    klog = raw["steps"][3]["klog"]
    assert any("invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=3" in line for line in klog)
    assert any("Out of memory: Killed process" in line and "anon-rss:0kB" in line
               for line in klog)  # without an MMU no rss is counted: every process scores 0
    # ... and the model's trace said so: at step 3 naming the caller q as the victim; at
    # step 4, where Linux (q dead) maps again, that Linux would kill q and retry
    hog, last = [e.text for e in k.trace if e.rule == "do_mmap_private.linux_would_oom"]
    assert "calls the OOM killer" in hog and "the caller itself" in hog
    assert "would kill process 2" in last and "then try again with the memory freed" in last


def test_recorded_linux_answers_at_the_abi_edges() -> None:
    """What Linux 6.12 answered where the model on main still differs (issue 10)."""
    def rel(sid: str) -> list[Any]:
        group, name = sid.split("/")
        sc = next(s for s in SCENARIOS[group] if s.name == name)
        return normalise(sc, REAL[group]["scenarios"][name])

    # MAP_HUGETLB is not looked at without an MMU: ordinary mappings
    huge = rel("hugetlb/hugetlb_anon_private")
    assert huge[2]["result"] == "ok" and huge[3] == {"mmapcopy_delta_pages": 3}
    assert rel("hugetlb/hugetlb_file_copy")[5]["bytes"] == b"disk files can only be copied\n".hex()
    # one 64-bit register, two spellings of the same offset
    ones = rel("offsets/offset_all_ones")
    assert [ones[i]["result"] for i in (1, 2, 4, 5)] == ["EOVERFLOW"] * 4
    top = rel("offsets/offset_top_bit_anon")
    assert top[4]["lines"] == ["a len=0x1000 rw-p off=0x0 dev=no ino=no"]  # /proc/PID/maps: files only
    assert top[5]["lines"] == ["a len=0x1000 rw-p off=0x8000000000000000 dev=no ino=no"]  # /proc/maps
    assert rel("offsets/offset_top_bit_file_copy")[3] == {"result": "EINVAL"}
    # rw_verify_area: position plus length past 2^63-1
    pread = rel("rw_verify_area/pread_past_loff_max")
    assert [pread[i]["result"] for i in (2, 3, 4, 7, 8)] == ["ok", "EINVAL", "EINVAL", "ok", "EINVAL"]
    assert [r["result"] for r in rel("rw_verify_area/pwrite_past_loff_max")[3:5]] == ["EINVAL"] * 2
    copy = rel("rw_verify_area/private_copy_read_past_loff_max")
    assert copy[3] == {"result": "EINVAL"} and copy[4] == {"mmapcopy_delta_pages": 0}
    # execve closes O_CLOEXEC descriptors, in the exec'ing process only
    assert rel("cloexec/cloexec_closed_by_execve")[8] == {"result": "EBADF"}
    vf = rel("cloexec/cloexec_vfork_child_exec")
    assert vf[5] == {"result": "EBADF"} and vf[6] == {"result": 6}
    # /proc/buddyinfo: one zone, DMA32, orders 0..10, frag_show_print's format
    assert rel("buddyinfo/buddyinfo_format")[1] == {
        "result": "ok", "zones": ["Node 0, zone DMA32: 11 orders"]}


# -------------------------------------------------------------- the language

EXAMPLE = """
# a comment
scenario demo
  doc: A demonstration.
  rule: none
  case: 1
  m0 = meminfo
  a  = mmap 0 3p PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
  poke a+1p "hi # not a comment\\n"
  fd = open /tmp/f O_RDWR|O_CREAT 0600
  write fd pattern(4, 250)
  r w = pipe
  q  = spawn
  b  = q: mmap 0 4k PROT_READ MAP_SHARED|MAP_ANONYMOUS -1 0 !bug 4 !reuse
  c  = q: vfork
  c: exec /rom/bin/hello
  sysctl vm.nr_trim_pages = 2
  t  = sysctl vm.nr_trim_pages
  id = shmget 4242 1p IPC_CREAT|0600
  maps
end
"""


def test_parse_example() -> None:
    (sc,) = parse(EXAMPLE, "demo.scn")
    assert sc.id == "demo/demo"
    assert sc.procs == ["p", "q", "c"]
    ops = [st.op for st in sc.steps]
    assert ops[:3] == ["spawn", "meminfo", "mmap"]
    mmap = sc.steps[2]
    assert mmap.args == [0, 3 * PAGE_SIZE, 3, 0x22, -1, 0]
    poke = sc.steps[3]
    assert poke.args == [Ref(2, 0, "a", PAGE_SIZE), b"hi # not a comment\n"]
    assert sc.steps[4].args == ["/tmp/f", 0o102, 0o600]
    assert sc.steps[5].args[1] == bytes([250, 0, 1, 2])
    assert sc.steps[6].labels == ["r", "w"]
    b = sc.steps[8]
    assert b.proc == "q" and b.bugs == [4] and b.check_reuse
    assert b.args[1] == 4096 and b.args[4] == -1
    assert sc.steps[9].new_proc == "c"
    assert sc.steps[11].args == ["vm.nr_trim_pages", 2]
    assert sc.steps[12].args == ["vm.nr_trim_pages"]
    assert sc.steps[13].args == [4242, PAGE_SIZE, 0o1600]
    assert sc.step_bugs(b) == [4]
    assert sc.step_bugs(mmap) == []


def _err(body: str) -> ScenarioError:
    text = f"scenario x\n  doc: d\n{body}\nend\n"
    with pytest.raises(ScenarioError) as ei:
        parse(text, "bad.scn")
    return ei.value


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("  frobnicate 1", 3, "unknown operation 'frobnicate'"),
        ("  munmap a 1p", 3, "unknown label 'a'"),
        ("  mmap 0 1p PROT_READ", 3, "mmap takes 4 to 6 arguments, got 3"),
        ("  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n  a = mmap 0 1p PROT_READ MAP_PRIVATE", 4,
         "label 'a' is already used"),
        ("  mmap 0 1p PROT_READX MAP_PRIVATE", 3, "unknown flag 'PROT_READX'"),
        ('  fd = open /tmp/x O_RDWR\n  write fd "open', 4, "unterminated string"),
        ("  c = vfork\n  mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS", 4, "suspended in vfork()"),
        ("  q: maps", 3, "no process 'q'"),
        ("  c = vfork\n  c: exit 0\n  c: maps", 5, "has exited"),
        ("  open tmp/x O_RDONLY", 3, "a path starts with '/'"),
        ("  vfork", 3, "name the new process"),
        ("  sysctl vm.swappiness = 3", 3, "sysctl NAME"),
        ("  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n  futex a FUTEX_WAKE 1 !sleeps", 4,
         "only a futex FUTEX_WAIT step can be marked !sleeps"),
        ("  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n  t = clone CLONE_VM\n"
         "  t: futex a FUTEX_WAIT 0 !sleeps\n  t: maps\n  t: exit 0", 7, "sleeps in a futex wait"),
        ("  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n  t = clone CLONE_VM\n"
         "  t: futex a FUTEX_WAIT 0 !sleeps", 6, "still asleep in a futex wait"),
    ],
)
def test_parse_errors_name_the_line(body: str, line: int, words: str) -> None:
    e = _err(body)
    assert e.line == line and words in e.message, str(e)
    assert str(e).startswith(f"bad.scn:{line}: ")


def test_parse_structure_errors() -> None:
    with pytest.raises(ScenarioError, match=r"x.scn:1: no scenario"):
        parse("# nothing\n", "x.scn")
    with pytest.raises(ScenarioError, match=r"x.scn:3: scenario 'a' has no 'end'"):
        parse("scenario a\n  doc: d\n  maps\n", "x.scn")
    with pytest.raises(ScenarioError, match="needs a 'doc:'"):
        parse("scenario a\n  maps\nend\n", "x.scn")
    with pytest.raises(ScenarioError, match=r"x\.scn:4: 'doc:' belongs before"):
        parse("scenario a\n  doc: d\n  maps\n  doc: late\nend\n", "x.scn")
    with pytest.raises(ScenarioError, match="defined twice"):
        parse("scenario a\n  doc: d\n  maps\nend\nscenario a\n  doc: d\n  maps\nend\n", "x.scn")


def test_sleeping_futex_wait_compiles_to_an_unanswered_step() -> None:
    (sc,) = parse("scenario f\n  doc: d\n  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n"
                  "  t = clone CLONE_VM\n  t: futex a FUTEX_WAIT 0 !sleeps\n"
                  "  futex a FUTEX_WAKE 1\n  futex a FUTEX_WAIT 0 1000000\n  t: exit 0\nend\n", "f.scn")
    wait, wake, timed = sc.steps[3], sc.steps[4], sc.steps[5]
    assert wait.sleeps and wait.args == [Ref(1, 0, "a"), 0, 0, -1]
    assert wake.args == [Ref(1, 0, "a"), 1, 1, -1] and timed.args[3] == 1_000_000
    lines = compile_group([sc]).splitlines()
    assert lines[4] == "Q 3 1 futex r1.0+0 i0 i0 i-2"
    assert lines[5] == "P 4 0 futex r1.0+0 i1 i1 i-1"


def test_ptrace_names_a_process() -> None:
    from nommu_lab.fidelity.scenario import Proc

    (sc,) = parse("scenario t\n  doc: d\n  q = spawn\n  ptrace_attach q\n"
                  "  a = q: mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n  ptrace_poke q a \"hi\"\nend\n", "t.scn")
    assert sc.steps[2].args == [Proc("q")]
    assert sc.steps[4].args == [Proc("q"), Ref(3, 0, "a"), b"hi"]
    lines = compile_group([sc]).splitlines()
    assert lines[3] == "P 2 0 ptrace_attach p1"
    assert lines[5] == "P 4 0 ptrace_poke p1 r3.0+0 x" + b"hi".hex()
    with pytest.raises(ScenarioError, match="no process 'r'"):
        parse("scenario t\n  doc: d\n  ptrace_attach r\nend\n", "t.scn")


def test_vfork_parent_released_by_exec_and_maps_allowed_while_suspended() -> None:
    (sc,) = parse("scenario a\n  doc: d\n  c = vfork\n  maps\n  c: exec /rom/bin/hello\n"
                  "  mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS\nend\n", "v.scn")
    assert [st.op for st in sc.steps] == ["spawn", "vfork", "maps", "exec", "mmap"]


def test_compile_to_runner_lines() -> None:
    (sc,) = parse(EXAMPLE, "demo.scn")
    text = compile_group([sc])
    lines = text.splitlines()
    assert lines[0] == "S 0 3 demo"
    assert lines[1] == "P 0 0 spawn"
    assert lines[2] == "P 1 0 meminfo"
    assert lines[3] == "P 2 0 mmap i0 i12288 i3 i34 i-1 i0"
    assert lines[4] == "P 3 0 poke r2.0+4096 x" + b"hi # not a comment\n".hex()
    assert lines[7] == "P 6 0 pipe"
    assert lines[8] == "P 7 1 spawn"
    assert lines[10] == "P 9 1 vfork i2"
    assert lines[11] == "P 10 2 exec x" + b"/rom/bin/hello".hex()
    assert lines[12] == "P 11 0 sysctl x" + b"/proc/sys/vm/nr_trim_pages".hex() + " i2"
    assert lines[-1] == "E"
    assert cleanup(sc) == ["C f " + b"/tmp/f".hex(), "C k 4242"]


# ---------------------------------------------------------------- normaliser

NORM = """
scenario n
  doc: d
  m0 = meminfo
  a  = mmap 0 3p PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
  m1 = meminfo
  b  = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
  c  = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
  maps
  munmap a 3p
  d  = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS !reuse
  e  = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
  q  = spawn
  m2 = meminfo
  m3 = meminfo
  t  = sysctl vm.nr_trim_pages
end
"""


def _raw(rets: list[int], lines: dict[int, list[str]] | None = None) -> dict[str, Any]:
    steps = []
    for i, r in enumerate(rets):
        st = tr.empty_step()
        st["ret"] = r
        st["lines"] = (lines or {}).get(i, [])
        steps.append(st)
    return {"digest": "x", "abandoned": None, "steps": steps}


A = 0x80400000


def test_normalise_relations() -> None:
    (sc,) = parse(NORM, "n.scn")
    xip = 0xFFFFFFFF80680180  # sign-extended flash address (kernel bug 4)
    maps = [f"{A:08x}-{A + 0x3000:08x} rw-p 00000000 00:00 0 ",
            f"{A + 0x1000:08x}-{A + 0x2000:08x} r--p 00000000 00:00 0 ",
            f"{xip:x}-{xip + 0x1000:x} r--p 00000000 1f:00 352                /rom/etc/motd",
            "80800000-80820000 rw-p 00000000 00:00 0        [stack]"]
    rets = [0, 1024, A, 1036, A + PAGE_SIZE, xip, 0, 0, A, -12, 0, 1100, 1104, 1]
    rel = normalise(sc, _raw(rets, {6: maps}))
    assert rel[1] == {"mmapcopy_delta_pages": "baseline"}
    assert rel[2]["page_aligned"] and rel[2]["block_aligned"] and not rel[2]["sign_extended"]
    assert rel[3] == {"mmapcopy_delta_pages": 3}
    assert rel[4]["inside"] == ["a+0x1000"] and rel[4]["same_as"] == []
    assert rel[5]["sign_extended"] and rel[5]["align16"] and not rel[5]["page_aligned"]
    assert rel[6]["lines"] == [
        "a len=0x3000 rw-p off=0x0 dev=no ino=no",
        "b len=0x1000 r--p off=0x0 dev=no ino=no",
        "c len=0x1000 r--p off=0x0 dev=yes ino=yes /rom/etc/motd",
    ]
    assert rel[8]["reuses"] == ["a"] and rel[8]["same_as"] == []
    assert rel[9] == {"result": "ENOMEM"}
    # a spawn loads a program image: the next meminfo is a new baseline
    assert rel[11] == {"mmapcopy_delta_pages": "baseline"}
    assert rel[12] == {"mmapcopy_delta_pages": 1}
    assert rel[13] == {"result": 1}


def test_block_alignment_uses_the_buddy_block_of_the_length() -> None:
    (sc,) = parse("scenario b\n  doc: d\n  a = mmap 0 5p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS\nend\n", "b.scn")
    assert normalise(sc, _raw([0, A + 8 * PAGE_SIZE]))[1]["block_aligned"] is True
    assert normalise(sc, _raw([0, A + 4 * PAGE_SIZE]))[1]["block_aligned"] is False


def test_exec_ends_the_labels_of_the_old_mm() -> None:
    text = """scenario x
  doc: d
  q = spawn
  a = q: mmap 0 3p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
  q: exec /rom/bin/hello
  procmaps
end
"""
    (sc,) = parse(text, "x.scn")
    image = [f"{A:08x}-{A + 0x2000:08x} rwxp 00000000 00:00 0 "]
    same_len = [f"{A:08x}-{A + 0x3000:08x} rwxp 00000000 00:00 0 "]
    assert normalise(sc, _raw([0, 0, A, 0, 0], {4: image}))[4]["lines"] == []
    # a line exactly like the dead mapping is shown as such (kernel bugs 1, 2)
    assert normalise(sc, _raw([0, 0, A, 0, 0], {4: same_len}))[4]["lines"] == [
        "a(unmapped) len=0x3000 rwxp off=0x0 dev=no ino=no"]


def test_vfork_child_exit_keeps_the_shared_mm() -> None:
    text = """scenario x
  doc: d
  c = vfork
  a = c: mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
  c: exit 0
  maps
end
"""
    (sc,) = parse(text, "x.scn")
    line = [f"{A:08x}-{A + 0x1000:08x} r--p 00000000 00:00 0 "]
    assert normalise(sc, _raw([0, 0, A, 0, 0], {4: line}))[4]["lines"] == [
        "a len=0x1000 r--p off=0x0 dev=no ino=no"]


def test_unmap_in_one_process_leaves_the_other_process_mapping_alive() -> None:
    """Two processes map one ramfs page at the same address; q unmaps its own.

    p's mapping is still there: its label stays live (not ``(unmapped)``), a
    new mapping of the page is ``same_as`` it, and each process's maps name
    the line after its own label.
    """
    text = """scenario x
  doc: d
  fd = open /tmp/s O_RDWR|O_CREAT 0600
  ftruncate fd 1p
  a  = mmap 0 1p PROT_READ|PROT_WRITE MAP_SHARED fd 0
  q  = spawn
  qf = q: open /tmp/s O_RDWR
  b  = q: mmap 0 1p PROT_READ|PROT_WRITE MAP_SHARED qf 0
  maps
  q: maps
  q: munmap b 1p
  maps
  c  = mmap 0 1p PROT_READ|PROT_WRITE MAP_SHARED fd 0
end
"""
    (sc,) = parse(text, "x.scn")
    line = [f"{A:08x}-{A + 0x1000:08x} rw-S 00000000 00:10 5       /tmp/s"]
    rel = normalise(sc, _raw([0, 3, 0, A, 0, 3, A, 0, 0, 0, 0, A], {7: line, 8: line, 10: line}))
    assert rel[7]["lines"] == ["a len=0x1000 rw-S off=0x0 dev=yes ino=yes /tmp/s"]
    assert rel[8]["lines"] == ["b len=0x1000 rw-S off=0x0 dev=yes ino=yes /tmp/s"]
    assert rel[10]["lines"] == ["a len=0x1000 rw-S off=0x0 dev=yes ino=yes /tmp/s"]
    assert rel[11]["same_as"] == ["a"]


def test_abandoned_steps_are_not_compared() -> None:
    (sc,) = parse(NORM, "n.scn")
    raw = _raw([0, 1024, A])
    raw["abandoned"] = {"step": 2, "why": "no answer"}
    rel = normalise(sc, raw)
    assert rel[1] is not None and rel[2] is None and rel[5] is None


def test_buddyinfo_shape_keeps_zone_orders_and_format_not_counts() -> None:
    linux = "Node 0, zone    DMA32      2      5      4      4      4      5      4      2      3      1     28 "
    assert buddyinfo_shape(linux) == "Node 0, zone DMA32: 11 orders"
    # other counts, same shape; a seven-digit count overflows its column as printf does
    assert buddyinfo_shape(linux.replace("    28 ", "1234567 ")) == "Node 0, zone DMA32: 11 orders"
    assert buddyinfo_shape(linux.replace("   DMA32", "  Normal")) == "Node 0, zone Normal: 11 orders"
    assert buddyinfo_shape(linux.replace("    28 ", "")) == "Node 0, zone DMA32: 10 orders"
    for wrong in (linux.rstrip(), linux.replace("   DMA32", "DMA32"), linux.replace("      2 ", "     2 ", 1)):
        assert "not frag_show_print's format" in buddyinfo_shape(wrong), wrong
    assert buddyinfo_shape("Node 0 DMA32 1 2").startswith("not a buddyinfo line")
    (sc,) = parse("scenario b\n  doc: d\n  buddyinfo\nend\n", "b.scn")
    assert compile_group([sc]).splitlines()[2] == "P 1 0 buddyinfo"
    assert normalise(sc, _raw([0, 0], {1: [linux]}))[1] == {
        "result": "ok", "zones": ["Node 0, zone DMA32: 11 orders"]}


def test_parse_maps_line() -> None:
    ml = parse_maps_line("ffffffff80680180-ffffffff80683180 r--S 00001000 1f:00 352      /rom/data/pattern.bin")
    assert ml is not None
    assert (ml.end - ml.start, ml.perms, ml.offset, ml.inode, ml.path) == (
        0x3000, "r--S", 0x1000, 352, "/rom/data/pattern.bin")
    assert parse_maps_line("MmapCopy: 4 kB") is None


# ---------------------------------------------------------------- comparator

def test_compare_classifies_bugs_and_staleness() -> None:
    (sc,) = parse("scenario c\n  doc: d\n  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS\n"
                  "  munmap a 1p !bug 1\n  munmap a 1p\nend\n", "c.scn")
    real = _raw([0, A, -22, -22])
    real["digest"] = sc.digest
    same = cmp.compare_scenario(sc, real, _raw([0, A + PAGE_SIZE, -22, -22]))
    assert same.status == cmp.AGREE and same.steps_compared == 4
    known = cmp.compare_scenario(sc, real, _raw([0, A, 0, -22]))
    assert known.status == cmp.KNOWN_BUG and known.known[0].bugs == [1]
    differ = cmp.compare_scenario(sc, real, _raw([0, A, 0, 0]))
    assert differ.status == cmp.DIFFER
    assert [(d.step, d.key, d.real, d.model) for d in differ.diffs] == [(3, "result", "EINVAL", "ok")]
    assert "step 3 (line 5) `munmap a 1p`: result: linux 'EINVAL', model 'ok'" in cmp.report([differ])
    stale = dict(real, digest="0")
    assert cmp.compare_scenario(sc, stale, real).status == cmp.STALE
    assert cmp.compare_scenario(sc, None, real).status == cmp.MISSING


def test_compare_lists_a_marked_model_simplification_apart() -> None:
    (sc,) = parse("scenario c\n  doc: d\n  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS\n"
                  "  munmap a 1p !model\n  munmap a 1p\nend\n", "c.scn")
    assert [st.simplified for st in sc.steps] == [False, False, True, False]
    real = _raw([0, A, -22, -22])
    real["digest"] = sc.digest
    simple = cmp.compare_scenario(sc, real, _raw([0, A, 0, -22]))
    assert simple.status == cmp.SIMPLIFIED and not simple.failed
    assert "[model simplification]" in cmp.report([simple])
    # only the marked step is excused
    assert cmp.compare_scenario(sc, real, _raw([0, A, 0, 0])).status == cmp.DIFFER


def test_model_exception_is_a_difference() -> None:
    (sc,) = parse("scenario c\n  doc: d\n  maps\nend\n", "c.scn")
    real = _raw([0, 0])
    real["digest"] = sc.digest
    model = _raw([0, 0])
    model["steps"][1]["error"] = "TypeError: boom"
    res = cmp.compare_scenario(sc, real, model)
    assert res.status == cmp.DIFFER and "model raised TypeError: boom" in str(res.diffs[0])


# ------------------------------------------------------------- real side I/O

def test_parse_console() -> None:
    out = (
        "[    0.0] Linux version 6.12.117\r\n"
        "@@BOOT 6.12.117 riscv64\r\n"
        "@@S 0 0 demo\r\n"
        "@@R 0 0 0 0\r\n"
        "@@R 0 1 -2140667520 0\r\n"
        "@@B 0 2 41424300\r\n"
        "@@R 0 2 4 0\r\n"
        "@@L 0 3 80800000-80820000 rw-p 00000000 00:00 0        [stack]\r\n"
        "@@R 0 3 0 0\r\n"
        "@@K 0 4 <4>[    0.256049] nommu: munmap of memory not mmapped\r\n"
        "@@R 0 4 -22 0\r\n"
        "@@R 0 4095 0 0\r\n"
        "@@E 0 0\r\n"
        "@@END\r\n"
        "[    0.3] reboot: Power down\r\n"
    )
    boot = parse_console(out)
    assert boot.release == "6.12.117 riscv64" and boot.ended
    s = boot.scenarios[0]
    assert s["name"] == "demo" and s["ended"] and s["abandoned"] is None
    assert s["steps"][1]["ret"] == 0xFFFFFFFF80680180  # an address, not an errno
    assert s["steps"][2]["bytes"] == "41424300"
    assert s["steps"][3]["lines"] == ["80800000-80820000 rw-p 00000000 00:00 0        [stack]"]
    assert s["steps"][4] == {"ret": -22, "ret2": 0, "bytes": None, "lines": [],
                             "klog": ["<4>nommu: munmap of memory not mmapped"]}
    assert 4095 not in s["steps"]
    assert boot.console == []
    oops = parse_console("@@BOOT 6.12 riscv64\n[    0.27] Oops - load access fault [#1]\n")
    assert oops.console == ["Oops - load access fault [#1]"] and not oops.ended


def test_cpio_newc() -> None:
    data = cpio_newc([("init", 0o100755, b"abc", (0, 0)), ("dev/console", 0o020600, b"", (5, 1))])
    assert data.startswith(b"070701")
    assert len(data) % 4 == 0
    assert b"init\0" in data and b"TRAILER!!!\0" in data
    first = data[:110]
    assert int(first[14:22], 16) == 0o100755 and int(first[54:62], 16) == 3


def test_transcript_files_round_trip(tmp_path: Path) -> None:
    data = REAL["anon"]
    tr.save(data, tmp_path / "anon.json")
    assert tr.load(tmp_path / "anon.json") == data
    assert json.loads((tmp_path / "anon.json").read_text())["side"] == "linux"


# -------------------------------------------------------------- shared tables

def test_symbols_match_the_model_constants() -> None:
    from nommu_lab import constants

    shared = [n for n in SYMBOLS if hasattr(constants, n)]
    assert len(shared) > 40
    for name in shared:
        assert getattr(constants, name) == SYMBOLS[name], name


def test_board_files() -> None:
    f = board_files.FILES
    assert f["/rom/etc/motd"] == b"Welcome to nommu-lab\n"
    assert f["/rom/data/pattern.bin"] == bytes(i % 251 for i in range(10000))
    assert f["/rom/data/page.bin"] == bytes((i * 7) % 256 for i in range(4096))
    assert f["/mnt/disk/notes.txt"] == b"disk files can only be copied\n"
    assert f["/mnt/disk/pattern.bin"] == f["/rom/data/pattern.bin"]
    assert set(board_files.files_under("/rom")) == {"/etc/motd", "/data/pattern.bin", "/data/page.bin"}


def test_board_files_write_tree(tmp_path: Path) -> None:
    board_files.write_tree(tmp_path)
    assert (tmp_path / "rom/data/page.bin").read_bytes() == board_files.FILES["/rom/data/page.bin"]
    assert (tmp_path / "disk/notes.txt").read_bytes() == b"disk files can only be copied\n"


def test_notebook_helpers() -> None:
    from nommu_lab.fidelity import check_model, linux_said

    said = linux_said("romfs/xip_private_read")
    mmap = said[3]
    assert mmap["call"].startswith("mmap 0 10000 PROT_READ MAP_PRIVATE")
    assert mmap["result"].startswith("0x2000")  # in the NOR flash at 0x20000000
    assert said[5]["bytes"] == bytes(range(16))
    assert any("/rom/data/pattern.bin" in line for line in said[7]["lines"])
    assert linux_said("proc/fork_is_missing")[1]["result"] == "ENOSYS"
    res = check_model("anon/trim_default_3_pages")
    assert res.status == "agree" and res.steps_compared == 9


def test_a_crash_at_a_marked_step_is_linux_answer() -> None:
    from nommu_lab.fidelity.record import boot_ok, to_transcript

    text = ("scenario c\n  doc: d\n  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON\n"
            "  b = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANON !bug 9\n  maps\nend\n")
    (sc,) = parse(text, "c.scn")
    out = ("@@BOOT 6.12.117 riscv64\n@@S 0 0 c\n@@R 0 0 0 0\n@@R 0 1 2151677952 0\n"
           "[    0.2] kernel BUG at mm/nommu.c:464!\n[    0.2] Kernel panic - not syncing\n")
    boot = parse_console(out)
    assert boot_ok(boot, [sc])  # the expected crash needs no second boot
    real = to_transcript("c", [sc], boot)["scenarios"]["c"]
    assert real["abandoned"] == {"step": 2, "why": "the boot ended early: kernel BUG at mm/nommu.c:464!"}
    res = cmp.compare_scenario(sc, real, _raw([0, A, A + PAGE_SIZE, 0]))
    assert res.status == cmp.KNOWN_BUG and res.known[0].real == "kernel crashed"
    # the same crash at an unmarked step is a broken run, not an answer
    (plain,) = parse(text.replace(" !bug 9", ""), "c.scn")
    assert not boot_ok(boot, [plain])
    real2 = to_transcript("c", [plain], boot)["scenarios"]["c"]
    assert cmp.compare_scenario(plain, real2, _raw([0, A, A + PAGE_SIZE, 0])).status == cmp.INCOMPLETE
