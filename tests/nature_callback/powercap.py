"""A temporary directory laid out like /sys/class/powercap whose counters advance in real time.

A writer process rewrites ``energy_uj`` of one package domain and its DRAM
subzone every few milliseconds at known powers, so a meter reading them must
report those powers: the hardware is replaced at its boundary (the files),
nothing else. A separate process, not a thread, so the writer never waits for
the test process's GIL while it trains.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from types import TracebackType

MAX_ENERGY_RANGE_UJ = 262_143_328_850
"""A value real Intel packages report for max_energy_range_uj."""


class LivePowercap:
    """A fake powercap tree: package ``intel-rapl:0`` and DRAM ``intel-rapl:0:0`` drawing fixed powers."""

    def __init__(self, root: Path, package_w: float = 80.0, dram_w: float = 20.0,
                 period_s: float = 0.002) -> None:
        self.root = root
        self.powers_w = {"intel-rapl:0": package_w, "intel-rapl:0:0": dram_w}
        self.period_s = period_s
        for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram")):
            path = root / zone
            path.mkdir(parents=True, exist_ok=True)
            (path / "name").write_text(f"{name}\n")
            (path / "max_energy_range_uj").write_text(f"{MAX_ENERGY_RANGE_UJ}\n")
            (path / "enabled").write_text("1\n")
        self._write(0.0)
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._process = context.Process(target=self._run, name="fake-powercap", daemon=True)
        self._t0 = time.monotonic()

    @property
    def total_w(self) -> float:
        """Package + DRAM power: what the meters must report as E."""
        return sum(self.powers_w.values())

    def _write(self, elapsed_s: float) -> None:
        for zone, power_w in self.powers_w.items():
            energy_uj = int(elapsed_s * power_w * 1e6) % MAX_ENERGY_RANGE_UJ
            tmp = self.root / zone / ".energy_uj.tmp"
            tmp.write_text(f"{energy_uj}\n")
            tmp.replace(self.root / zone / "energy_uj")

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._write(time.monotonic() - self._t0)

    def __enter__(self) -> "LivePowercap":
        self._t0 = time.monotonic()
        self._process.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
