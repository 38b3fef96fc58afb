"""GPU energy from NVML: the energy counter where the GPU has one, else sampled power.

Volta and newer GPUs keep a cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, mJ): the meter reads it at ``start()``
and at every ``read()`` and reports the difference; no thread is needed. Older
GPUs only report instantaneous power (``nvmlDeviceGetPowerUsage``, mW): one
background thread samples every such GPU every ``sample_interval_s`` (10 Hz by
default) and integrates with the trapezoid rule; ``read()`` and ``stop()`` add a
sample of their own so the energy runs exactly up to the moment of the call.

Failures never reach the caller: NVML missing, a GPU that supports neither
reading, or a GPU failing mid-run (lost, reset required, ...) gives one
``MeterWarning`` per device and failure kind, and the device is reported with
``ok=False`` and its energy frozen at the last good value. A counter that goes
backwards (the driver was reloaded or the GPU reset) gives one warning and
metering *resumes* from the new counter value: the energy between the last good
reading and the reset is lost (the figure becomes a lower bound); the device
stays ``ok=True``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from nature_callback.meters._channels import Channel, ChannelMeter
from nature_callback.meters._device import DeviceState
from nature_callback.meters._integrate import TrapezoidIntegrator
from nature_callback.meters._nvml_api import NvmlApi, NvmlCallError, NvmlUnavailable
from nature_callback.meters._validate import GpuSelection, check_gpus, check_sample_interval_s
from nature_callback.meters._warn import OnceWarner
from nature_callback.meters.cuda_visible import (
    VisibleGpu,
    order_may_differ,
    select_gpus,
    visible_gpus,
)

SAMPLER_THREAD_NAME = "nature-nvml-sampler"
"""Name of the one power-sampling thread (tests look for it in ``threading.enumerate()``)."""

_ORDER_WARNING = (
    "this machine has GPUs of different models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA "
    "may number the GPUs differently from NVML, so gpu<i> may be metered on the wrong GPU. Set "
    "CUDA_DEVICE_ORDER=PCI_BUS_ID before starting Python, or list GPUs by UUID in "
    "CUDA_VISIBLE_DEVICES."
)


@dataclass(frozen=True)
class NvmlProbe:
    """Whether NVML works here and which GPUs a meter would watch."""

    available: bool
    """NVML started and enumerated the GPUs."""
    gpus: tuple[VisibleGpu, ...]
    """The selected GPUs (empty when none is visible or NVML is unavailable)."""
    reason: str
    """Why NVML is unavailable; empty when available."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"available": self.available, "gpus": [g.to_dict() for g in self.gpus],
                "reason": self.reason}


@dataclass(frozen=True)
class _Selection:
    gpus: list[VisibleGpu]
    order_may_differ: bool


def _select(api: NvmlApi, gpus: Literal["visible"] | Sequence[int]) -> _Selection:
    """Enumerate NVML's GPUs and map the requested visible indices onto them."""
    try:
        every_gpu = api.gpus()
    except NvmlCallError as err:
        raise NvmlUnavailable(f"NVML could not list the GPUs: {err}") from err
    env_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return _Selection(
        gpus=select_gpus(gpus, visible_gpus(env_visible, every_gpu)),
        order_may_differ=order_may_differ(os.environ.get("CUDA_DEVICE_ORDER"), env_visible,
                                          every_gpu),
    )


def probe_nvml(gpus: GpuSelection = "visible", nvml: Any | None = None) -> NvmlProbe:
    """Start NVML, resolve ``gpus`` against ``CUDA_VISIBLE_DEVICES``, shut NVML down.

    Raises ``ConfigurationError`` for a GPU or ``CUDA_VISIBLE_DEVICES`` entry that
    does not exist; an unusable NVML is reported in the result, not raised.
    """
    selection = check_gpus(gpus, allow_none=False)
    try:
        api = NvmlApi.open(nvml)
    except NvmlUnavailable as err:
        return NvmlProbe(available=False, gpus=(), reason=str(err))
    try:
        return NvmlProbe(available=True, gpus=tuple(_select(api, selection).gpus), reason="")
    except NvmlUnavailable as err:
        return NvmlProbe(available=False, gpus=(), reason=str(err))
    finally:
        api.close()


