"""Fixtures of the meter tests; the fakes themselves live in fakes.py."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.nature_callback.meters.fakes import (
    FakeClock,
    FakePowercap,
    make_fake_torch,
    meter_threads,
)


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


@pytest.fixture(autouse=True)
def torch_without_cuda(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The meters see a torch without CUDA (the fake NVML's GPUs are not torch's), except in
    real-GPU tests; a test gives torch GPUs by passing ``torch=make_fake_torch([...])``."""
    if "gpu" not in request.keywords:
        monkeypatch.setitem(sys.modules, "torch", make_fake_torch(None))


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told: counters are read at exact, repeatable times."""
    return FakeClock()
