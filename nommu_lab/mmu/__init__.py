"""The MMU kernel, for side-by-side comparison (being built)."""

from __future__ import annotations

from ..kernel.kernel import Kernel


class MmuKernel(Kernel):
    """Placeholder until the MMU model lands."""

    mmu = True

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise NotImplementedError("the MMU kernel is not built yet")
