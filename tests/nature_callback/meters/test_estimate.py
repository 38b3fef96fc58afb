"""CPU and DRAM estimates from this process's real CPU time and memory."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from nature_callback.exceptions import ConfigurationError
from nature_callback.meters import (
    DEFAULT_TDP_PER_CORE_W,
    DRAM_W_PER_GB,
    CpuEstimateMeter,
    CpuTopology,
    DramEstimateMeter,
    lookup_tdp,
)
from nature_callback.meters import _process_tree
from nature_callback.meters.cpu_tdp import CPU_TDP_TABLE, cpu_model_name

BURN_S = 0.3
TICK_S = 0.02
"""/proc reports CPU times in clock ticks (10 ms): allow two ticks below the time burned."""


def _burn_cpu(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def test_cpu_burn_gives_positive_energy_bounded_by_tdp() -> None:
    meter = CpuEstimateMeter(cpu_tdp_w=100.0)
    topology = meter.topology
    assert meter.full_load_power_w == pytest.approx(100.0 * topology.packages)
    before_start = time.monotonic()
    meter.start()
    _burn_cpu(BURN_S)
    (reading,) = meter.read()
    elapsed_s = time.monotonic() - before_start
    meter.stop()
    assert reading.device == "cpu" and reading.kind == "cpu" and reading.ok
    assert reading.source == "estimated"
    # at least the CPU seconds we burned, at most every logical CPU busy all the time
    assert reading.energy_j >= meter.w_per_logical_cpu * (BURN_S - TICK_S)
    assert reading.energy_j <= meter.full_load_power_w * elapsed_s
    assert "cpu_tdp_w=100 W per package (user parameter)" in reading.description


def _start_burning_child(seconds: float) -> subprocess.Popen[str]:
    """A child process that burns ``seconds`` of CPU, says "done", then waits for stdin."""
    child = subprocess.Popen(
        [sys.executable, "-c",
         f"import time,sys\nt=time.process_time()\nwhile time.process_time()-t<{seconds}: pass\n"
         "print('done', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "done"
    return child


def test_cpu_time_of_child_processes_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_process_tree, "MEMBERS_REFRESH_S", 0.0)  # look for children at every read
    meter = CpuEstimateMeter(cpu_tdp_w=50.0)
    meter.start()
    child = _start_burning_child(0.3)
    try:
        while_alive_j = meter.read()[0].energy_j  # the child is alive: counted live
    finally:
        child.communicate("")  # let it exit; it is reaped here
    after_exit_j = meter.read()[0].energy_j  # now in this process's children times
    meter.stop()
    assert while_alive_j >= meter.w_per_logical_cpu * (0.3 - TICK_S)
    assert after_exit_j >= while_alive_j


def test_an_excluded_child_another_rank_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_process_tree, "MEMBERS_REFRESH_S", 0.0)
    tree = _process_tree.ProcessTree.of_this_process()
    child = _start_burning_child(0.3)  # a rank started as this process's child, alive
    try:
        tree.exclude((child.pid,))
        without_child_s = tree.cpu_time_s()
        own_s = sum(psutil.Process().cpu_times()[:4])  # reaped children's times included
        tree.exclude(())
        tree._max_cpu_s = 0.0  # the running maximum would hide the difference
        with_child_s = tree.cpu_time_s()
    finally:
        child.communicate("")
        tree.exclude(())
    assert without_child_s < own_s + 0.15  # the child's 0.3 s of CPU are left out
    assert with_child_s >= without_child_s + 0.3 - TICK_S  # and counted without the exclusion
    meter = CpuEstimateMeter(cpu_tdp_w=50.0, exclude_pids=(4242,))
    assert meter.exclude_pids == (4242,)


def test_a_child_found_late_is_counted_in_full_at_the_next_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_process_tree, "MEMBERS_REFRESH_S", 3600.0)  # no rebuild for now
    meter = CpuEstimateMeter(cpu_tdp_w=50.0)
    meter.start()
    child = _start_burning_child(0.3)
    try:
        unseen_j = meter.read()[0].energy_j  # the list of processes predates the child
        monkeypatch.setattr(_process_tree, "MEMBERS_REFRESH_S", 0.0)  # a rebuild is now due
        alive_j = meter.read()[0].energy_j
    finally:
        child.communicate("")
    meter.stop()
    assert unseen_j < meter.w_per_logical_cpu * 0.15
    assert alive_j >= meter.w_per_logical_cpu * (0.3 - TICK_S)


def test_a_child_that_ran_before_the_start_is_in_the_baseline_not_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the CPU and DRAM meters of every run share one process tree; a meter that starts makes
    # its list of descendants fresh, so a child's earlier CPU time is not charged to the run
    warm = CpuEstimateMeter(cpu_tdp_w=50.0)
    warm.start()  # the shared list is fresh now, without the child below
    warm.stop()
    child = _start_burning_child(0.3)  # its 0.3 s happen before the next meter starts
    try:
        meter = CpuEstimateMeter(cpu_tdp_w=50.0)
        dram = DramEstimateMeter()
        meter.start()
        dram.start()
        assert meter._channels[0].tree is dram._channels[0].tree  # one tree, one scan
        monkeypatch.setattr(_process_tree, "MEMBERS_REFRESH_S", 0.0)  # rescan at the read
        (reading,) = meter.read()
        meter.stop()
        dram.stop()
    finally:
        child.communicate("")
    assert reading.energy_j < meter.w_per_logical_cpu * 0.15


def test_tdp_table_lookup_and_override() -> None:
    epyc = CpuTopology(logical_cpus=128, physical_cores=64, packages=1)
    meter = CpuEstimateMeter(topology=epyc, model_name="AMD EPYC 7763 64-Core Processor")
    assert meter.w_per_core == pytest.approx(280 / 64)
    assert meter.w_per_logical_cpu == pytest.approx(280 / 64 / 2)
    assert meter.full_load_power_w == pytest.approx(280.0)
    assert "EPYC 7763" in meter.description and "280 W / 64 cores" in meter.description
    override = CpuEstimateMeter(cpu_tdp_w=200.0, topology=epyc, model_name="AMD EPYC 7763")
    assert override.full_load_power_w == pytest.approx(200.0)
    unknown = CpuEstimateMeter(topology=CpuTopology(8, 4, 1), model_name="Some Future CPU")
    assert unknown.w_per_core == DEFAULT_TDP_PER_CORE_W
    assert "Green Algorithms" in unknown.description
    dual = CpuEstimateMeter(cpu_tdp_w=150.0, topology=CpuTopology(80, 40, 2), model_name="x")
    assert dual.full_load_power_w == pytest.approx(300.0)  # two packages


@pytest.mark.parametrize("name, tdp_w", [
    ("Intel(R) Xeon(R) Platinum 8480+", 350),
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 205),
    ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 150),
    ("Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz", 135),
    ("AMD Ryzen 9 5950X 16-Core Processor", 105),
    ("13th Gen Intel(R) Core(TM) i9-13900K", 125),
])
def test_table_matches_cpuinfo_names(name: str, tdp_w: float) -> None:
    row = lookup_tdp(name)
    assert row is not None and row.tdp_w == tdp_w


def test_every_table_row_has_a_source_and_sane_figures() -> None:
    for row in CPU_TDP_TABLE:
        assert row.source and ("Intel ARK" in row.source or "AMD" in row.source)
        assert 2 <= row.w_per_core <= 30, row  # W per core of real CPUs (EPYC 9654: 3.75)
    assert lookup_tdp("AMD EPYC 7773X") is None  # not confused with the 7763/7713 rows


def test_cpu_model_name_reads_cpuinfo(tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7742 64-Core Processor\n")
    assert cpu_model_name(cpuinfo) == "AMD EPYC 7742 64-Core Processor"
    assert cpu_model_name(tmp_path / "missing") == ""


def test_dram_estimate_follows_this_process_resident_memory() -> None:
    meter = DramEstimateMeter()
    rss_before = psutil.Process().memory_info().rss
    before_start = time.monotonic()
    meter.start()
    after_start = time.monotonic()
    time.sleep(0.1)
    before_read = time.monotonic()
    (reading,) = meter.read()
    after_read = time.monotonic()
    rss_after = psutil.Process().memory_info().rss
    meter.stop()
    low_gb, high_gb = min(rss_before, rss_after) / 2**30, max(rss_before, rss_after) / 2**30
    assert reading.source == "estimated" and reading.kind == "dram" and reading.device == "dram"
    assert 0.9 * low_gb * DRAM_W_PER_GB * (before_read - after_start) <= reading.energy_j
    assert reading.energy_j <= 1.1 * high_gb * DRAM_W_PER_GB * (after_read - before_start)
    assert "0.3725 W/GB" in reading.description and "Lannelongue" in reading.description


def test_estimates_read_frozen_after_stop_and_restart_from_zero() -> None:
    meter = CpuEstimateMeter(cpu_tdp_w=100.0)
    meter.start()
    _burn_cpu(0.05)
    meter.stop()
    stopped_j = meter.read()[0].energy_j
    _burn_cpu(0.05)
    assert meter.read()[0].energy_j == stopped_j > 0
    meter.start()
    assert meter.read()[0].energy_j < stopped_j
    meter.stop()


@pytest.mark.parametrize("value", [-5, 0, float("inf"), "100", True])
def test_invalid_tdp_names_the_parameter(value) -> None:
    with pytest.raises(ConfigurationError, match="cpu_tdp_w"):
        CpuEstimateMeter(cpu_tdp_w=value)


def test_this_process_is_read_without_psutil_with_the_same_counters() -> None:
    this = psutil.Process()
    before = this.cpu_times()
    own_cpu_s = _process_tree._cpu_time_s(this)
    after = this.cpu_times()
    assert sum(before[:4]) - TICK_S <= own_cpu_s <= sum(after[:4]) + TICK_S
    page_bytes = _process_tree._PAGE_BYTES
    ballast = bytearray(64 * 2**20)  # 64 MiB, touched: resident
    ballast[::page_bytes] = b"x" * len(ballast[::page_bytes])
    assert abs(_process_tree._rss_bytes(this) - this.memory_info().rss) <= 64 * page_bytes
    del ballast
