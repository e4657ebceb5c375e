"""Reading the RAM map's image back, for tests: what colour is each frame's square?"""

from __future__ import annotations

import numpy as np

from nommu_lab.widgets import RamMap
from nommu_lab.widgets._png import decode_indexed_png
from nommu_lab.widgets.palette import PALETTE


def decoded_frames(ram: RamMap) -> np.ndarray:
    """Palette index of every frame shown, read from the middle of its square in the PNG sent.

    Index ``i`` is frame ``ram.grid.first + i`` (frame ``i`` itself while all of RAM is shown).
    """
    idx, pal = decode_indexed_png(ram.png)
    assert (pal == PALETTE).all()
    g = ram.grid
    assert idx.shape == (g.height, g.width)
    r, c = np.divmod(np.arange(g.count), g.cols)
    return idx[g.gap + r * g.pitch + g.cell // 2, g.gap + c * g.pitch + g.cell // 2]
