"""Fixtures of the meter tests; the fakes themselves live in fakes.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.nature_callback.meters.fakes import FakePowercap, meter_threads


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every test must leave no meter thread alive."""
    yield
    assert meter_threads() == [], "a meter thread outlived its test"


@pytest.fixture(autouse=True)
def clean_gpu_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER / NATURE_POWERCAP_ROOT."""
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NATURE_POWERCAP_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def powercap(tmp_path: Path) -> FakePowercap:
    """An empty fake powercap tree."""
    return FakePowercap(tmp_path / "sys")


@pytest.fixture
def shared_powercap() -> Iterator[FakePowercap]:
    """A fake powercap tree in a directory every user can traverse (for run_as_nobody)."""
    base = Path(tempfile.mkdtemp(prefix="nature-powercap-"))
    base.chmod(0o755)
    try:
        yield FakePowercap(base / "sys")
    finally:
        shutil.rmtree(base, ignore_errors=True)