class _CounterChannel(Channel):
    """A GPU read through its cumulative energy counter, at read time only."""

    def __init__(self, state: DeviceState, api: NvmlApi, handle: Any, baseline_mj: int,
                 warner: OnceWarner) -> None:
        super().__init__(state)
        self.api = api
        self.handle = handle
        self.warner = warner
        self.base_mj = baseline_mj
        self.last_mj = baseline_mj
        self.banked_j = 0.0

    def update(self) -> None:
        energy_mj = self.api.total_energy_mj(self.handle)
        if energy_mj < self.last_mj:
            self.warner.note(
                self.state.device, "counter_reset",
                f"{self.state.device} ({self.state.description}): the NVML energy counter went "
                f"backwards ({self.last_mj} -> {energy_mj} mJ; GPU reset or driver reload). "
                "Metering resumes from the new value; the energy since the previous reading is "
                "lost, so this GPU's figure is a lower bound.",
            )
            self.banked_j = self.state.energy_j
            self.base_mj = energy_mj
        self.last_mj = energy_mj
        self.state.energy_j = self.banked_j + (energy_mj - self.base_mj) / 1000.0


class _SampledChannel(Channel):
    """A GPU read by integrating power sampled by the background thread and at reads."""

    threaded = True

    def __init__(self, state: DeviceState, api: NvmlApi, handle: Any, power0_w: float) -> None:
        super().__init__(state)
        self.api = api
        self.handle = handle
        self.integrator = TrapezoidIntegrator(time.monotonic(), power0_w)

    def update(self) -> None:
        power_w = self.api.power_mw(self.handle) / 1000.0
        self.state.energy_j = self.integrator.add(time.monotonic(), power_w)


class NvmlMeter(ChannelMeter):
    """Energy of NVIDIA GPUs through NVML; device keys ``gpu<visible index>``.

    ``gpus``: ``"visible"`` or visible (torch) device indices, mapped to NVML
    devices through ``CUDA_VISIBLE_DEVICES``. ``sample_interval_s``: the power
    sampling period for GPUs without an energy counter (one thread for all of
    them). ``nvml``: a ``pynvml``-like module (default: ``import pynvml`` at
    ``start()``).

    ``start()`` (re)starts from zero; after ``stop()``, ``read()`` returns the
    energy up to the stop. ``start()`` raises ``ConfigurationError`` for a GPU
    that does not exist; nothing else raises.
    """

    thread_name = SAMPLER_THREAD_NAME

    def __init__(
        self,
        gpus: GpuSelection = "visible",
        sample_interval_s: float = 0.1,
        nvml: Any | None = None,
    ) -> None:
        super().__init__(check_sample_interval_s(sample_interval_s))
        self.gpus = check_gpus(gpus, allow_none=False)
        self._nvml = nvml
        self._api: NvmlApi | None = None

    @property
    def sample_rate_hz(self) -> float:
        """Power samples per second for GPUs without an energy counter."""
        return 1.0 / self.poll_interval_s

    def _open_channels(self) -> list[Channel | DeviceState]:
        try:
            api = NvmlApi.open(self._nvml)
        except NvmlUnavailable as err:
            return self._without_nvml(str(err))
        try:
            selection = _select(api, self.gpus)
            opened = [self._open_gpu(api, gpu) for gpu in selection.gpus]
        except NvmlUnavailable as err:
            api.close()
            return self._without_nvml(str(err))
        except BaseException:
            api.close()
            raise
        if selection.order_may_differ:
            self._warner.note("nvml", "device_order", _ORDER_WARNING)
        self._api = api
        return opened

    def _close_channels(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            api.close()

    def _without_nvml(self, reason: str) -> list[Channel | DeviceState]:
        """NVML unusable: one warning; explicitly requested GPUs are listed with ok=False."""
        self._warner.note("nvml", "unavailable", f"GPU energy is not metered: {reason}.")
        indices = [] if self.gpus == "visible" else list(self.gpus)
        return [DeviceState(f"gpu{i}", "gpu", "GPU (not metered: NVML unavailable)", "measured",
                            ok=False) for i in indices]

    def _open_gpu(self, api: NvmlApi, gpu: VisibleGpu) -> Channel | DeviceState:
        """Try the energy counter, then power; a GPU with neither comes back failed."""
        key, name = gpu.device_key, gpu.identity.name
        handle = None
        try:
            handle = api.handle(gpu.identity.nvml_index)
            baseline_mj = api.total_energy_mj(handle)
            state = DeviceState(key, "gpu", f"{name} (NVML energy counter)", "measured")
            return _CounterChannel(state, api, handle, baseline_mj, self._warner)
        except NvmlCallError as err:
            error = err
        state = DeviceState(
            key, "gpu", f"{name} (NVML power sampling at {self.sample_rate_hz:g} Hz)", "measured"
        )
        if handle is not None and error.not_supported:
            try:
                return _SampledChannel(state, api, handle, api.power_mw(handle) / 1000.0)
            except NvmlCallError as err:
                error = err
        state.description = f"{name} (not metered)"
        reason = ("NVML supports neither its energy counter nor its power reading"
                  if error.not_supported else f"NVML {error}")
        self.fail(state, error.code_name, reason)
        return state
