"""The arrows between the package's layers point one way (docs/design.md, "Layers").

``kernel/`` is the ground floor: it imports nothing of the package above it and
never Jupyter. ``mmu/`` is built on it. ``boards`` (the machines) sits above
both, and the fidelity suite, the views and the grader use the boards, never
the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nommu_lab

PKG = Path(nommu_lab.__file__).parent

#: package -> the parts of nommu_lab it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "kernel": set(),
    "mmu": {"kernel"},
    "boards": {"kernel", "mmu", "board_files"},
    "board_files": set(),
    "exercises": {"kernel", "mmu", "boards", "board_files", "compare", "cases", "constants"},
    # recordings and lecture decks run in scripts and graders: no views, no Jupyter
    "session": {"kernel"},
    "decks": {"kernel", "session", "cases"},
}
JUPYTER = {"ipywidgets", "bqplot", "IPython", "ipykernel", "traitlets"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute nommu_lab module or third-party top name, line) for every import in a file."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    here = list(rel.parts[:-1])  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
    return out


def _layer_files(layer: str) -> list[Path]:
    d = PKG / layer
    return sorted(d.rglob("*.py")) if d.is_dir() else [PKG / f"{layer}.py"]


def test_each_layer_imports_only_what_is_below_it() -> None:
    wrong = []
    for layer, allowed in ALLOWED.items():
        for f in _layer_files(layer):
            for mod, line in _imports(f):
                parts = mod.split(".")
                if parts[0] in JUPYTER:
                    wrong.append(f"{f.relative_to(PKG)}:{line} imports {mod} (Jupyter)")
                if parts[0] != "nommu_lab" or len(parts) < 2:
                    continue
                target = parts[1]
                if target != layer and target not in allowed:
                    wrong.append(f"{f.relative_to(PKG)}:{line} imports {mod}")
    assert wrong == []


def test_the_checker_sees_a_relative_import_upwards(tmp_path: Path) -> None:
    # the test above must be able to fail: a relative import two levels up is seen
    f = PKG / "kernel" / "kernel.py"
    mods = {m for m, _ in _imports(f)}
    assert "nommu_lab.kernel.memory" in mods
    assert not any(m.startswith("nommu_lab.mmu") for m in mods)


def test_kernel_mmu_true_still_builds_the_mmu_kernel() -> None:
    k = nommu_lab.Kernel(4 << 20, mmu=True)
    assert isinstance(k, nommu_lab.MmuKernel) and isinstance(k, nommu_lab.Kernel)
    assert type(nommu_lab.Kernel(4 << 20)) is nommu_lab.Kernel
