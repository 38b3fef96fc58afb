"""Fixtures shared by the nature_callback tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nature_callback.powercap import LivePowercap

POWER_W = 100.0
"""What the fake RAPL tree draws: an 80 W package plus 20 W of DRAM."""


@pytest.fixture()
def powercap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LivePowercap]:
    """A fake RAPL tree drawing ``POWER_W``, found through NATURE_POWERCAP_ROOT."""
    root = tmp_path / "powercap"
    monkeypatch.setenv("NATURE_POWERCAP_ROOT", str(root))
    with LivePowercap(root, package_w=0.8 * POWER_W, dram_w=0.2 * POWER_W) as live:
        yield live
