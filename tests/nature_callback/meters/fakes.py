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
NVML_CONSTANTS = {
    "NVML_SUCCESS": 0,
    "NVML_FI_DEV_POWER_INSTANT": 186,
    "NVML_POWER_SCOPE_GPU": 0,
    "NVML_POWER_SCOPE_MODULE": 1,
    "NVML_DEVICE_MIG_DISABLE": 0,
    "NVML_DEVICE_MIG_ENABLE": 1,
}
"""Other constants, with the values of nvidia-ml-py (checked by the same test)."""
_ERROR_TEXT = {3: "Not Supported", 4: "Insufficient Permissions", 10: "Timeout",
               12: "NVML Shared Library Not Found", 15: "GPU is lost", 9: "Driver Not Loaded",
               2: "Invalid Argument", 6: "Not Found"}


@dataclass
class FakeGpu:
    """One GPU behind the fake NVML; tests change its readings between calls."""

    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = "GPU-00000000-1111-2222-3333-444444444444"
    pci_bus_id: str = "00000000:07:00.0"
    energy_mj: int | None = 1_000_000
    """Counter value; None: the counter is not supported (pre-Volta)."""
    power_mw: int | None = 250_000
    """Power draw (both the average and the instantaneous field); None: not supported."""
    instant_field: bool = True
    """Whether the driver has NVML_FI_DEV_POWER_INSTANT."""
    fail_code: int | None = None
    """When set, energy and power calls raise NVMLError(fail_code)."""
    open_error: int | None = None
    """When set, opening a handle of this GPU raises NVMLError(open_error) (NO_PERMISSION)."""
    mig_mode: bool | None = False
    """MIG mode on/off; None: the GPU has no MIG (NOT_SUPPORTED)."""
    mig_uuids: tuple[str, ...] = ()
    """MIG instances on this GPU (``MIG-...``)."""
    c2c: bool | None = None
    """Superchip C2C link enabled; None: NOT_SUPPORTED (a discrete GPU)."""
    errors: dict[str, list[int]] = field(default_factory=dict)
    """NVML function name → error codes its next calls on this GPU raise, one per call."""
    field_scopes: list[int] = field(default_factory=list)
    """Power scopes asked through nvmlDeviceGetFieldValues (0 = GPU, 1 = module)."""


@dataclass(frozen=True)
class FakeMig:
    """A MIG instance handle."""

    uuid: str
    parent: FakeGpu


