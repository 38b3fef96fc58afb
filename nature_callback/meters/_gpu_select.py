"""Find the NVML device behind each ``cuda:<i>`` the run uses, opening only those.

The reliable way is torch's own answer: ``torch.cuda.get_device_properties(i).uuid``
is the CUDA UUID, and NVML names the same GPU ``GPU-<uuid>`` (a MIG instance
``MIG-<uuid>``), so ``nvmlDeviceGetHandleByUUID`` opens exactly that device whatever
CUDA's order (fastest first by default, PCI order for NVML) and whatever
``CUDA_VISIBLE_DEVICES`` says. torch is used where it is already imported, or
imported when explicit indices must be mapped; ``import nature_callback`` never
imports it. Without torch (or without CUDA in it), ``CUDA_VISIBLE_DEVICES`` is
read as CUDA reads it (``cuda_visible``), and mixed GPU models without
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` give a warning: integer indices may then name
other GPUs for CUDA than for NVML.

A GPU that cannot be metered comes back as a target with a status saying why:
``refused`` (NVML cannot open it: NO_PERMISSION under device cgroups, ...), ``mig``
(a MIG instance, or a GPU in MIG mode: NVML's readings cover the whole GPU, every
tenant's slices), ``unknown`` (no NVML device has torch's UUID). The meter lists
those as ``unmetered``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from nature_callback.meters._nvml_api import NvmlApi, NvmlCallError
from nature_callback.meters.cuda_visible import (
    MIG_PREFIX,
    UUID_PREFIX,
    GpuIdentity,
    MigSlice,
    RefusedGpu,
    check_requested,
    order_may_differ,
    parse_visible_devices,
    resolve_visible,
)

log = logging.getLogger(__name__)

Status = Literal["ok", "refused", "mig", "unknown"]


@dataclass(frozen=True)
class GpuTarget:
    """One ``cuda:<visible_index>`` of the run and what NVML can do with it."""

    visible_index: int
    status: Status
    identity: GpuIdentity | None = None
    """The NVML device (for ``mig``: the parent GPU, where known)."""
    handle: Any = None
    """Opened NVML handle (``ok`` only)."""
    detail: str = ""
    """For a target not ``ok``: what it is and why it is not metered."""

    @property
    def device_key(self) -> str:
        """``gpu<visible_index>``."""
        return f"gpu{self.visible_index}"


@dataclass
class Resolution:
    """The targets, and what to tell the user once."""

    targets: list[GpuTarget]
    method: str
    """How indices were mapped: ``torch UUID`` or ``CUDA_VISIBLE_DEVICES``."""
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(kind, message) for warnings; kinds: device_order, visible_devices."""


def _torch_for(requested: Literal["visible"] | Sequence[int], torch: Any | None) -> Any | None:
    """The torch module to ask: the given one, the user's, or imported for explicit indices."""
    if torch is not None:
        return torch
    if "torch" in sys.modules:
        return sys.modules["torch"]
    if requested == "visible":
        return None
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _torch_uuids(torch: Any, requested: Literal["visible"] | Sequence[int]
                 ) -> list[tuple[int, str]] | None:
    """(visible index, CUDA UUID) per requested device, or None where torch cannot say
    (no CUDA in this torch, an old torch without ``uuid``)."""
    try:
        if not torch.cuda.is_available():
            return None
        indices = check_requested(requested, int(torch.cuda.device_count()))
        uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in indices]
    except (AttributeError, RuntimeError, AssertionError) as err:
        log.info("torch cannot name its GPUs (%s); mapping through CUDA_VISIBLE_DEVICES.", err)
        return None
    return list(zip(indices, uuids))


def _nvml_uuids(cuda_uuid: str) -> list[str]:
    """The NVML UUIDs a CUDA UUID may stand for: a whole GPU, else a MIG instance."""
    if cuda_uuid.startswith((UUID_PREFIX, MIG_PREFIX)):
        return [cuda_uuid]
    return [UUID_PREFIX + cuda_uuid, MIG_PREFIX + cuda_uuid]


def _refused(index: int, what: str, reason: str) -> GpuTarget:
    return GpuTarget(index, "refused", detail=f"{what}: NVML cannot open it ({reason})")


