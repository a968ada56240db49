"""Fixtures shared by the emulator's own tests: an emulator and a signed VOD caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vodwatch.emulator import Emulator
from vodwatch.emulator.testing import VodCaller


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """A strict emulator on a random loopback port."""
    with Emulator(tmp_path / "data") as emulator:
        yield emulator


@pytest.fixture
def vod(emu: Emulator) -> Iterator[VodCaller]:
    """A client that signs VOD calls with the emulator's default AK/SK."""
    with VodCaller(emu.url) as caller:
        yield caller
