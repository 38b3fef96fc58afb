"""Fakes at the hardware boundary: a pynvml module object and a powercap tree.

Nothing else is faked: the meters, their threads and psutil run for real.
"""

from __future__ import annotations

import collections
import json
import os
import pwd
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

# The NVML_ERROR_* codes with the values of the real module (pynvml.py of nvidia-ml-py);
# test_fake_nvml_matches_real_module checks them against the installed package.
NVML_ERRORS = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_UNKNOWN": 999,
}
_ERROR_TEXT = {3: "Not Supported", 12: "NVML Shared Library Not Found", 15: "GPU is lost",
               9: "Driver Not Loaded", 2: "Invalid Argument"}


@dataclass
class FakeGpu:
    """One GPU behind the fake NVML; tests change its readings between calls."""

    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = "GPU-00000000-1111-2222-3333-444444444444"
    pci_bus_id: str = "00000000:07:00.0"
    energy_mj: int | None = 1_000_000
    """Counter value; None: the counter is not supported (pre-Volta)."""
    power_mw: int | None = 250_000
    """Power draw; None: not supported."""
    fail_code: int | None = None
    """When set, energy and power calls raise NVMLError(fail_code)."""


def make_fake_nvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A module object with the pynvml functions the meters call."""
    module = types.ModuleType("pynvml")
    for name, value in NVML_ERRORS.items():
        setattr(module, name, value)

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(value)
            self.value = value

        def __str__(self) -> str:
            return _ERROR_TEXT.get(self.value, f"NVML error {self.value}")

    calls: collections.Counter[str] = collections.Counter()
    module.NVMLError = NVMLError
    module.calls = calls
    module.initialised = 0

    def count(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            calls[fn.__name__] += 1
            return fn(*args)
        wrapper.__name__ = fn.__name__
        setattr(module, fn.__name__, wrapper)
        return wrapper

    @count
    def nvmlInit() -> None:
        if init_error is not None:
            raise NVMLError(init_error)
        module.initialised += 1

    @count
    def nvmlShutdown() -> None:
        if module.initialised == 0:
            raise NVMLError(NVML_ERRORS["NVML_ERROR_UNINITIALIZED"])
        module.initialised -= 1

    def require_init() -> None:
        if module.initialised <= 0:
            raise NVMLError(NVML_ERRORS["NVML_ERROR_UNINITIALIZED"])

    @count
    def nvmlDeviceGetCount() -> int:
        require_init()
        return len(gpus)

    @count
    def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
        require_init()
        if not 0 <= index < len(gpus):
            raise NVMLError(NVML_ERRORS["NVML_ERROR_INVALID_ARGUMENT"])
        return gpus[index]

    @count
    def nvmlDeviceGetName(handle: FakeGpu) -> str:
        return handle.name

    @count
    def nvmlDeviceGetUUID(handle: FakeGpu) -> str:
        return handle.uuid

    @count
    def nvmlDeviceGetPciInfo(handle: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(busId=handle.pci_bus_id.encode())

    def reading(handle: FakeGpu, value: int | None) -> int:
        require_init()
        if handle.fail_code is not None:
            calls["failed"] += 1
            raise NVMLError(handle.fail_code)
        if value is None:
            raise NVMLError(NVML_ERRORS["NVML_ERROR_NOT_SUPPORTED"])
        return value

    @count
    def nvmlDeviceGetTotalEnergyConsumption(handle: FakeGpu) -> int:
        return reading(handle, handle.energy_mj)

    @count
    def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:
        return reading(handle, handle.power_mw)

    return module


def meter_threads() -> list[str]:
    """Names of live threads started by the meters and trackers (not the process's ledger
    worker, which stays by design: ``nature_callback.background.ProcessWorker``)."""
    return [t.name for t in threading.enumerate()
            if t.name.startswith("nature-") and not t.name.startswith("nature-ledger")]


@dataclass
class FakePowercap:
    """A tree laid out like /sys: zones under devices/virtual/powercap, links in class/powercap."""

    base: Path
    zones: dict[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The directory to pass as powercap_root (like /sys/class/powercap)."""
        return self.base / "class" / "powercap"

    def add_zone(self, zone_id: str, name: str, energy_uj: int = 0,
                 max_energy_range_uj: int | None = 262_143_328_850) -> Path:
        """Create zone ``intel-rapl:0``, ``intel-rapl:0:2``, ``intel-rapl-mmio:0`` ..."""
        control, *indices = zone_id.split(":")
        devices = self.base / "devices" / "virtual" / "powercap" / control
        parent = devices if len(indices) == 1 else self.zones[zone_id.rsplit(":", 1)[0]]
        path = parent / zone_id
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        if max_energy_range_uj is not None:
            (path / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / control).exists():
            (self.root / control).symlink_to(devices)
        (self.root / zone_id).symlink_to(path)
        self.zones[zone_id] = path
        return path

    def set_energy(self, zone_id: str, energy_uj: int) -> None:
        """Move a counter atomically (a sysfs read never sees a half-written value)."""
        tmp = self.zones[zone_id] / ".energy_uj.tmp"
        tmp.write_text(f"{energy_uj}\n")
        tmp.replace(self.zones[zone_id] / "energy_uj")


def run_as_nobody(fn: Callable[[], Any]) -> Any:
    """``fn()`` as an unprivileged user, so that file permissions really apply.

    Not root: ``fn()`` runs here. Root (where chmod 000 does not stop reads): ``fn``
    runs in a forked child that drops to user ``nobody``; its JSON-able result
    comes back through a pipe. Skips when the child cannot drop privileges.
    """
    if os.geteuid() != 0:
        return fn()
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user 'nobody' to drop privileges to")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        except OSError as err:
            outcome: dict[str, Any] = {"skip": f"cannot drop root privileges here: {err}"}
        else:
            try:
                outcome = {"value": fn()}
            except BaseException as err:  # noqa: BLE001 - reported to the parent
                outcome = {"error": repr(err)}
        with os.fdopen(write_fd, "w") as pipe:
            json.dump(outcome, pipe)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    outcome = json.loads(data)
    if "skip" in outcome:
        pytest.skip(outcome["skip"])
    if "error" in outcome:
        pytest.fail(f"the unprivileged child failed: {outcome['error']}")
    return outcome["value"]