def make_fake_nvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A module object with the pynvml functions the meters call."""
    module = types.ModuleType("pynvml")
    for name, value in NVML_ERRORS.items():
        setattr(module, name, value)
    for name, value in NVML_CONSTANTS.items():
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
            queued = args[0].errors.get(fn.__name__) if args and isinstance(args[0], FakeGpu) \
                else None
            if queued:
                calls["failed"] += 1
                raise NVMLError(queued.pop(0))
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

    def opened(gpu: FakeGpu) -> FakeGpu:
        if gpu.open_error is not None:
            raise NVMLError(gpu.open_error)
        return gpu

    @count
    def nvmlDeviceGetCount() -> int:
        require_init()
        return len(gpus)

    @count
    def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
        require_init()
        if not 0 <= index < len(gpus):
            raise NVMLError(NVML_ERRORS["NVML_ERROR_INVALID_ARGUMENT"])
        return opened(gpus[index])

    @count
    def nvmlDeviceGetHandleByUUID(uuid: str) -> FakeGpu | FakeMig:
        require_init()
        for gpu in gpus:
            if gpu.uuid == uuid:
                return opened(gpu)
            if uuid in gpu.mig_uuids:
                return FakeMig(uuid, gpu)
        raise NVMLError(NVML_ERRORS["NVML_ERROR_NOT_FOUND"])

    @count
    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig: FakeMig) -> FakeGpu:
        return mig.parent

    @count
    def nvmlDeviceGetIndex(handle: FakeGpu) -> int:
        return gpus.index(handle)

    @count
    def nvmlDeviceGetName(handle: FakeGpu) -> str:
        return handle.name

    @count
    def nvmlDeviceGetUUID(handle: FakeGpu) -> str:
        return handle.uuid

    @count
    def nvmlDeviceGetPciInfo(handle: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(busId=handle.pci_bus_id.encode())

    def supported(flag: bool | None) -> bool:
        if flag is None:
            raise NVMLError(NVML_ERRORS["NVML_ERROR_NOT_SUPPORTED"])
        return flag

    @count
    def nvmlDeviceGetMigMode(handle: FakeGpu) -> list[int]:
        mode = int(supported(handle.mig_mode))
        return [mode, mode]

    @count
    def nvmlDeviceGetC2cModeInfoV(handle: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(isC2cEnabled=int(supported(handle.c2c)))

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

    @count
    def nvmlDeviceGetFieldValues(handle: FakeGpu, fields: list[Any]) -> list[Any]:
        values = []
        for request in fields:
            field_id, scope = request if isinstance(request, tuple) else (request, 0)
            handle.field_scopes.append(scope)
            status, power = NVML_CONSTANTS["NVML_SUCCESS"], 0
            if field_id != NVML_CONSTANTS["NVML_FI_DEV_POWER_INSTANT"] or not handle.instant_field:
                status = NVML_ERRORS["NVML_ERROR_NOT_SUPPORTED"]
            else:
                power = reading(handle, handle.power_mw)
            values.append(types.SimpleNamespace(nvmlReturn=status,
                                                value=types.SimpleNamespace(uiVal=power)))
        return values

    return module


class FakeClock:
    """Monotonic time that moves only when told (``advance``, or ``sleep`` by the meter);
    simulated GPUs registered with ``watch`` follow it."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.t_s = start_s
        self._followers: list["SteppedCounter"] = []

    def now(self) -> float:
        return self.t_s

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        target_s = self.t_s + seconds
        for follower in self._followers:
            follower.run_until(target_s)
        self.t_s = target_s

    def watch(self, follower: "SteppedCounter") -> None:
        self._followers.append(follower)


class SteppedCounter:
    """A GPU drawing ``power_w`` whose NVML counter moves every ``period_s`` only, holding
    the true energy up to that instant (how real counters behave); ``true_j`` is exact."""

    def __init__(self, clock: FakeClock, gpu: FakeGpu, power_w: float, period_s: float,
                 first_update_s: float | None = None) -> None:
        self.gpu = gpu
        self.period_s = period_s
        self.power_w = 0.0
        self.set_power(power_w)
        self.true_j = 0.0
        self.last_s = clock.now()
        self.base_mj = gpu.energy_mj or 0
        self.next_update_s = first_update_s if first_update_s is not None \
            else clock.now() + period_s
        clock.watch(self)

    def set_power(self, power_w: float) -> None:
        """Draw ``power_w`` from now on (the instantaneous reading follows at once)."""
        self.power_w = power_w
        self.gpu.power_mw = round(power_w * 1000)

    def _integrate_to(self, t_s: float) -> None:
        self.true_j += self.power_w * (t_s - self.last_s)
        self.last_s = t_s

    def run_until(self, t_s: float) -> None:
        while self.next_update_s <= t_s:
            self._integrate_to(self.next_update_s)
            self.gpu.energy_mj = self.base_mj + round(self.true_j * 1000)
            self.next_update_s += self.period_s
        self._integrate_to(t_s)


def make_fake_torch(cuda_uuids: list[str] | None) -> types.ModuleType:
    """A torch-like module whose ``cuda`` sees devices with these CUDA UUIDs (no ``GPU-``
    prefix, as ``str(torch.cuda.get_device_properties(i).uuid)``); None: no CUDA."""
    torch = types.ModuleType("torch")
    uuids = list(cuda_uuids or [])

    def get_device_properties(index: int) -> types.SimpleNamespace:
        if not 0 <= index < len(uuids):
            raise AssertionError("Invalid device id")
        return types.SimpleNamespace(uuid=uuids[index], name=f"fake cuda:{index}")

    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_available=lambda: cuda_uuids is not None and bool(uuids),
        device_count=lambda: len(uuids),
        get_device_properties=get_device_properties,
        is_initialized=lambda: cuda_uuids is not None,
    )
    return torch


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
