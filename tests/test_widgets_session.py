"""The session recorder behind the lab's time travel (no Jupyter needed).

The model is deterministic, so the same calls on the same starting machine
give the same machine: that is what makes stepping back, stepping forward and
replaying a lecturer's recording possible.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.session import Call, Recording, Session, apply_call, record_of

PS = 4096
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def demo(s: Session) -> None:
    s.call(None, "spawn", "app")
    s.call(1, "mmap", 0, 3 * PS, PROT_READ | PROT_WRITE, ANON)
    fd = s.call(1, "open", "/rom/bin/hello", O_RDONLY)
    s.call(1, "mmap", 0, PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
    s.call(1, "poke", 0x80108000, b"secret")


def test_session_module_imports_without_jupyter():
    code = ("import sys, nommu_lab.session; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_position_is_the_replay_of_the_calls_before_it():
    s = Session(nl.boards.default())
    digests = [s.kernel.state_digest()]
    for step in (
        lambda: s.call(None, "spawn", "app"),
        lambda: s.call(1, "mmap", 0, 3 * PS, PROT_READ | PROT_WRITE, ANON),
        lambda: s.call(1, "mmap", 0, 5 * PS, PROT_READ, ANON),
        lambda: s.call(1, "munmap", 0x80108000, 3 * PS),
    ):
        step()
        digests.append(s.kernel.state_digest())
    for pos in (2, 0, 4, 1, 3):
        s.goto(pos)
        assert s.kernel.state_digest() == digests[pos]
        s.kernel.check()


def test_back_forward_and_the_kernel_change_callback():
    s = Session(nl.boards.default())
    seen: list[object] = []
    s.on_kernel_change(seen.append)
    s.call(None, "spawn", "app")
    s.call(1, "mmap", 0, PS, PROT_READ, ANON)
    k_before = s.kernel
    s.back()
    assert s.position == 1 and s.can_back and s.can_forward
    assert seen == [s.kernel] and s.kernel is not k_before
    assert s.kernel.process(1).vmas() == []
    s.forward()
    assert len(s.kernel.process(1).vmas()) == 1 and not s.can_forward
    s.goto(99)  # clamped
    assert s.position == 2


def test_refused_calls_are_recorded_and_refused_again_on_replay():
    s = Session(nl.boards.default())
    s.call(None, "spawn", "app")
    with pytest.raises(nl.KernelError) as e:
        s.call(1, "mmap", 0, PS, PROT_READ, ANON | MAP_FIXED)
    assert e.value.rule == "validate_mmap_request.map_fixed"
    assert s.last is not None and not s.last.ok
    assert [c.name for c in s.calls] == ["spawn", "mmap"]
    k = s.recording().replay(nl.boards.default)
    assert k.state_digest() == s.kernel.state_digest()


def test_arguments_json_cannot_hold_are_refused_before_anything_happens():
    s = Session(nl.boards.default())
    s.call(None, "spawn", "app")
    with pytest.raises(TypeError, match="recorded argument"):
        s.call(1, "mmap", 0, object(), PROT_READ, ANON)
    assert len(s.calls) == 1 and s.position == 1


def test_a_wrong_argument_type_is_a_refusal_the_kernel_repeats():
    s = Session(nl.boards.default())
    s.call(None, "spawn", "app")
    with pytest.raises(TypeError):  # the model's ArgumentTypeError: a KernelError and a TypeError
        s.call(1, "mmap", 0, "big", PROT_READ, ANON)
    assert len(s.calls) == 2
    s.back()
    s.forward()
    assert s.kernel.process(1).vmas() == []


def test_json_round_trip_with_bytes_and_keywords():
    s = Session(nl.boards.default(), board="nommu_lab.boards:default")
    demo(s)
    if hasattr(s.kernel, "mtd_program"):
        s.call(None, "mtd_program", 0x80000, b"\x00\x01", guard=False)
    text = s.to_json()
    doc = json.loads(text)
    assert doc["format"] == "nommu-lab-session" and doc["version"] == 1
    assert doc["calls"][0] == [None, "spawn", ["app"]]
    assert doc["calls"][4] == [1, "poke", [0x80108000, {"hex": b"secret".hex()}]]
    if hasattr(s.kernel, "mtd_program"):
        assert doc["calls"][5] == [None, "mtd_program", [0x80000, {"hex": "0001"}], {"guard": False}]
    rec = Recording.from_json(text)
    assert rec.calls == s.calls
    k = rec.replay()  # uses the board named in the recording
    assert k.state_digest() == s.kernel.state_digest()
    assert k.process(1).peek(0x80108000, 6) == b"secret"


def test_load_a_recording_into_a_session_and_step_through_it():
    src = Session(nl.boards.default())
    demo(src)
    s = Session(nl.boards.default())
    s.load(src.to_json(), replay_to_end=False)
    assert s.position == 0 and len(s.calls) == 5
    s.forward()
    s.forward()
    assert len(s.kernel.process(1).vmas()) == 1
    s.goto(5)
    assert s.kernel.state_digest() == src.kernel.state_digest()


def test_session_from_a_factory_needs_no_snapshot():
    s = Session(factory=nl.boards.default)
    demo(s)
    s.goto(0)
    assert s.kernel.processes == {}
    s.goto(5)
    assert len(s.kernel.process(1).vmas()) == 2


@pytest.mark.parametrize("text, message", [
    ("[]", "not a nommu-lab session recording"),
    ('{"format": "nommu-lab-session", "version": 7, "calls": []}', "version 7"),
    ('{"format": "nommu-lab-session", "version": 1, "calls": [[1, "reboot", []]]}',
     "'reboot' is not a call a process can make"),
    ('{"format": "nommu-lab-session", "version": 1, "calls": [[null, "mmap", []]]}',
     "'mmap' is not a call the kernel can make"),
    ('{"format": "nommu-lab-session", "version": 1, "calls": [[1, "poke", [{"x": 1}]]]}',
     "unknown encoded argument"),
    ('{"format": "nommu-lab-session", "version": 1, "calls": [["1", "exit", []]]}',
     "pid must be an int"),
])
def test_malformed_recordings_are_refused_with_a_reason(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        Recording.from_json(text)


def test_a_recording_may_only_name_a_nommu_lab_board():
    rec = Recording([], board="os:system")
    with pytest.raises(ValueError, match="not part of nommu_lab"):
        rec.factory()


def test_call_describe_and_record_of():
    c = Call(1, "mmap", (0, 0x3000, 3, 0x22))
    # flags named, every argument shown: the same wording as the trace (kernel.callfmt)
    assert c.describe() == ("pid 1: mmap(0, 0x3000, PROT_READ|PROT_WRITE, "
                            "MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)")
    assert Call(1, "mremap", (0x80108000, 0x1000, 0x2000, 0)).describe() == \
        "pid 1: mremap(0x80108000, 0x1000, 0x2000, 0, 0)"
    rec = record_of([(None, "spawn", ["a"]), (1, "exit", [0])])
    assert [x.describe() for x in rec.calls] == ["kernel: spawn('a')", "pid 1: exit(0)"]
    k = nl.boards.default()
    assert apply_call(k, rec.calls[0]).pid == 1


def test_describe_marks_the_position():
    s = Session(nl.boards.default())
    demo(s)
    s.goto(2)
    lines = s.describe().splitlines()
    assert lines[0] == "session: call 2 of 5"
    assert lines[2].startswith(">  2 pid 1: mmap(")


def test_a_big_board_keeps_its_starting_snapshot_compressed():
    s = Session(nl.boards.default(ram_size=64 << 20))
    assert s._base_packed and s._base is not None and len(s._base) < 4 << 20
    s.call(None, "spawn", "app")
    s.call(1, "mmap", 0, PS, PROT_READ, ANON)
    digest = s.kernel.state_digest()
    s.goto(0)
    assert s.kernel.processes == {}
    s.goto(2)
    assert s.kernel.state_digest() == digest


def test_save_and_load_a_file(tmp_path):
    s = Session(nl.boards.default())
    demo(s)
    path = tmp_path / "lecture.json"
    s.save(str(path))
    t = Session(nl.boards.default())
    t.load_file(str(path))
    assert t.kernel.state_digest() == s.kernel.state_digest()


def test_calls_made_outside_the_session_are_noticed():
    s = Session(nl.boards.default())
    p = s.call(None, "spawn", "app")
    assert not s.outside_changes
    p.mmap(0, PS, PROT_READ, ANON)  # straight on the kernel: not recorded
    assert s.outside_changes
    s.back()
    assert not s.outside_changes and s.kernel.processes == {}


# ---------------------------------------------------------------------------
# every call a lesson needs can be recorded and replayed
# ---------------------------------------------------------------------------
def lesson_calls(s: Session) -> None:
    """One of each call the lab's controls make, on the default board."""
    s.call(None, "spawn", "app")
    s.call(1, "execve", "/rom/bin/hello")
    s.call(1, "run", 8)
    s.call(None, "register_driver", "/dev/mydev",
           nl.SimpleDriver("mydev", capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE,
                           memory_pages=2))
    s.call(None, "spawn", "b")
    fd = s.call(2, "open", "/dev/mydev", O_RDWR)
    s.call(2, "mmap", 0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    shm = s.call(2, "shm_open", "/x", O_CREAT | O_RDWR, 0o600)
    s.call(2, "ftruncate", shm, PS)
    a = s.call(2, "mmap", 0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0)
    s.call(2, "write", shm, b"written")
    s.call(2, "poke", a + 8, b"poked")
    s.call(2, "peek", a, 13)
    s.call(2, "futex", a + 16, FUTEX_WAKE, 1)
    s.call(2, "ptrace_attach", 1)
    s.call(2, "ptrace_peek", 1, 0x200000E0 + 64)
    anon = s.call(2, "mmap", 0, 2 * PS, PROT_READ | PROT_WRITE, ANON)
    s.call(2, "mremap", anon, 2 * PS, PS, 0)
    s.call(2, "mremap", anon, PS, 2 * PS, MREMAP_MAYMOVE)
    s.call(None, "mtd_program", 0x80000, b"\x00", guard=False)
    s.call(1, "run", 8)  # executes in place from the busy chip: SIGILL
    s.call(None, "mtd_complete")


def test_every_lesson_call_round_trips_through_json_and_replays_to_the_same_machine():
    s = Session(nl.boards.default(), board="nommu_lab.boards:default")
    lesson_calls(s)
    assert 1 not in s.kernel.processes  # the XIP program died of the flash operation
    rec = Recording.from_json(s.to_json())
    assert [c.name for c in rec.calls] == [c.name for c in s.calls]
    assert rec.calls == s.calls
    assert rec.replay().state_digest() == s.kernel.state_digest()
    for pos in (3, 7, 13, 0, len(s.calls)):  # time travel over all of it
        s.goto(pos)
        assert s.kernel.state_digest() == Recording(s.calls[:pos]).replay().state_digest()


def test_a_recorded_driver_keeps_its_parameters_and_each_replay_builds_a_new_one():
    s = Session(nl.boards.default(), board="nommu_lab.boards:default")
    drv = nl.SimpleDriver("mydev", capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY, memory_pages=3,
                          unmapped_area="enosys")
    assert s.call(None, "register_driver", "/dev/mydev", drv) is drv  # the live call uses it
    doc = json.loads(s.to_json())
    assert doc["calls"][0] == [None, "register_driver", ["/dev/mydev", {
        "driver": "SimpleDriver", "name": "mydev", "capabilities": NOMMU_MAP_DIRECT | NOMMU_MAP_COPY,
        "memory_pages": 3, "unmapped_area": "enosys", "mmap_result": 0, "readable": True}]]
    assert s.calls[0].describe() == (
        "kernel: register_driver('/dev/mydev', SimpleDriver('mydev', "
        "capabilities=NOMMU_MAP_COPY|NOMMU_MAP_DIRECT, memory_pages=3, unmapped_area='enosys'))")
    k1 = Recording.from_json(s.to_json()).replay()
    k2 = Recording.from_json(s.to_json()).replay()
    d1, d2 = k1.devices["/dev/mydev"], k2.devices["/dev/mydev"]
    assert type(d1) is nl.SimpleDriver and d1 is not d2 and d1 is not drv
    assert (d1.capabilities, d1.memory_pages, d1.unmapped_area) == (drv.capabilities, 3, "enosys")
    assert d1.base == drv.base  # same device memory: the replay is the same machine


def test_a_driver_class_of_ones_own_cannot_be_recorded():
    class Mine(nl.SimpleDriver):
        pass

    s = Session(nl.boards.default())
    with pytest.raises(TypeError, match="SimpleDriver, not a Mine"):
        s.call(None, "register_driver", "/dev/mine", Mine("mine"))
    assert s.calls == [] and "/dev/mine" not in s.kernel.devices


def test_restart_puts_the_session_on_another_board():
    s = Session(nl.boards.default())
    s.call(None, "spawn", "app")
    k = s.restart(lambda: nl.boards.default(nr_trim_pages=0), "nommu_lab.boards:default",
                  {"nr_trim_pages": 0})
    assert s.calls == [] and s.position == 0 and k.nr_trim_pages == 0
    s.call(None, "spawn", "x")
    s.goto(0)
    assert s.kernel.nr_trim_pages == 0 and s.kernel.processes == {}
