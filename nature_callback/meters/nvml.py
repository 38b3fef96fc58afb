"""GPU energy from NVML: the energy counter where the GPU has one, else sampled power.

Which GPUs: the ones the run uses (``gpus``), each found by torch's UUID (or through
``CUDA_VISIBLE_DEVICES``), opened alone (``_gpu_select``). A GPU NVML may not open, a
MIG instance or a GPU in MIG mode is listed as ``unmetered`` after one warning; the
others are metered.

Volta and newer GPUs keep a cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, mJ). It moves in steps (every 20-100 ms):
``start()`` polls it briefly to learn its update period, and each ``read()`` adds
instantaneous power × the time since it last moved (``_counter.CounterBridge``), so
a window shorter than the period does not read 0 J; that part is reported as
``interpolated_j``. No thread is needed. Older GPUs only report power: one
background thread samples every such GPU every ``sample_interval_s`` (10 Hz by
default), instantaneous power (field ``NVML_FI_DEV_POWER_INSTANT``) where the
driver has it, else ``nvmlDeviceGetPowerUsage`` (a 1 s average on Ampere and
newer), and integrates with the trapezoid rule, skipping readings ≤ 0.

On a superchip (GH200, GB200) the readings cover the whole module (GPU, Grace CPU,
memory), as Zeus documents: the reading says ``scope="module"``.

Failures never reach the caller. A transient NVML error (TIMEOUT, ...) is retried
at the next read and counted in ``failed_reads``; ``MAX_CONSECUTIVE_FAILED_READS``
in a row, or a permanent error (GPU lost, reset required, ...), give one
``MeterWarning`` and the device is reported with ``ok=False``, its energy frozen. A
counter that goes backwards (driver reload, GPU reset) gives one warning and
metering *resumes* from the new value: the energy since the previous reading is
lost (the figure becomes a lower bound); the device stays ``ok=True``.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from nature_callback.exceptions import MeterError
from nature_callback.meters._channels import Channel, ChannelMeter
from nature_callback.meters._clock import MONOTONIC, Clock
from nature_callback.meters._counter import (
    DETECT_POLL_S,
    CounterBridge,
    CounterStart,
    watch_counters,
)
from nature_callback.meters._device import DeviceState
from nature_callback.meters._gpu_select import GpuTarget, resolve_targets
from nature_callback.meters._integrate import TrapezoidIntegrator
from nature_callback.meters._nvml_api import NvmlApi, NvmlCallError, NvmlUnavailable
from nature_callback.meters._validate import GpuSelection, check_gpus, check_sample_interval_s
from nature_callback.meters._warn import OnceWarner
from nature_callback.meters.cuda_visible import VisibleGpu

SAMPLER_THREAD_NAME = "nature-nvml-sampler"
"""Name of the one power-sampling thread (tests look for it in ``threading.enumerate()``)."""

MAX_CONSECUTIVE_FAILED_READS = 5
"""Transient failures in a row before a GPU is given up (ok=False). One NVML timeout must not
freeze a GPU for the run; five in a row (five windows of the counter, half a second of
samples at 10 Hz) mean the GPU no longer answers."""

MODULE_NOTE = "whole superchip module: GPU + Grace CPU + memory"
"""What a module-scope reading covers (Zeus: "For Grace Hopper, the power and energy values
are for the entire superchip/module"; NVML_POWER_SCOPE_MODULE)."""

_UNMETERED_WHY = {
    "mig": (
        "NVML's energy counter and power readings cover the whole physical GPU (every MIG "
        "tenant's work and the GPU's idle power) and there is no per-instance reading, nor a "
        "defensible rule to apportion them (power does not follow a slice's share of the "
        "compute). They are listed as unmetered (0 J, source='unmetered'); to meter a GPU, "
        "train on it with MIG off"
    ),
    "refused": "listed as unmetered (0 J, source='unmetered'); the other GPUs are metered",
    "unknown": "listed as unmetered (0 J, source='unmetered')",
}


@dataclass(frozen=True)
class NvmlProbe:
    """Whether NVML works here and which GPUs a meter would watch."""

    available: bool
    """NVML started and enumerated the GPUs."""
    gpus: tuple[VisibleGpu, ...]
    """The GPUs that would be metered (empty when none is visible or NVML is unavailable)."""
    reason: str
    """Why NVML is unavailable; empty when available."""
    unmetered: tuple[str, ...] = ()
    """Device keys of GPUs the run uses that cannot be metered (MIG, refused by NVML)."""
    covers_cpu: bool = False
    """A metered GPU is a superchip whose figure includes the CPU (no CPU estimate needed)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"available": self.available, "gpus": [g.to_dict() for g in self.gpus],
                "reason": self.reason, "unmetered": list(self.unmetered),
                "covers_cpu": self.covers_cpu}


def probe_nvml(gpus: GpuSelection = "visible", nvml: Any | None = None,
               torch: Any | None = None) -> NvmlProbe:
    """Start NVML, find the GPUs ``gpus`` names, shut NVML down.

    Raises ``ConfigurationError`` for a requested index this process does not see;
    an unusable NVML is reported in the result, not raised.
    """
    selection = check_gpus(gpus, allow_none=False)
    try:
        api = NvmlApi.open(nvml)
    except NvmlUnavailable as err:
        return NvmlProbe(available=False, gpus=(), reason=str(err))
    try:
        targets = resolve_targets(api, selection, torch).targets
        metered = [t for t in targets if t.status == "ok"]
        return NvmlProbe(
            available=True,
            gpus=tuple(VisibleGpu(t.visible_index, t.identity) for t in metered if t.identity),
            reason="",
            unmetered=tuple(t.device_key for t in targets if t.status != "ok"),
            covers_cpu=any(api.module_scope(t.handle) for t in metered),
        )
    except NvmlCallError as err:
        return NvmlProbe(available=False, gpus=(), reason=f"NVML could not list the GPUs: {err}")
    finally:
        api.close()


class RepeatedReadFailures(MeterError):
    """A GPU failed ``MAX_CONSECUTIVE_FAILED_READS`` reads in a row."""

    kind = "repeated_failures"


class _SkippedReading(MeterError):
    """A reading that cannot be right (power ≤ 0): skipped and counted as a failed read."""


class _PowerReader:
    """Instantaneous power where the driver has the field, else ``nvmlDeviceGetPowerUsage``."""

    def __init__(self, api: NvmlApi, handle: Any, module: bool) -> None:
        self.api = api
        self.handle = handle
        self.module = module
        self.instant = True
        try:
            api.instant_power_mw(handle, module)
        except NvmlCallError as err:
            self.instant = err.transient  # permanent: the field is not there, use the average

    @property
    def label(self) -> str:
        """What is read, for descriptions."""
        return "instantaneous power" if self.instant else "power (1 s average on Ampere+)"

    def read_w(self) -> float:
        """Power now, in W."""
        if self.instant:
            return self.api.instant_power_mw(self.handle, self.module) / 1000.0
        return self.api.power_mw(self.handle) / 1000.0


class _NvmlChannel(Channel):
    """A GPU read through NVML: transient failures are retried and counted."""

    def __init__(self, state: DeviceState, power: _PowerReader, clock: Clock,
                 warner: OnceWarner) -> None:
        super().__init__(state)
        self.power = power
        self.clock = clock
        self.warner = warner
        self.consecutive_failures = 0

    @abstractmethod
    def read(self) -> None:
        """Advance ``state``; raise ``NvmlCallError`` or ``_SkippedReading`` on failure."""

    def update(self) -> None:
        try:
            self.read()
        except MeterError as err:
            if isinstance(err, NvmlCallError) and not err.transient:
                raise
            self._count_failure(err)
        else:
            self.consecutive_failures = 0

    def _count_failure(self, err: MeterError) -> None:
        self.state.failed_reads += 1
        self.consecutive_failures += 1
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILED_READS:
            raise RepeatedReadFailures(
                f"{self.consecutive_failures} consecutive reads failed (the last: {err})")
        self.warner.note(
            self.state.device, "retrying",
            f"{self.state.device} ({self.state.description}): a read failed ({err}); it is "
            "retried at the next read and nothing is lost where the energy counter is read. "
            "Failed reads are counted in DeviceEnergy.failed_reads; "
            f"{MAX_CONSECUTIVE_FAILED_READS} in a row end this GPU's metering.",
        )


class _CounterChannel(_NvmlChannel):
    """A GPU read through its cumulative energy counter, bridged by power between steps."""

    def __init__(self, state: DeviceState, power: _PowerReader, clock: Clock,
                 warner: OnceWarner, first_mj: int) -> None:
        super().__init__(state, power, clock, warner)
        self.first_mj = first_mj
        self.bridge: CounterBridge | None = None

    def read_counter(self) -> int:
        """The counter in mJ."""
        return self.power.api.total_energy_mj(self.power.handle)

    def begin(self, start: CounterStart) -> None:
        """Start from what polling the counter found."""
        self.bridge = CounterBridge(start, self.clock.now())
        self.state.update_period_s = start.period_s

    def _power_w(self) -> float | None:
        try:
            return self.power.read_w()
        except NvmlCallError:
            return None  # no bridge this time; the counter alone is still right

    def read(self) -> None:
        assert self.bridge is not None
        now_s = self.clock.now()
        energy_mj = self.read_counter()
        if self.bridge.advance(now_s, energy_mj, self._power_w()):
            self.warner.note(
                self.state.device, "counter_reset",
                f"{self.state.device} ({self.state.description}): the NVML energy counter went "
                f"backwards (to {energy_mj} mJ; GPU reset or driver reload). Metering resumes "
                "from the new value; the energy since the previous reading is lost, so this "
                "GPU's figure is a lower bound.",
            )
        self.state.energy_j = self.bridge.energy_j
        self.state.interpolated_j = self.bridge.interpolated_j


class _SampledChannel(_NvmlChannel):
    """A GPU read by integrating power sampled by the background thread and at reads."""

    threaded = True

    def __init__(self, state: DeviceState, power: _PowerReader, clock: Clock,
                 warner: OnceWarner) -> None:
        super().__init__(state, power, clock, warner)
        self.integrator: TrapezoidIntegrator | None = None

    def read(self) -> None:
        t_s = self.clock.now()
        power_w = self.power.read_w()
        if power_w <= 0:
            raise _SkippedReading(f"NVML gave {power_w:g} W, skipped")
        if self.integrator is None:  # the first good sample starts the integral
            self.integrator = TrapezoidIntegrator(t_s, power_w)
        self.state.energy_j = self.integrator.add(t_s, power_w)


class NvmlMeter(ChannelMeter):
    """Energy of NVIDIA GPUs through NVML; device keys ``gpu<visible index>``.

    ``gpus``: ``"visible"`` or visible (torch) device indices. ``sample_interval_s``:
    the power sampling period for GPUs without an energy counter (one thread for all
    of them). ``nvml``: a ``pynvml``-like module (default: ``import pynvml`` at
    ``start()``). ``torch``: a torch-like module to name the devices (default: the
    user's ``torch`` where imported; imported for explicit indices). ``clock``: the
    time source (tests pass a fake one).

    ``start()`` (re)starts from zero; it may take up to ``_counter.DETECT_MAX_S`` to
    learn the counters' update period. After ``stop()``, ``read()`` returns the energy
    up to the stop. ``start()`` raises ``ConfigurationError`` for a requested index
    this process does not see; nothing else raises.
    """

    thread_name = SAMPLER_THREAD_NAME

    def __init__(
        self,
        gpus: GpuSelection = "visible",
        sample_interval_s: float = 0.1,
        nvml: Any | None = None,
        *,
        torch: Any | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(check_sample_interval_s(sample_interval_s))
        self.gpus = check_gpus(gpus, allow_none=False)
        self._nvml = nvml
        self._torch = torch
        self._clock = clock or MONOTONIC
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
            resolution = resolve_targets(api, self.gpus, self._torch)
            opened = [self._open_target(api, target) for target in resolution.targets]
            counters = [o for o in opened if isinstance(o, _CounterChannel)]
            starts = watch_counters([(c.read_counter, c.first_mj) for c in counters], self._clock)
            for channel, start in zip(counters, starts):
                channel.begin(start)
        except NvmlCallError as err:
            api.close()
            return self._without_nvml(f"NVML could not list the GPUs: {err}")
        except BaseException:
            api.close()
            raise
        for kind, message in resolution.notes:
            self._warner.note("nvml", kind, message)
        self._note_unmetered(resolution.targets)
        self._api = api
        return opened

    def _close_channels(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            api.close()

    def _without_nvml(self, reason: str) -> list[Channel | DeviceState]:
        """NVML unusable: one warning; the GPUs asked for (or ``gpu`` for "visible") are
        listed as unmetered."""
        self._warner.note("nvml", "unavailable", f"GPU energy is not metered: {reason}.")
        keys = ["gpu"] if self.gpus == "visible" else [f"gpu{i}" for i in self.gpus]
        return [DeviceState(key, "gpu", "GPU (not metered: NVML unavailable)", "unmetered",
                            ok=False) for key in keys]

    def _note_unmetered(self, targets: list[GpuTarget]) -> None:
        """One warning per reason, naming every GPU it concerns."""
        for status, why in _UNMETERED_WHY.items():
            listed = [f"{t.device_key} ({t.detail})" for t in targets if t.status == status]
            if listed:
                self._warner.note("nvml", status, f"GPU energy not metered for "
                                  f"{', '.join(listed)}: {why}. Training goes on.")

    def _open_target(self, api: NvmlApi, target: GpuTarget) -> Channel | DeviceState:
        """A channel for a GPU NVML opened; an unmetered state for the others."""
        if target.status != "ok" or target.identity is None:
            return DeviceState(target.device_key, "gpu", f"GPU not metered: {target.detail}",
                               "unmetered", ok=False,
                               uuid=target.identity.uuid if target.identity else "")
        return self._open_gpu(api, target)

    def _first_counter_read(self, api: NvmlApi, handle: Any) -> int:
        """The counter at open, retried like any read when the error is transient."""
        for _ in range(MAX_CONSECUTIVE_FAILED_READS - 1):
            try:
                return api.total_energy_mj(handle)
            except NvmlCallError as err:
                if not err.transient:
                    raise
                self._clock.sleep(DETECT_POLL_S)
        return api.total_energy_mj(handle)

    def _open_gpu(self, api: NvmlApi, target: GpuTarget) -> Channel | DeviceState:
        """Try the energy counter, then power; a GPU with neither comes back failed."""
        assert target.identity is not None
        name, handle = target.identity.name, target.handle
        module = api.module_scope(handle)
        scope_note = f", {MODULE_NOTE}" if module else ""
        power = _PowerReader(api, handle, module)
        state = functools.partial(DeviceState, target.device_key, "gpu", source="measured",
                                  scope="module" if module else "device",
                                  uuid=target.identity.uuid)
        try:
            first_mj = self._first_counter_read(api, handle)
            return _CounterChannel(
                state(f"{name} (NVML energy counter{scope_note}; {power.label} between its "
                      "updates)"), power, self._clock, self._warner, first_mj)
        except NvmlCallError as err:
            error = err
        sampled = state(f"{name} (NVML {power.label}{scope_note}, sampled at "
                        f"{self.sample_rate_hz:g} Hz)")
        if error.not_supported:
            channel = _SampledChannel(sampled, power, self._clock, self._warner)
            try:
                channel.update()
                return channel
            except MeterError as err:  # a permanent failure at the first sample
                error = err if isinstance(err, NvmlCallError) else error
        sampled.description = f"{name} (not metered)"
        reason = ("NVML supports neither its energy counter nor its power reading"
                  if error.not_supported else f"NVML {error}")
        self.fail(sampled, error.code_name, reason)
        return sampled
