"""Which GPUs this process sees: ``CUDA_VISIBLE_DEVICES`` read the way CUDA reads it.

CUDA numbers the GPUs a process can see 0..n-1 after ``CUDA_VISIBLE_DEVICES`` has
filtered and reordered them; NVML numbers every GPU of the machine in PCI bus
order and ignores that variable. This module turns the variable and NVML's device
list into the GPUs behind ``cuda:0``, ``cuda:1``, ... with no I/O. The meter prefers
torch's own answer (each device's UUID, see ``_gpu_select``); this is the fallback
where torch is not in use.

The rules are CUDA's, as PyTorch mirrors them (``torch.cuda._parse_visible_devices``
and ``_transform_uuid_to_ordinals``, torch 2.x):

* unset: every GPU; empty: none;
* a list starting with ``GPU-``: UUIDs, whole or any unambiguous prefix; a list
  starting with ``MIG-``: MIG instances; otherwise integers read like C's ``strtoul``
  (``"1gpu2,2"`` is ``1,2``);
* the first entry that cannot be read ends the list (``"0,1,"`` is ``0,1``; ``-1``
  hides every GPU; an unknown or ambiguous UUID, an index past the last GPU, an
  entry of the other kind); a GPU named twice makes the list empty.

Nothing here raises: CUDA itself starts with such a list, so training does too.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence, Union

from nature_callback.exceptions import ConfigurationError

UUID_PREFIX = "GPU-"
"""NVML's UUID of a whole GPU: ``GPU-`` + the CUDA UUID (``nvidia-smi -L`` prints both)."""
MIG_PREFIX = "MIG-"
"""NVML's UUID of a MIG instance (R470+; older drivers: ``MIG-GPU-<uuid>/<gi>/<ci>``)."""


@dataclass(frozen=True)
class GpuIdentity:
    """One physical GPU as NVML enumerates it."""

    nvml_index: int
    """Index in NVML's (PCI bus) order; -1 where NVML did not say."""
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
class RefusedGpu:
    """A GPU NVML counts but cannot open (``NO_PERMISSION`` under device cgroups, ...)."""

    nvml_index: int
    reason: str


@dataclass(frozen=True)
class MigSlice:
    """A MIG instance named in ``CUDA_VISIBLE_DEVICES`` (or by torch)."""

    uuid: str


VisibleDevice = Union[GpuIdentity, RefusedGpu, MigSlice]
"""What stands behind one ``cuda:<i>``."""


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


@dataclass(frozen=True)
class VisibleSpec:
    """``CUDA_VISIBLE_DEVICES`` parsed: what kind of entries, which ones, where it stopped."""

    kind: Literal["all", "index", "uuid", "mig"]
    entries: tuple[int, ...] | tuple[str, ...] = ()
    ended_at: str | None = None
    """A non-empty entry that ended the list early (worth telling the user); None otherwise."""


def _strtoul(text: str) -> int:
    """The integer ``text`` starts with, or -1 (as CUDA's parser, through torch's mirror)."""
    match = re.match(r"[+-]?\d+", text)
    return int(match.group()) if match else -1


def _ends_quietly(entry: str) -> bool:
    """An empty entry (``"0,1,"``) or a negative index (``-1``) ends the list on purpose."""
    return re.fullmatch(r"\s*(-\d.*)?", entry) is not None


def parse_visible_devices(value: str | None) -> VisibleSpec:
    """``CUDA_VISIBLE_DEVICES`` as CUDA reads it (see the module docstring)."""
    if value is None:
        return VisibleSpec("all")
    named: tuple[tuple[str, Literal["uuid", "mig"]], ...] = ((UUID_PREFIX, "uuid"),
                                                            (MIG_PREFIX, "mig"))
    for prefix, kind in named:
        if value.startswith(prefix):
            names: list[str] = []
            ended_at = None
            for entry in value.split(","):
                if entry in names:
                    return VisibleSpec(kind, ())
                if not entry.startswith(prefix):
                    ended_at = None if _ends_quietly(entry) else entry
                    break
                names.append(entry)
            return VisibleSpec(kind, tuple(names), ended_at)
    indices: list[int] = []
    ended_at = None
    for entry in value.split(","):
        index = _strtoul(entry.strip())
        if index in indices:
            return VisibleSpec("index", ())
        if index < 0:
            ended_at = None if _ends_quietly(entry) else entry
            break
        indices.append(index)
    return VisibleSpec("index", tuple(indices), ended_at)


