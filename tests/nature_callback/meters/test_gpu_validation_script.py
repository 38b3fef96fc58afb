"""``benchmarks/gpu_validation.py`` off the GPU: its checks that need no CUDA (windows, sync,
the sampling fallback) run against a simulated board behind the fake ``pynvml``, in real time,
so that the script is known to run and to judge right before a GPU is lent for it.

The board draws ``IDLE_W`` or, while queued work runs, ``BUSY_W``; its energy counter moves
every ``PERIOD_S`` only (as real counters do) and its instantaneous power follows at once.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import types
from datetime import datetime
from typing import Any

import pytest
import torch

from nature_callback.meters import NvmlMeter
from tests.conftest import repo_root
from tests.nature_callback.meters.fakes import FakeGpu, make_fake_nvml, make_fake_torch

IDLE_W = 60.0
BUSY_W = 400.0
PERIOD_S = 0.1
UUID = "GPU-5a1b2c3d-0000-1111-2222-333344445555"


def _load_script() -> types.ModuleType:
    path = repo_root() / "benchmarks" / "gpu_validation.py"
    spec = importlib.util.spec_from_file_location("gpu_validation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_validation"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


validation = _load_script()


class Board(FakeGpu):
    """A fake NVML GPU whose counter and power follow the real clock and the queued work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started_s = time.monotonic()
        self._busy: list[tuple[float, float]] = []  # intervals of queued work
        super().__init__(name="Simulated H200", uuid=UUID)

    def queue(self, seconds: float) -> float:
        """Queue ``seconds`` of work after what is queued; when it will be done."""
        with self._lock:
            start_s = max(time.monotonic(), self._busy[-1][1] if self._busy else 0.0)
            self._busy.append((start_s, start_s + seconds))
            return start_s + seconds

    def _energy_j(self, t_s: float) -> float:
        with self._lock:
            busy_s = sum(max(0.0, min(t_s, end) - start) for start, end in self._busy)
        return IDLE_W * (t_s - self._started_s) + (BUSY_W - IDLE_W) * busy_s

    @property  # type: ignore[override]
    def energy_mj(self) -> int:
        """The counter: the energy at the last update instant."""
        updates = (time.monotonic() - self._started_s) // PERIOD_S
        return 1_000_000 + round(self._energy_j(self._started_s + updates * PERIOD_S) * 1000)

    @energy_mj.setter
    def energy_mj(self, value: Any) -> None:
        """The dataclass's initial value; the simulation decides."""

    @property  # type: ignore[override]
    def power_mw(self) -> int:
        now_s = time.monotonic()
        with self._lock:
            busy = any(start <= now_s < end for start, end in self._busy)
        return round((BUSY_W if busy else IDLE_W) * 1000)

    @power_mw.setter
    def power_mw(self, value: Any) -> None:
        """As ``energy_mj``."""


class SimulatedGpu:
    """The script's ``Gpu`` (its load generator and meter factory) on a ``Board``."""

    device = 0
    uuid = UUID
    op_s = 0.01

    def __init__(self) -> None:
        self.board = Board()
        self.nvml = make_fake_nvml([self.board])
        self.torch = make_fake_torch([UUID.removeprefix("GPU-")])
        self._done_s = 0.0

    def sync(self) -> None:
        time.sleep(max(0.0, self._done_s - time.monotonic()))

    def queue(self, seconds: float) -> None:
        self._done_s = self.board.queue(seconds)

    def busy(self, seconds: float) -> None:
        self.queue(seconds)
        self.sync()

    def meter(self, **kwargs: Any) -> NvmlMeter:
        meter = NvmlMeter(gpus=[self.device], **{"nvml": self.nvml, "torch": self.torch,
                                                  **kwargs})
        meter.start()
        return meter


def _figure(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in {text!r}"
    return float(found.group(1))


@pytest.mark.slow
def test_windows_check_runs_and_sees_the_load_in_every_short_window() -> None:
    result = validation.check_windows(SimulatedGpu())
    assert result.status == "PASS", result.figures
    assert _figure(result.figures, r"counter period (\d+) ms") == pytest.approx(100, abs=30)
    assert _figure(result.figures, r"load (\d+) W") == pytest.approx(BUSY_W, rel=0.1)
    assert "zero windows: 0" in result.figures


@pytest.mark.slow
def test_sync_check_keeps_queued_work_in_its_window() -> None:
    result = validation.check_sync(SimulatedGpu())
    assert result.status == "PASS", result.figures
    assert _figure(result.figures, r"\((\d+) W\); next") == pytest.approx(BUSY_W, rel=0.1)


@pytest.mark.slow
def test_sync_check_fails_when_the_boundary_does_not_wait() -> None:
    gpu = SimulatedGpu()
    gpu.sync = lambda: None  # type: ignore[method-assign]  # queued work escapes its window
    assert validation.check_sync(gpu).status == "FAIL"


@pytest.mark.slow
def test_sampling_check_compares_the_fallback_with_the_counter() -> None:
    result = validation.check_sampling(SimulatedGpu())
    assert result.status == "PASS", result.figures
    assert "sampled at 10 Hz" in result.figures
    expected_j = IDLE_W * 4.0 + BUSY_W * 3.0  # 2 s idle, 3 s busy, 2 s idle
    assert _figure(result.figures, r"counter (\d+) J") == pytest.approx(expected_j, rel=0.1)


def test_without_zeus_the_peer_reads_the_raw_counter_of_the_same_gpu() -> None:
    if importlib.util.find_spec("zeus") is not None:
        pytest.skip("zeus is installed: the peer is ZeusMonitor, which needs a real GPU")
    gpu = SimulatedGpu()
    peer = validation.Peer(gpu)
    assert peer.name.startswith("raw NVML counter (zeus unavailable")
    peer.begin("window")
    gpu.busy(0.5)
    time.sleep(0.2)
    # the counter moves every 0.1 s: the window's figure is within one period of the truth
    assert peer.end("window") == pytest.approx(BUSY_W * 0.5 + IDLE_W * 0.2, abs=BUSY_W * 0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the command would run")
def test_the_nature_run_check_reports_the_commands_error_without_the_gpu() -> None:
    # the simulated board is not a CUDA device: `nature run --gpus 0` refuses it, and the
    # check says why instead of a verdict
    result = validation.check_nature_run(SimulatedGpu())
    assert result.status == "ERROR"
    assert "exit 2" in result.figures and "sees 0 GPU(s)" in result.figures


def test_nvidia_smi_integral_keeps_the_window_and_skips_what_does_not_parse() -> None:
    start_s = datetime(2026, 12, 2, 10, 0, 0).timestamp()
    lines = [f"{datetime.fromtimestamp(start_s + i / 10):%Y/%m/%d %H:%M:%S.%f}, "
             f"{200.0 if i < 20 else 999.0}" for i in range(-5, 25)]
    lines.insert(3, "2026/12/02 10:00:00.150, [N/A]")
    output = "\n".join(lines) + "\n2026/12/02 10:0"  # a torn last line
    assert validation.smi_integral_j(output, start_s, start_s + 1.9) == pytest.approx(380.0)
    with pytest.raises(RuntimeError, match="samples in the window"):
        validation.smi_integral_j(output, start_s, start_s + 0.5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs every check")
def test_without_a_gpu_the_script_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert validation.main([]) == 2
    assert "no NVIDIA GPU to validate on" in capsys.readouterr().err
