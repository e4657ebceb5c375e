"""The files of the default board, defined once for the model and the oracle.

The model's default board (``nommu_lab.boards``) and the real QEMU board built
by ``oracle/build.sh`` both take their file contents from here, so a scenario
that reads or maps a board file sees the same bytes on both sides.

This module has no imports from the package and runs as a script:
``python3 nommu_lab/board_files.py --write DIR`` writes every file
under ``DIR`` (``DIR/rom/...``, ``DIR/disk/...``), which is how the oracle
build makes its romfs and ext2 images without installing anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: Where each filesystem of the board is mounted.
ROM_MOUNT = "/rom"  # romfs on a memory-mapped, XIP-capable MTD (/dev/mtd0)
DISK_MOUNT = "/mnt/disk"  # ext2 on a block device: files can only be copied
RAMFS_MOUNTS = ("/", "/tmp", "/dev/shm")  # ramfs ("tmpfs" is ramfs without an MMU)
DEVICES = ("/dev/ttyS0", "/dev/ram0", "/dev/mtd0")

#: The program on the rom.  Its bytes are board-specific (the model's loader
#: format differs from the oracle's, where it is the scenario runner itself),
#: so it is named here but its contents are not part of FILES.
HELLO = "/rom/bin/hello"

_PATTERN = bytes(i % 251 for i in range(10000))

#: path -> exact contents, for every data file on the board.
FILES: dict[str, bytes] = {
    "/rom/etc/motd": b"Welcome to nommu-lab\n",
    "/rom/data/pattern.bin": _PATTERN,
    "/rom/data/page.bin": bytes((i * 7) % 256 for i in range(4096)),
    "/mnt/disk/notes.txt": b"disk files can only be copied\n",
    "/mnt/disk/pattern.bin": _PATTERN,
}


def files_under(mount: str) -> dict[str, bytes]:
    """The files of one filesystem, keyed by their path inside it."""
    prefix = mount.rstrip("/") + "/"
    return {p[len(prefix) - 1 :]: d for p, d in FILES.items() if p.startswith(prefix)}


def write_tree(root: Path) -> None:
    """Write the rom files under ``root/rom`` and the disk files under ``root/disk``."""
    for mount, sub in ((ROM_MOUNT, "rom"), (DISK_MOUNT, "disk")):
        for rel, data in files_under(mount).items():
            dest = root / sub / rel.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--write":
        sys.exit("usage: board_files.py --write DIR")
    write_tree(Path(sys.argv[2]))