def _match_uuid(candidate: str, gpus: Sequence[GpuIdentity]) -> GpuIdentity | None:
    """The one GPU whose UUID starts with ``candidate``; None if none or several."""
    matches = [g for g in gpus if g.uuid.startswith(candidate)]
    return matches[0] if len(matches) == 1 else None


def resolve_visible(spec: VisibleSpec, devices: Sequence[GpuIdentity | RefusedGpu]
                    ) -> tuple[list[VisibleDevice], str | None]:
    """The devices behind ``cuda:0``, ``cuda:1``, ... and the entry that ended the list early.

    ``devices`` is NVML's list in NVML order, refused GPUs included. Unset: the GPUs NVML
    can open (a GPU refused through device cgroups is hidden from CUDA as well); integers
    name NVML positions, a refused GPU kept at its place (the user named it).
    """
    if spec.kind == "all":
        return [d for d in devices if isinstance(d, GpuIdentity)], None
    if spec.kind == "mig":
        return [MigSlice(str(entry)) for entry in spec.entries], spec.ended_at
    visible: list[VisibleDevice] = []
    if spec.kind == "index":
        for index in spec.entries:
            if int(index) >= len(devices):
                return visible, str(index)
            visible.append(devices[int(index)])
        return visible, spec.ended_at
    known = [d for d in devices if isinstance(d, GpuIdentity)]
    for candidate in spec.entries:
        gpu = _match_uuid(str(candidate), known)
        if gpu is None:
            return visible, str(candidate)
        if gpu in visible:
            return [], None
        visible.append(gpu)
    return visible, spec.ended_at


def visible_gpus(cuda_visible_devices: str | None,
                 devices: Sequence[GpuIdentity | RefusedGpu]) -> list[VisibleDevice]:
    """The devices this process numbers 0..n-1 (index i is torch's ``cuda:i``)."""
    return resolve_visible(parse_visible_devices(cuda_visible_devices), devices)[0]


def check_requested(requested: Literal["visible"] | Sequence[int], count: int) -> list[int]:
    """The visible indices asked for; an index this process does not see is a
    ``ConfigurationError`` (the caller asked for a GPU that does not exist)."""
    if requested == "visible":
        return list(range(count))
    missing = [index for index in requested if not 0 <= index < count]
    if missing:
        raise ConfigurationError(
            f"gpus={list(requested)!r} is invalid: this process sees {count} GPU(s) "
            f"(visible indices 0..{count - 1}), so GPU {missing[0]} does not exist. "
            "Check CUDA_VISIBLE_DEVICES or pass gpus='visible'."
        )
    return list(requested)


def select_gpus(requested: Literal["visible"] | Sequence[int],
                visible: Sequence[VisibleDevice]) -> list[tuple[int, VisibleDevice]]:
    """The requested visible indices (or all of them) with the device behind each."""
    return [(index, visible[index]) for index in check_requested(requested, len(visible))]


def order_may_differ(cuda_device_order: str | None, spec: VisibleSpec,
                     gpus: Sequence[GpuIdentity]) -> bool:
    """True when integer GPU indices may mean other GPUs to CUDA than to NVML.

    CUDA numbers GPUs fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; NVML
    uses PCI bus order. With GPUs of one model the two orders agree, with mixed
    models they may not. UUIDs are unambiguous.
    """
    if (cuda_device_order or "").strip().upper() == "PCI_BUS_ID":
        return False
    if spec.kind not in ("all", "index"):
        return False
    return len({g.name for g in gpus}) > 1
