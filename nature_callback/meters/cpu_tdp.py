"""CPU thermal design power (TDP): a small embedded table, the CPU's name, its topology.

Used only where RAPL cannot be read, to *estimate* CPU power. Each row gives the
TDP of one CPU package and its number of physical cores, with the page the
figures come from. Intel figures are "TDP" or, from the 12th Core generation on,
"Processor Base Power" on Intel ARK (ark.intel.com); AMD figures are "Default
TDP" on AMD's product pages (amd.com/en/products/...). Rows marked "via Green
Algorithms" are taken from Green Algorithms' TDP_cpu.csv (Lannelongue et al.,
Adv. Sci. 2021; github.com/GreenAlgorithms/green-algorithms-tool, data/v3.0),
which cites the same vendor pages.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_TDP_PER_CORE_W = 12.0
"""W per physical core for a CPU missing from the table: the "Any" row of Green
Algorithms' TDP_cpu.csv (Lannelongue, Grealey & Inouye, "Green Algorithms",
Adv. Sci. 8, 2100707, 2021)."""


@dataclass(frozen=True)
class CpuTdp:
    """TDP of one CPU model."""

    pattern: str
    """Regular expression matched (case-insensitive) against /proc/cpuinfo's model name."""
    tdp_w: float
    """TDP (or Processor Base Power) of one package in W."""
    cores: int
    """Physical cores per package."""
    source: str
    """Where the figures come from."""

    @property
    def w_per_core(self) -> float:
        """TDP divided by physical cores."""
        return self.tdp_w / self.cores

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


_ARK = "Intel ARK, product specifications"
_AMD = "AMD product page, specifications"
_GA = "via Green Algorithms TDP_cpu.csv"

CPU_TDP_TABLE: tuple[CpuTdp, ...] = (
    # Intel Xeon Scalable (servers typical of GPU nodes)
    CpuTdp(r"Platinum 8480\+", 350, 56, f"{_ARK}, Xeon Platinum 8480+"),
    CpuTdp(r"Platinum 8468\b", 350, 48, f"{_ARK}, Xeon Platinum 8468"),
    CpuTdp(r"Platinum 8380\b", 270, 40, f"{_ARK}, Xeon Platinum 8380"),
    CpuTdp(r"Platinum 8358\b", 250, 32, f"{_ARK}, Xeon Platinum 8358"),
    CpuTdp(r"Platinum 8280\b", 205, 28, f"{_ARK}, Xeon Platinum 8280"),
    CpuTdp(r"Platinum 8268\b", 205, 24, f"{_ARK}, Xeon Platinum 8268 ({_GA})"),
    CpuTdp(r"Platinum 8260\b", 165, 24, f"{_ARK}, Xeon Platinum 8260 ({_GA})"),
    CpuTdp(r"Platinum 8180\b", 205, 28, f"{_ARK}, Xeon Platinum 8180"),
    CpuTdp(r"Gold 6248R\b", 205, 24, f"{_ARK}, Xeon Gold 6248R"),
    CpuTdp(r"Gold 6248\b", 150, 20, f"{_ARK}, Xeon Gold 6248 ({_GA})"),
    CpuTdp(r"Gold 6148\b", 150, 20, f"{_ARK}, Xeon Gold 6148 ({_GA})"),
    CpuTdp(r"Gold 6142\b", 150, 16, f"{_ARK}, Xeon Gold 6142 ({_GA})"),
    CpuTdp(r"Gold 6230\b", 125, 20, f"{_ARK}, Xeon Gold 6230"),
    CpuTdp(r"Gold 6130\b", 125, 16, f"{_ARK}, Xeon Gold 6130"),
    CpuTdp(r"Silver 4214\b", 85, 12, f"{_ARK}, Xeon Silver 4214"),
    CpuTdp(r"Silver 4210\b", 85, 10, f"{_ARK}, Xeon Silver 4210"),
    CpuTdp(r"E5-2698 v4\b", 135, 20, f"{_ARK}, Xeon E5-2698 v4"),
    CpuTdp(r"E5-2690 v4\b", 135, 14, f"{_ARK}, Xeon E5-2690 v4"),
    CpuTdp(r"E5-2680 v4\b", 120, 14, f"{_ARK}, Xeon E5-2680 v4"),
    CpuTdp(r"E5-2680 v3\b", 120, 12, f"{_ARK}, Xeon E5-2680 v3 ({_GA})"),
    # AMD EPYC
    CpuTdp(r"EPYC 9654\b", 360, 96, f"{_AMD}, EPYC 9654"),
    CpuTdp(r"EPYC 9554\b", 360, 64, f"{_AMD}, EPYC 9554"),
    CpuTdp(r"EPYC 7763\b", 280, 64, f"{_AMD}, EPYC 7763 ({_GA})"),
    CpuTdp(r"EPYC 7742\b", 225, 64, f"{_AMD}, EPYC 7742"),
    CpuTdp(r"EPYC 7713\b", 225, 64, f"{_AMD}, EPYC 7713"),
    CpuTdp(r"EPYC 7543\b", 225, 32, f"{_AMD}, EPYC 7543"),
    CpuTdp(r"EPYC 7513\b", 200, 32, f"{_AMD}, EPYC 7513 ({_GA})"),
    CpuTdp(r"EPYC 7502\b", 180, 32, f"{_AMD}, EPYC 7502"),
    # Workstations and desktops
    CpuTdp(r"Threadripper 3990X\b", 280, 64, f"{_AMD}, Ryzen Threadripper 3990X ({_GA})"),
    CpuTdp(r"Ryzen 9 7950X\b", 170, 16, f"{_AMD}, Ryzen 9 7950X"),
    CpuTdp(r"Ryzen 9 5950X\b", 105, 16, f"{_AMD}, Ryzen 9 5950X"),
    CpuTdp(r"Ryzen 9 3900X\b", 105, 12, f"{_AMD}, Ryzen 9 3900X"),
    CpuTdp(r"i9-13900K\b", 125, 24, f"{_ARK}, Core i9-13900K (Processor Base Power)"),
    CpuTdp(r"i9-12900K\b", 125, 16, f"{_ARK}, Core i9-12900K (Processor Base Power; {_GA})"),
    CpuTdp(r"i9-9900K\b", 95, 8, f"{_ARK}, Core i9-9900K ({_GA})"),
    CpuTdp(r"i7-8700K\b", 95, 6, f"{_ARK}, Core i7-8700K ({_GA})"),
)
"""CPU model → TDP of one package; first match wins (so more specific rows go first)."""


