"""Map the GPUs this process sees (torch's device indices) to NVML's devices.

CUDA numbers the GPUs a process can see 0..n-1 after ``CUDA_VISIBLE_DEVICES``
has filtered and reordered them; NVML numbers every GPU of the machine in PCI
bus order and ignores that variable. This module translates one into the other,
with no I/O (the caller passes the environment value and NVML's device list).

Entries of ``CUDA_VISIBLE_DEVICES`` understood here:

* an integer: NVML index (NVML's PCI bus order; see ``order_may_differ``);
* ``GPU-<uuid>``, whole or any unambiguous prefix, case-insensitive;
* a PCI bus id ``[domain:]bus:device.function`` (hexadecimal), e.g. ``0000:3b:00.0``;
* a negative integer: as in CUDA, it ends the list (``-1`` hides every GPU).

Anything else (an unknown index or UUID, an ambiguous prefix, a MIG instance
``MIG-...``) raises ``ConfigurationError`` naming the entry: metering the wrong
GPU, or silently none, would be worse than stopping before training starts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

from nature_callback.exceptions import ConfigurationError


@dataclass(frozen=True)
class GpuIdentity:
    """One physical GPU as NVML enumerates it."""

    nvml_index: int
    """Index in NVML's (PCI bus) order."""
    uuid: str
    """``GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    pci_bus_id: str
    """``00000000:3B:00.0`` as NVML reports it."""
    name: str
    """Marketing name, e.g. ``NVIDIA A100-SXM4-80GB``."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class VisibleGpu:
    """A GPU by the index this process (torch) uses for it."""

    visible_index: int
    """torch's ``cuda:<visible_index>``; the meter's device key is ``gpu<visible_index>``."""
    identity: GpuIdentity
    """The NVML device behind it."""

    @property
    def device_key(self) -> str:
        """``gpu<visible_index>``."""
        return f"gpu{self.visible_index}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"visible_index": self.visible_index, "identity": self.identity.to_dict()}


_PCI_RE = re.compile(
    r"^(?:(?P<domain>[0-9a-f]{1,8}):)?(?P<bus>[0-9a-f]{1,2}):(?P<dev>[0-9a-f]{1,2})\.(?P<fn>[0-7])$"
)


def _pci_key(bus_id: str) -> tuple[int, int, int, int] | None:
    match = _PCI_RE.match(bus_id.strip().lower())
    if match is None:
        return None
    return (
        int(match["domain"] or "0", 16),
        int(match["bus"], 16),
        int(match["dev"], 16),
        int(match["fn"], 16),
    )


def _fix_hint(entry: str, gpus: Sequence[GpuIdentity]) -> str:
    known = ", ".join(f"{g.nvml_index}: {g.uuid} ({g.pci_bus_id}, {g.name})" for g in gpus) or "none"
    return (
        f"CUDA_VISIBLE_DEVICES entry {entry!r} does not name a GPU NVML knows. "
        f"NVML's GPUs: {known}. Fix CUDA_VISIBLE_DEVICES, or pass gpus=None to train "
        "without GPU metering."
    )


def _match_entry(entry: str, gpus: Sequence[GpuIdentity]) -> GpuIdentity:
    text = entry.strip()
    if text.upper().startswith("MIG-"):
        raise ConfigurationError(
            f"CUDA_VISIBLE_DEVICES entry {entry!r} is a MIG instance: NVML's energy and power "
            "readings cover the whole GPU, so a MIG slice cannot be metered on its own. "
            "Pass gpus=None to train without GPU metering."
        )
    if re.fullmatch(r"\d+", text):
        index = int(text)
        if index < len(gpus):
            return gpus[index]
        raise ConfigurationError(_fix_hint(entry, gpus))
    if text.upper().startswith("GPU-") and len(text) > 4:
        matches = [g for g in gpus if g.uuid.upper().startswith(text.upper())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ConfigurationError(
                f"CUDA_VISIBLE_DEVICES entry {entry!r} is a UUID prefix shared by "
                f"{', '.join(g.uuid for g in matches)}; give more of the UUID."
            )
        raise ConfigurationError(_fix_hint(entry, gpus))
    key = _pci_key(text)
    if key is not None:
        for gpu in gpus:
            if _pci_key(gpu.pci_bus_id) == key:
                return gpu
    raise ConfigurationError(_fix_hint(entry, gpus))


def visible_gpus(cuda_visible_devices: str | None, gpus: Sequence[GpuIdentity]) -> list[GpuIdentity]:
    """NVML devices in the order this process numbers them (index i is torch's ``cuda:i``)."""
    if cuda_visible_devices is None:
        return list(gpus)
    visible: list[GpuIdentity] = []
    if not cuda_visible_devices.strip():
        return visible
    for entry in cuda_visible_devices.split(","):
        if re.fullmatch(r"\s*-\d+\s*", entry):
            break
        gpu = _match_entry(entry, gpus)
        if gpu in visible:
            raise ConfigurationError(
                f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} names GPU {gpu.uuid} twice; "
                "list each GPU once."
            )
        visible.append(gpu)
    return visible


def select_gpus(
    requested: Literal["visible"] | Sequence[int], visible: Sequence[GpuIdentity]
) -> list[VisibleGpu]:
    """The requested visible indices (or all of them) with their NVML devices."""
    if requested == "visible":
        return [VisibleGpu(i, gpu) for i, gpu in enumerate(visible)]
    selected = []
    for index in requested:
        if not 0 <= index < len(visible):
            raise ConfigurationError(
                f"gpus={list(requested)!r} is invalid: this process sees {len(visible)} GPU(s) "
                f"(visible indices 0..{len(visible) - 1}), so GPU {index} does not exist. "
                "Check CUDA_VISIBLE_DEVICES or pass gpus='visible'."
            )
        selected.append(VisibleGpu(index, visible[index]))
    return selected


def order_may_differ(
    cuda_device_order: str | None, cuda_visible_devices: str | None, gpus: Sequence[GpuIdentity]
) -> bool:
    """True when integer GPU indices may mean other GPUs to CUDA than to NVML.

    CUDA numbers GPUs fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; NVML
    uses PCI bus order. With GPUs of one model the two orders agree, with mixed
    models they may not. UUIDs and PCI bus ids are unambiguous.
    """
    if (cuda_device_order or "").strip().upper() == "PCI_BUS_ID":
        return False
    if cuda_visible_devices is not None and not any(
        re.fullmatch(r"\s*\d+\s*", entry) for entry in cuda_visible_devices.split(",")
    ):
        return False
    return len({g.name for g in gpus}) > 1
