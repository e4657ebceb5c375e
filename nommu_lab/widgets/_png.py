"""Palette-indexed PNG images from numpy arrays, and back (no imaging library).

The RAM map sends one pixel per page frame. A palette PNG (colour type 3,
8 bits a pixel) filtered with "None" and compressed at zlib level 1 costs a
few milliseconds for 65,536 frames and compresses runs of equal frames to
almost nothing. :func:`decode_indexed_png` is the inverse, for tests.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE_PALETTE = 3


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_indexed_png(indices: np.ndarray, palette: np.ndarray, level: int = 1) -> bytes:
    """A PNG whose pixel (row, col) has colour ``palette[indices[row, col]]``.

    ``indices`` is a 2-D uint8 array; ``palette`` an (n, 3) uint8 array, n <= 256.
    """
    if indices.ndim != 2 or indices.dtype != np.uint8:
        raise ValueError("indices must be a 2-D uint8 array")
    if palette.ndim != 2 or palette.shape[1] != 3 or not 0 < len(palette) <= 256:
        raise ValueError("palette must be an (n, 3) array with 1 <= n <= 256")
    h, w = indices.shape
    raw = np.empty((h, w + 1), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every scanline
    raw[:, 1:] = indices
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE_PALETTE, 0, 0, 0)
    return b"".join((
        _SIGNATURE,
        _chunk(b"IHDR", ihdr),
        _chunk(b"PLTE", palette.astype(np.uint8).tobytes()),
        _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
        _chunk(b"IEND", b""),
    ))


def decode_indexed_png(png: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, palette)`` of a PNG made by :func:`encode_indexed_png`."""
    if not png.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    pos = len(_SIGNATURE)
    chunks: dict[bytes, bytes] = {}
    idat = b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])
        if crc != zlib.crc32(kind + data):
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IDAT":
            idat += data
        else:
            chunks[kind] = data
        pos += 12 + n
    w, h, depth, ctype, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if depth != 8 or ctype != _COLOUR_TYPE_PALETTE:
        raise ValueError("only 8-bit palette PNGs are supported")
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, w + 1)
    if raw[:, 0].any():
        raise ValueError("only filter type None is supported")
    palette = np.frombuffer(chunks[b"PLTE"], dtype=np.uint8).reshape(-1, 3)
    return raw[:, 1:].copy(), palette.copy()
