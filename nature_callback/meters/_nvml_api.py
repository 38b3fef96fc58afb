"""The one place that calls NVML: every ``NVMLError`` is translated here.

``pynvml`` (package ``nvidia-ml-py``) is imported lazily; a module object with
the same functions can be injected instead (tests use a fake one).
"""

from __future__ import annotations

import importlib
from typing import Any

from nature_callback.exceptions import MeterError
from nature_callback.meters.cuda_visible import GpuIdentity


class NvmlUnavailable(MeterError):
    """NVML cannot be used at all here (no pynvml, no driver, no library)."""


class NvmlCallError(MeterError):
    """One NVML call failed; ``code_name`` is the ``NVML_ERROR_*`` name."""

    def __init__(self, call: str, code: int | None, code_name: str, detail: str,
                 not_supported: bool) -> None:
        super().__init__(f"{call} failed: {detail} ({code_name})")
        self.call = call
        self.code = code
        self.code_name = code_name
        self.kind = code_name
        """Failure kind for warn-once bookkeeping."""
        self.detail = detail
        self.not_supported = not_supported


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
        self._not_supported_codes = {
            getattr(module, name, None)
            for name in ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND")
        } - {None}

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

    def call(self, function: str, *args: Any) -> Any:
        """``module.<function>(*args)`` with ``NVMLError`` turned into ``NvmlCallError``."""
        try:
            return getattr(self._module, function)(*args)
        except self._error_type as err:
            code = getattr(err, "value", None)
            try:
                detail = str(err)
            except Exception:  # noqa: BLE001 - pynvml's __str__ itself calls into NVML
                detail = f"NVML error code {code}"
            raise NvmlCallError(
                call=function,
                code=code,
                code_name=_error_code_names(self._module).get(code, f"code {code}"),
                detail=detail,
                not_supported=code in self._not_supported_codes,
            ) from err

    def close(self) -> None:
        """``nvmlShutdown``; a failure here only means NVML was already gone."""
        try:
            self.call("nvmlShutdown")
        except NvmlCallError:
            pass

    def gpus(self) -> list[GpuIdentity]:
        """Every GPU NVML sees, in NVML's order."""
        identities = []
        for index in range(int(self.call("nvmlDeviceGetCount"))):
            handle = self.handle(index)
            identities.append(
                GpuIdentity(
                    nvml_index=index,
                    uuid=_text(self.call("nvmlDeviceGetUUID", handle)),
                    pci_bus_id=self._pci_bus_id(handle),
                    name=_text(self.call("nvmlDeviceGetName", handle)),
                )
            )
        return identities

    def _pci_bus_id(self, handle: Any) -> str:
        """The PCI bus id, or "" where the driver lacks the call (only PCI matching needs it)."""
        try:
            return _text(getattr(self.call("nvmlDeviceGetPciInfo", handle), "busId", ""))
        except NvmlCallError:
            return ""

    def handle(self, nvml_index: int) -> Any:
        """The device handle of NVML index ``nvml_index``."""
        return self.call("nvmlDeviceGetHandleByIndex", nvml_index)

    def total_energy_mj(self, handle: Any) -> int:
        """Energy counter since the driver loaded, in mJ (Volta and newer)."""
        return int(self.call("nvmlDeviceGetTotalEnergyConsumption", handle))

    def power_mw(self, handle: Any) -> int:
        """Current board power draw in mW."""
        return int(self.call("nvmlDeviceGetPowerUsage", handle))