@functools.lru_cache(maxsize=32)  # the table is constant: each run of a process asks again
def lookup_tdp(model_name: str) -> CpuTdp | None:
    """The table row matching ``model_name`` (as /proc/cpuinfo spells it), if any."""
    for row in CPU_TDP_TABLE:
        if re.search(row.pattern, model_name, flags=re.IGNORECASE):
            return row
    return None


@functools.lru_cache(maxsize=8)  # read once per process: the CPU does not change
def cpu_model_name(cpuinfo_path: str | Path = "/proc/cpuinfo") -> str:
    """The first ``model name`` of /proc/cpuinfo; empty when there is none (not Linux, Arm)."""
    try:
        text = Path(cpuinfo_path).read_text(errors="replace")
    except OSError:
        return ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
    return match[1].strip() if match else ""


@dataclass(frozen=True)
class CpuTopology:
    """How many logical CPUs, physical cores and packages this machine has."""

    logical_cpus: int
    """Hardware threads the OS schedules on."""
    physical_cores: int
    """Physical cores over all packages."""
    packages: int
    """CPU sockets."""

    def __post_init__(self) -> None:
        for name in ("logical_cpus", "physical_cores", "packages"):
            if getattr(self, name) < 1:
                raise ValueError(f"CpuTopology.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def threads_per_core(self) -> float:
        """Logical CPUs per physical core (2 with SMT/Hyper-Threading, else 1)."""
        return max(self.logical_cpus / self.physical_cores, 1.0)

    @property
    def cores_per_package(self) -> float:
        """Physical cores of one package."""
        return self.physical_cores / self.packages

    @classmethod
    @functools.lru_cache(maxsize=8)  # once per process: the topology does not change
    def detect(cls, sysfs_cpu: str | Path = "/sys/devices/system/cpu") -> "CpuTopology":
        """This machine's topology (psutil for the counts, sysfs for the packages)."""
        import psutil  # only when a CPU estimate is set up

        logical = psutil.cpu_count(logical=True) or 1
        physical = psutil.cpu_count(logical=False) or logical
        package_ids = set()
        for path in Path(sysfs_cpu).glob("cpu[0-9]*/topology/physical_package_id"):
            try:
                package_ids.add(path.read_text().strip())
            except OSError:
                continue
        return cls(logical_cpus=logical, physical_cores=physical, packages=max(len(package_ids), 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)
