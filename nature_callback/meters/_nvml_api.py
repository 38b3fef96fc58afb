"""The one place that calls NVML: every ``NVMLError`` is translated here.

``pynvml`` (package ``nvidia-ml-py``) is imported lazily; a module object with
the same functions can be injected instead (tests use a fake one). A function
the installed ``pynvml`` lacks fails like a function the driver lacks
(``NVML_ERROR_FUNCTION_NOT_FOUND``), so older bindings degrade instead of crashing.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from nature_callback.exceptions import MeterError
from nature_callback.meters.cuda_visible import GpuIdentity, RefusedGpu

log = logging.getLogger(__name__)

NOT_SUPPORTED = frozenset({"NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND"})
"""The device or driver lacks the call: try another way, do not retry."""

PERMANENT = NOT_SUPPORTED | {
    "NVML_ERROR_UNINITIALIZED", "NVML_ERROR_INVALID_ARGUMENT", "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_NOT_FOUND", "NVML_ERROR_INSUFFICIENT_POWER", "NVML_ERROR_DRIVER_NOT_LOADED",
    "NVML_ERROR_CORRUPTED_INFOROM", "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_RESET_REQUIRED",
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
}
"""Errors a retry cannot cure (nvml.h's descriptions: the GPU fell off the bus, needs a reset,
the driver is gone or mismatched, ...). Any other code (TIMEOUT, IRQ_ISSUE, IN_USE, MEMORY,
NO_DATA, OPERATING_SYSTEM, UNKNOWN, ...) is taken as transient: the energy counter is
cumulative, so the next successful read loses nothing."""

_MIG_ENABLE = 1
"""``NVML_DEVICE_MIG_ENABLE`` (nvml.h), where the bindings lack the constant."""
_FI_DEV_POWER_INSTANT = "NVML_FI_DEV_POWER_INSTANT"
"""Field 186 (nvml.h, driver R535+): instantaneous power in mW; ``nvmlDeviceGetPowerUsage``
is a 1 s average on Ampere (except GA100) and newer (nvmlDeviceGetPowerUsage docs)."""


class NvmlUnavailable(MeterError):
    """NVML cannot be used at all here (no pynvml, no driver, no library)."""


class NvmlCallError(MeterError):
    """One NVML call failed; ``code_name`` is the ``NVML_ERROR_*`` name."""

    def __init__(self, call: str, code: int | None, code_name: str, detail: str) -> None:
        super().__init__(f"{call} failed: {detail} ({code_name})")
        self.call = call
        self.code = code
        self.code_name = code_name
        self.kind = code_name
        """Failure kind for warn-once bookkeeping."""
        self.detail = detail

    @property
    def not_supported(self) -> bool:
        """The device or driver lacks this call."""
        return self.code_name in NOT_SUPPORTED

    @property
    def refused(self) -> bool:
        """NVML may not open this GPU for this process (device cgroups, containers)."""
        return self.code_name == "NVML_ERROR_NO_PERMISSION"

    @property
    def not_found(self) -> bool:
        """No device answers to this UUID, bus id or index."""
        return self.code_name in ("NVML_ERROR_NOT_FOUND", "NVML_ERROR_INVALID_ARGUMENT")

    @property
    def transient(self) -> bool:
        """Worth retrying at the next read (see ``PERMANENT``)."""
        return self.code_name not in PERMANENT


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


_CODE_NAMES: dict[int, tuple[Any, dict[Any, str]]] = {}
"""id(module) → (module, NVML error code → constant name), built at the first error."""


def _error_code_names(module: Any) -> dict[Any, str]:
    """NVML error code → its ``NVML_ERROR_*`` name in ``module``, kept per module: the scan
    reads every name of the module, and NVML failing to start is the usual case on a machine
    without a GPU, at every run."""
    cached = _CODE_NAMES.get(id(module))
    if cached is None or cached[0] is not module:
        names = {getattr(module, name): name for name in dir(module)
                 if name.startswith("NVML_ERROR_")}
        cached = _CODE_NAMES[id(module)] = (module, names)
    return cached[1]


class NvmlApi:
    """A started NVML session over a ``pynvml``-like module; ``close()`` shuts it down."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._error_type: type[BaseException] = module.NVMLError

    @classmethod
    def open(cls, module: Any | None = None) -> "NvmlApi":
        """Import ``pynvml`` unless ``module`` is given, and call ``nvmlInit``."""
        if module is None:
            try:
                module = importlib.import_module("pynvml")
            except ImportError as err:
                raise NvmlUnavailable(
                    f"the Python package nvidia-ml-py (module pynvml) is not installed ({err}); "
                    "install it with `pip install nvidia-ml-py`"
                ) from err
        api = cls(module)
        try:
            api.call("nvmlInit")
        except NvmlCallError as err:
            raise NvmlUnavailable(
                f"NVML could not start: {err.detail} ({err.code_name}); is the NVIDIA driver "
                "installed and loaded (does `nvidia-smi` work)?"
            ) from err
        return api

    def _error(self, function: str, code: Any, detail: str) -> NvmlCallError:
        return NvmlCallError(call=function, code=code,
                             code_name=_error_code_names(self._module).get(code, f"code {code}"),
                             detail=detail)

    def call(self, function: str, *args: Any) -> Any:
        """``module.<function>(*args)`` with ``NVMLError`` turned into ``NvmlCallError``."""
        fn = getattr(self._module, function, None)
        if fn is None:
            raise NvmlCallError(function, None, "NVML_ERROR_FUNCTION_NOT_FOUND",
                                "the installed nvidia-ml-py has no such function")
        try:
            return fn(*args)
        except self._error_type as err:
            code = getattr(err, "value", None)
            try:
                detail = str(err)
            except Exception:  # noqa: BLE001 - pynvml's __str__ itself calls into NVML
                detail = f"NVML error code {code}"
            raise self._error(function, code, detail) from err

    def constant(self, name: str, default: int | None = None) -> int | None:
        """An ``NVML_*`` constant of the bindings, or ``default`` where they lack it."""
        return getattr(self._module, name, default)

    def close(self) -> None:
        """``nvmlShutdown``; a failure here only means NVML was already gone."""
        try:
            self.call("nvmlShutdown")
        except NvmlCallError:
            pass

    # ------------------------------------------------------------------ devices
    def devices(self) -> list[GpuIdentity | RefusedGpu]:
        """Every GPU NVML counts, in NVML's order; the ones it cannot open as ``RefusedGpu``
        (``nvmlDeviceGetCount_v2`` also counts GPUs this process may not open)."""
        devices: list[GpuIdentity | RefusedGpu] = []
        for index in range(int(self.call("nvmlDeviceGetCount"))):
            try:
                devices.append(self.identity(self.handle(index), index))
            except NvmlCallError as err:
                devices.append(RefusedGpu(index, f"{err.detail} ({err.code_name})"))
        return devices

    def identity(self, handle: Any, nvml_index: int | None = None) -> GpuIdentity:
        """Name, UUID and bus id of an opened GPU."""
        if nvml_index is None:
            try:
                nvml_index = int(self.call("nvmlDeviceGetIndex", handle))
            except NvmlCallError:
                nvml_index = -1
        return GpuIdentity(nvml_index=nvml_index,
                           uuid=_text(self.call("nvmlDeviceGetUUID", handle)),
                           pci_bus_id=self._pci_bus_id(handle),
                           name=_text(self.call("nvmlDeviceGetName", handle)))

    def _pci_bus_id(self, handle: Any) -> str:
        """The PCI bus id, or "" where the driver lacks the call (only labels need it)."""
        try:
            return _text(getattr(self.call("nvmlDeviceGetPciInfo", handle), "busId", ""))
        except NvmlCallError:
            return ""

    def handle(self, nvml_index: int) -> Any:
        """The device handle of NVML index ``nvml_index``."""
        return self.call("nvmlDeviceGetHandleByIndex", nvml_index)

    def handle_by_uuid(self, uuid: str) -> Any:
        """The handle of a GPU (``GPU-...``) or MIG instance (``MIG-...``), full UUID."""
        return self.call("nvmlDeviceGetHandleByUUID", uuid)

    def handle_by_pci_bus_id(self, bus_id: str) -> Any:
        """The handle of the GPU at PCI bus id ``bus_id`` (``00000000:3B:00.0``)."""
        return self.call("nvmlDeviceGetHandleByPciBusId", bus_id)

    def parent_of_mig(self, mig_handle: Any) -> Any:
        """The physical GPU a MIG instance lives on."""
        return self.call("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", mig_handle)

    def mig_enabled(self, handle: Any) -> bool:
        """Whether MIG mode is on (current mode); False where the GPU has no MIG."""
        try:
            current = self.call("nvmlDeviceGetMigMode", handle)[0]
        except NvmlCallError as err:
            if err.not_supported:
                return False
            raise
        return int(current) == self.constant("NVML_DEVICE_MIG_ENABLE", _MIG_ENABLE)

    def module_scope(self, handle: Any) -> bool:
        """Whether this GPU is part of a superchip (GH200/GB200) whose power and energy
        readings cover the whole module. Detected as Zeus does (``zeus/device/gpu/nvidia.py``):
        ``nvmlDeviceGetC2cModeInfoV(handle).isC2cEnabled``; any failure means no."""
        try:
            return bool(self.call("nvmlDeviceGetC2cModeInfoV", handle).isC2cEnabled)
        except NvmlCallError as err:  # Zeus too takes any failure as "not a superchip"
            if not err.not_supported:
                log.info("superchip check failed (%s): taken as a discrete GPU.", err)
            return False

    # ------------------------------------------------------------------ readings
    def total_energy_mj(self, handle: Any) -> int:
        """Energy counter since the driver loaded, in mJ (Volta and newer)."""
        return int(self.call("nvmlDeviceGetTotalEnergyConsumption", handle))

    def power_mw(self, handle: Any) -> int:
        """Board power in mW from ``nvmlDeviceGetPowerUsage`` (a 1 s average on Ampere+)."""
        return int(self.call("nvmlDeviceGetPowerUsage", handle))

    def instant_power_mw(self, handle: Any, module: bool) -> int:
        """Instantaneous power in mW (field ``NVML_FI_DEV_POWER_INSTANT``), of the GPU or,
        with ``module``, of the whole superchip module (``NVML_POWER_SCOPE_MODULE``)."""
        field = self.constant(_FI_DEV_POWER_INSTANT)
        if field is None:
            raise NvmlCallError("nvmlDeviceGetFieldValues", None, "NVML_ERROR_FUNCTION_NOT_FOUND",
                                f"the installed nvidia-ml-py has no {_FI_DEV_POWER_INSTANT}")
        # scope 0 (GPU) is the default: a bare field id works with bindings older than scopes
        request = (field, self.constant("NVML_POWER_SCOPE_MODULE", 1)) if module else field
        try:
            value = self.call("nvmlDeviceGetFieldValues", handle, [request])[0]
        except TypeError as err:  # bindings older than power scopes cannot take the pair
            raise NvmlCallError("nvmlDeviceGetFieldValues", None, "NVML_ERROR_FUNCTION_NOT_FOUND",
                                f"the installed nvidia-ml-py has no power scopes ({err})") from err
        status = value.nvmlReturn
        if status != self.constant("NVML_SUCCESS", 0):
            raise self._error("nvmlDeviceGetFieldValues", status, f"field {field} not read")
        return int(value.value.uiVal)
