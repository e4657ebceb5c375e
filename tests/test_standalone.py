"""The repository stands alone: no tracked file cites notes that are not in it.

The project was built from reference notes kept outside the repository (a
"kernel notes" file, a shared design file, the copy of the document). A reader
of the repository has none of them, so what they need lives in ``docs/`` and
cites the kernel's own sources by file and function. This test fails if any
tracked file cites one of those outside files or their folder.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    "kernel" + r"[-_]notes",                  # the kernel notes, however spelled
    "shared" + r"/(?:design|kernel|oracle|seed|toolchain|style)",  # shared/design.md, ...
    "/" + "work" + "/",                       # any absolute path of the build machine
    "seed" + r"/nommu",                       # the project's copy of the document
    r"design\.md\s+(?:§|" + "section" + r")\s*\d",  # numbered sections: the outside design file
    "§" + r"\s*\d",                          # a bare section number: nothing in the repo is numbered so
]), re.IGNORECASE)


def tracked_files() -> list[Path]:
    """Every file git tracks (or, outside a git checkout, every file but caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode()
        return [ROOT / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "test-artifacts", "__pycache__", ".hypothesis"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def outside_citations(text: str) -> list[str]:
    """The lines of ``text`` that cite a file the repository does not have."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def test_the_checker_recognises_each_kind_of_outside_citation():
    for bad in ("see kernel" + "-notes.md section 12", "(kernel" + "-notes §2.6, 11)",
                "The contract is `" + "shared/design.md` section 3.",
                "# recipe: /work/" + "shared/oracle-notes.md",
                "the case of seed" + "/nommu-mmap.txt", "(design.md " + "§3)",
                "the default board (design.md " + "section 5)",
                '"""' + "§" + '2.1.6.5 / verified: MAP_SHARED PROT_WRITE on an O_RDONLY fd"'):
        assert outside_citations(bad) == [bad], bad
    for fine in ("docs/design.md, \"Layers\"", "MAP_SHARED/MAP_PRIVATE", "a shared/direct region",
                 "mm/nommu.c do_mmap_private", "docs/linux-vs-document.md, bug 1"):
        assert outside_citations(fine) == [], fine


def test_no_tracked_file_cites_notes_outside_the_repository():
    found = []
    for path in tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        found += [f"{path.relative_to(ROOT)}: {line}" for line in outside_citations(text)]
    assert found == [], "cite docs/ or the kernel's sources instead:\n" + "\n".join(found)
