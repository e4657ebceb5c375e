"""A real romfs image, so XIP addresses land where they would on a board.

romfs (``fs/romfs``) stores each file as a 16-byte-aligned header (next
pointer with type bits, spec info, size, checksum), its NUL-padded name, then
the data, again 16-byte aligned. The inode number of a file is the offset of
its header. So file data starts at ``header + 16 + padded name``: a direct
mapping points into the middle of a flash page, which is why the document
warns that private file mappings may be unaligned.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ROMFH_HRD, ROMFH_DIR, ROMFH_REG = 0, 1, 2
ROMFH_EXEC = 8


def _pad16(n: int) -> int:
    return (n + 15) & ~15


def _checksum(block: bytes) -> int:
    """The value that makes the big-endian 32-bit words of ``block`` sum to 0."""
    block = block + bytes(-len(block) % 4)
    s = sum(struct.unpack(f">{len(block) // 4}I", block)) & 0xFFFFFFFF
    return (-s) & 0xFFFFFFFF


@dataclass(frozen=True)
class RomEntry:
    """Where a file ended up in the image."""

    path: str
    ino: int  # offset of its header
    data_offset: int
    size: int
    mode: int
    is_dir: bool


def build_romfs(files: dict[str, tuple[bytes, int]], volume: str = "nommu-lab") -> tuple[bytes, list[RomEntry]]:
    """Lay out ``{path: (data, mode)}`` as a romfs image; returns (image, entries)."""
    tree: dict = {}
    for path, (data, mode) in sorted(files.items()):
        node = tree
        parts = path.strip("/").split("/")
        for d in parts[:-1]:
            node = node.setdefault(d, {})
        node[parts[-1]] = (data, mode)

    img = bytearray()
    vol = volume.encode() + b"\0"
    img += b"-rom1fs-" + bytes(8) + vol + bytes(_pad16(len(vol)) - len(vol))
    entries: list[RomEntry] = []

    def header(next_off: int, spec: int, size: int, name: str) -> bytes:
        nm = name.encode() + b"\0"
        nm += bytes(_pad16(len(nm)) - len(nm))
        h = struct.pack(">IIII", next_off, spec, size, 0) + nm
        cs = _checksum(h)
        return h[:12] + struct.pack(">I", cs) + h[16:]

    def emit_dir(node: dict, prefix: str) -> int:
        """Emit a directory's entries; returns the offset of its first header."""
        names = [".", "..", *sorted(node)]
        offsets: list[int] = []
        patch: list[tuple[int, int, bytes]] = []  # (offset, type, header-without-next)
        first = len(img)
        for name in names:
            off = len(img)
            offsets.append(off)
            if name in (".", ".."):
                h = header(0, first, 0, name)
                img.extend(h)
                patch.append((off, ROMFH_HRD if name == ".." else ROMFH_DIR, h))
                continue
            child = node[name]
            path = f"{prefix}/{name}"
            if isinstance(child, dict):
                h = header(0, 0, 0, name)
                img.extend(h)
                sub_first = emit_dir(child, path)
                h = header(0, sub_first, 0, name)
                img[off:off + len(h)] = h
                patch.append((off, ROMFH_DIR, h))
                entries.append(RomEntry(path, off, 0, 0, 0o040755, True))
            else:
                data, mode = child
                h = header(0, 0, len(data), name)
                img.extend(h)
                data_off = len(img)
                img.extend(data)
                img.extend(bytes(_pad16(len(img)) - len(img)))
                typ = ROMFH_REG | (ROMFH_EXEC if mode & 0o111 else 0)
                patch.append((off, typ, h))
                entries.append(RomEntry(path, off, data_off, len(data), 0o100000 | mode, False))
        for i, (off, typ, h) in enumerate(patch):
            nxt = offsets[i + 1] if i + 1 < len(offsets) else 0
            word = nxt | typ
            new = struct.pack(">I", word) + h[4:12] + bytes(4) + h[16:]
            new = new[:12] + struct.pack(">I", _checksum(new)) + new[16:]
            img[off:off + len(new)] = new
        return first

    emit_dir(tree, "")
    img.extend(bytes(-len(img) % 1024))
    struct.pack_into(">I", img, 8, len(img))
    struct.pack_into(">I", img, 12, _checksum(bytes(img[:min(512, len(img))])))
    return bytes(img), entries
