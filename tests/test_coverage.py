"""Every statement of the document is shown live by a notebook (docs/coverage.md).

The ids below are the statements of the kernel's document
(``Documentation/admin-guide/mm/nommu-mmap.rst``), section by section; the
coverage table paraphrases each and names the notebook whose code cell is
tagged ``demo:<id>``. A statement without a row, a row naming a notebook that
does not exist, or a notebook without the tagged cell, fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "coverage.md"
NOTEBOOKS = ROOT / "notebooks"
TAG = "demo:"

#: statement id -> section of the document, in the document's order
STATEMENTS: dict[str, str] = {
    **dict.fromkeys(("intro.entry_points", "intro.no_fork", "intro.more_restricted"), "introduction"),
    **dict.fromkeys(("case1.mmu", "case1.nommu"), "case 1: anonymous, private"),
    **dict.fromkeys(("case2.mmu", "case2.nommu"), "case 2: anonymous, shared"),
    **dict.fromkeys(("case3.mmu", "case3.reuse", "case3.direct", "case3.copy_eof",
                     "case3.file_writes", "case3.mapping_writes"), "case 3: file, private, read-only"),
    **dict.fromkeys(("case4.mmu", "case4.nommu"), "case 4: file, private, writable"),
    **dict.fromkeys(("case5.mmu", "case5.nommu"), "case 5: regular file or block device, shared"),
    **dict.fromkeys(("case6.truncate", "case6.refused"), "case 6: memory-backed file, shared"),
    "case7.blockdev": "case 7: memory-backed block device, shared",
    **dict.fromkeys(("case8.chardev", "case8.refused"), "case 8: memory-backed character device, shared"),
    "note1.unaligned": "further note 1",
    **dict.fromkeys(("note2.aligned", "note2.power_of_two"), "further note 2"),
    **dict.fromkeys(("note3.cleared", "note3.mmu_zero_page", "note3.memset_cost",
                     "note3.uninitialized", "note3.fdpic_uninit"), "further note 3"),
    "note4.proc_maps": "further note 4",
    "note5.proc_pid_maps": "further note 5",
    "note6.fixed": "further note 6",
    "note7.read_method": "further note 7",
    **dict.fromkeys(("ipc.sysv", "ipc.posix"), "shared memory"),
    **dict.fromkeys(("futex.supported", "futex.outside"), "futexes"),
    **dict.fromkeys(("mremap.resize", "mremap.move", "mremap.fixed", "mremap.shareable",
                     "mremap.whole"), "mremap"),
    **dict.fromkeys(("driver.gua", "driver.default_caps", "driver.mmap_enosys", "driver.vm_close",
                     "driver.share_silent", "driver.gua_enosys"), "the driver's side"),
    **dict.fromkeys(("flash.status", "flash.xip_exec"), "flash"),
    **dict.fromkeys(("membacked.contiguous", "membacked.truncate", "membacked.flag"),
                    "memory-backed files"),
    "blockdev.like_chardev": "block devices",
    **dict.fromkeys(("trim.power_of_two", "trim.default", "trim.sysctl"), "page trimming"),
}

_ROW = re.compile(r"^\|\s*([a-z0-9_]+\.[a-z0-9_]+)\s*\|([^|]*)\|([^|]*)\|\s*\[[^\]]*\]\(([^)]*)\)\s*\|\s*$")


def table_rows(text: str) -> list[tuple[str, str, str, str]]:
    """``(id, section, statement, notebook file name)`` for each row of the table."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((m[1], m[2].strip(), m[3].strip(), Path(m[4]).name))
    return rows


def demo_tags(path: Path) -> dict[str, str]:
    """``{statement id: cell type}`` for every cell of a notebook tagged ``demo:<id>``."""
    nb = json.loads(path.read_text())
    return {tag[len(TAG):]: cell["cell_type"] for cell in nb["cells"]
            for tag in cell.get("metadata", {}).get("tags", []) if tag.startswith(TAG)}


ROWS = table_rows(TABLE.read_text())
ROW_OF = {row[0]: row for row in ROWS}


def test_every_statement_has_exactly_one_row_in_its_section():
    ids = [row[0] for row in ROWS]
    assert len(ids) == len(set(ids)), "a statement has two rows"
    assert set(ids) == set(STATEMENTS), (set(STATEMENTS) - set(ids), set(ids) - set(STATEMENTS))
    assert ids == list(STATEMENTS), "keep the rows in the document's order"
    for sid, section, statement, _ in ROWS:
        assert section == STATEMENTS[sid], sid
        assert len(statement.split()) >= 4, f"{sid}: say the statement"


@pytest.mark.parametrize("sid", list(STATEMENTS))
def test_the_named_notebook_has_the_demonstrating_cell(sid: str):
    assert sid in ROW_OF, f"{sid} has no row in docs/coverage.md"
    notebook = NOTEBOOKS / ROW_OF[sid][3]
    assert notebook.exists(), f"{sid}: {notebook.name} does not exist"
    tags = demo_tags(notebook)
    assert sid in tags, f"{notebook.name} has no cell tagged {TAG}{sid}"
    assert tags[sid] == "code", f"{TAG}{sid} must tag the code cell that shows it"


def test_every_demo_tag_names_a_statement_and_its_row():
    """A tag with a typo, or in another notebook than the table says, is an error too."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for sid in demo_tags(path):
            assert sid in STATEMENTS, f"{path.name}: unknown statement {TAG}{sid}"
            assert ROW_OF[sid][3] == path.name, f"{TAG}{sid} is in {path.name}, the table says {ROW_OF[sid][3]}"


def test_the_parser_reads_a_row_and_finds_tags(tmp_path: Path):
    row = "| note1.unaligned | further note 1 | may be unaligned (XIP) here | [05](../notebooks/05-x.ipynb) |"
    assert table_rows(row) == [("note1.unaligned", "further note 1", "may be unaligned (XIP) here",
                                "05-x.ipynb")]
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["demo:a.b", "nbval-ignore-output"]}},
                    {"cell_type": "markdown", "metadata": {"tags": ["demo:c.d"]}}]}
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert demo_tags(tmp_path / "x.ipynb") == {"a.b": "code", "c.d": "markdown"}
