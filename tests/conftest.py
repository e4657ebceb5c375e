"""Fixtures shared by the model's test modules: a fresh default board and a process."""

from __future__ import annotations

import pytest
from _nommu import board


@pytest.fixture
def k():
    """A freshly booted default board (no MMU)."""
    return board()


@pytest.fixture
def p(k):
    """A process with an empty address space on that board."""
    return k.spawn()