def _mig_target(api: NvmlApi, index: int, uuid: str, handle: Any | None) -> GpuTarget:
    """A MIG instance: named with its parent GPU where NVML can tell."""
    parent = None
    try:
        if handle is None:
            handle = api.handle_by_uuid(uuid)
        parent = api.identity(api.parent_of_mig(handle))
    except NvmlCallError:
        pass
    on = f" on {parent.name} {parent.uuid}" if parent else ""
    return GpuTarget(index, "mig", parent, detail=f"MIG instance {uuid}{on}")


def open_target(api: NvmlApi, index: int, handle: Any, identity: GpuIdentity) -> GpuTarget:
    """An opened GPU, unless it is in MIG mode (then its readings are every tenant's)."""
    try:
        mig = api.mig_enabled(handle)
    except NvmlCallError as err:
        log.info("MIG mode of %s unreadable (%s): taken as off.", identity.uuid, err)
        mig = False
    if mig:
        return GpuTarget(index, "mig", identity,
                         detail=f"{identity.name} {identity.uuid} is in MIG mode")
    return GpuTarget(index, "ok", identity, handle)


def _by_torch_uuid(api: NvmlApi, index: int, cuda_uuid: str) -> GpuTarget:
    for uuid in _nvml_uuids(cuda_uuid):
        try:
            handle = api.handle_by_uuid(uuid)
            if uuid.startswith(MIG_PREFIX):
                return _mig_target(api, index, uuid, handle)
            return open_target(api, index, handle, api.identity(handle))
        except NvmlCallError as err:
            if not err.not_found:
                return _refused(index, uuid, f"{err.detail}, {err.code_name}")
    return GpuTarget(index, "unknown",
                     detail=f"torch's cuda:{index} has UUID {cuda_uuid}, which no NVML device has")


def _through_torch(api: NvmlApi, uuids: list[tuple[int, str]]) -> Resolution:
    return Resolution([_by_torch_uuid(api, index, uuid) for index, uuid in uuids], "torch UUID")


def _through_environment(api: NvmlApi, requested: Literal["visible"] | Sequence[int]
                         ) -> Resolution:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    spec = parse_visible_devices(env)
    devices = api.devices() if spec.kind != "mig" else []
    visible, ended_at = resolve_visible(spec, devices)
    resolution = Resolution([], "CUDA_VISIBLE_DEVICES")
    if ended_at is not None:
        resolution.notes.append((
            "visible_devices",
            f"CUDA_VISIBLE_DEVICES={env!r}: the entry {ended_at!r} names no GPU here, so, as "
            f"in CUDA, it ends the list: this process sees {len(visible)} GPU(s).",
        ))
    known = [d for d in devices if isinstance(d, GpuIdentity)]
    if order_may_differ(os.environ.get("CUDA_DEVICE_ORDER"), spec, known):
        resolution.notes.append((
            "device_order",
            "this machine has GPUs of different models, CUDA_DEVICE_ORDER is not PCI_BUS_ID "
            "and torch is not there to name its GPUs: CUDA may number the GPUs differently "
            "from NVML, so gpu<i> may be metered on another GPU than cuda:<i>. Import torch "
            "before the meters start, set CUDA_DEVICE_ORDER=PCI_BUS_ID, or list GPUs by UUID "
            "in CUDA_VISIBLE_DEVICES.",
        ))
    for index in check_requested(requested, len(visible)):
        device = visible[index]
        if isinstance(device, MigSlice):
            resolution.targets.append(_mig_target(api, index, device.uuid, None))
        elif isinstance(device, RefusedGpu):
            resolution.targets.append(_refused(index, f"NVML GPU {device.nvml_index}",
                                               device.reason))
        else:
            try:
                target = open_target(api, index, api.handle(device.nvml_index), device)
            except NvmlCallError as err:
                target = _refused(index, device.uuid, f"{err.detail}, {err.code_name}")
            resolution.targets.append(target)
    return resolution


def resolve_targets(api: NvmlApi, requested: Literal["visible"] | Sequence[int],
                    torch: Any | None = None) -> Resolution:
    """The run's GPUs, each opened or labelled with why not.

    Raises ``ConfigurationError`` for a requested index this process does not see, and
    ``NvmlCallError`` when NVML cannot even list its GPUs.
    """
    module = _torch_for(requested, torch)
    uuids = _torch_uuids(module, requested) if module is not None else None
    if uuids is not None:
        return _through_torch(api, uuids)
    return _through_environment(api, requested)
