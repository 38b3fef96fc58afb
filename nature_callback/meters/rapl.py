"""CPU package and DRAM energy from RAPL counters under /sys/class/powercap.

Zones read (Intel, and AMD Zen on Linux ≥ 5.8/5.11, which expose RAPL through
the same ``intel-rapl`` powercap tree):

* a top-level zone named ``package-N`` (or ``package-N-die-M``) → device
  ``cpuN`` (``cpuN-dieM``), kind ``cpu``;
* a ``dram`` subzone of such a package → ``dramN``, kind ``dram`` (a top-level
  ``dram`` zone, seen on some servers, → ``dram<zone index>``).

Zones skipped, and why:

* ``core`` / ``uncore`` (and any other) subzones: they are parts of their
  package, which is already counted;
* ``psys`` (platform): it contains the packages, counting both would double count;
* an ``intel-rapl-mmio:N`` zone whose package is also exposed through the MSR
  interface (``intel-rapl:N`` with the same ``package-N`` name): the same
  hardware counter seen twice. The rule: the MSR zone wins; an MMIO zone counts
  only for a package no MSR zone exposes.

Counters (``energy_uj``, µJ) wrap at ``max_energy_range_uj``; a background thread
reads every zone every ``poll_interval_s`` (10 s) so that at most one wrap
happens between two readings: the smallest range seen in practice (about 65.5 kJ,
a 32-bit counter in 15.3 µJ units on AMD) lasts over 180 s even at 360 W.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nature_callback.exceptions import MeterError
from nature_callback.meters._channels import Channel, ChannelMeter
from nature_callback.meters._device import DeviceState
from nature_callback.meters._validate import check_positive
from nature_callback.meters.base import DeviceKind
from nature_callback.meters.cpu_tdp import cpu_model_name

POWERCAP_ROOT_ENV = "NATURE_POWERCAP_ROOT"
"""Environment variable that points the RAPL meter at another powercap tree."""

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
"""Where Linux exposes the powercap (RAPL) zones."""

POLLER_THREAD_NAME = "nature-rapl-poller"
"""Name of the wrap-around polling thread."""

_ZONE_RE = re.compile(r"^(?P<control>intel-rapl(?:-mmio)?):(?P<index>\d+(?::\d+)?)$")
_PACKAGE_RE = re.compile(r"^package-(?P<package>\d+)(?:-die-(?P<die>\d+))?$")

RaplStatus = Literal["ok", "absent", "denied", "unreadable"]
"""``ok``: counters readable; ``absent``: no RAPL package zone; ``denied``: permission
denied (root-only since the CVE-2020-8694 fix); ``unreadable``: another read error."""


def resolve_powercap_root(powercap_root: str | Path | None) -> Path:
    """``powercap_root``, else ``$NATURE_POWERCAP_ROOT``, else ``/sys/class/powercap``."""
    if powercap_root is not None:
        return Path(powercap_root)
    return Path(os.environ.get(POWERCAP_ROOT_ENV) or DEFAULT_POWERCAP_ROOT)


class RaplReadError(MeterError):
    """A RAPL file could not be read; ``kind`` is ``permission`` or ``read_error``."""

    def __init__(self, path: Path, err: Exception) -> None:
        self.path = path
        self.kind = "permission" if isinstance(err, PermissionError) else "read_error"
        super().__init__(f"cannot read {path}: {err}")


def _read_int(path: Path) -> int:
    """The integer in a sysfs file; every OSError/ValueError becomes ``RaplReadError``."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as err:
        raise RaplReadError(path, err) from err


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone this meter counts."""

    zone_id: str
    """``intel-rapl:0``, ``intel-rapl:0:2``, ``intel-rapl-mmio:0``."""
    path: Path
    """The zone's directory."""
    name: str
    """Its ``name`` file: ``package-0``, ``dram``, ..."""
    device: str
    """Device key: ``cpu0``, ``dram0``, ``cpu0-die1``."""
    kind: DeviceKind
    """``cpu`` or ``dram``."""
    max_energy_range_uj: int
    """Where ``energy_uj`` wraps to 0; 0 when the file is missing or unreadable."""

    @property
    def energy_path(self) -> Path:
        """The ``energy_uj`` counter file."""
        return self.path / "energy_uj"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"zone_id": self.zone_id, "path": str(self.path), "name": self.name,
                "device": self.device, "kind": self.kind,
                "max_energy_range_uj": self.max_energy_range_uj}


@dataclass(frozen=True)
class RaplProbe:
    """What RAPL offers under a powercap root, and whether it can be read."""

    root: Path
    """The powercap directory looked at."""
    status: RaplStatus
    """ok, absent, denied or unreadable."""
    zones: tuple[RaplZone, ...] = ()
    """Zones that would be counted."""
    skipped: tuple[str, ...] = ()
    """Zones left out, each with the reason."""
    message: str = ""
    """What is wrong and how to fix it; empty when ``status`` is ok."""

    @property
    def readable(self) -> bool:
        """True when every counted zone could be read."""
        return self.status == "ok"

    @property
    def has_dram(self) -> bool:
        """True when a DRAM zone is counted."""
        return any(zone.kind == "dram" for zone in self.zones)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"root": str(self.root), "status": self.status,
                "zones": [z.to_dict() for z in self.zones], "skipped": list(self.skipped),
                "message": self.message}


def rapl_permission_help(root: Path, paths: list[Path]) -> str:
    """The message for unreadable RAPL counters: why, and exactly how to grant access."""
    files = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    return (
        f"cannot read the RAPL energy counters ({files}): permission denied. Since Linux 5.10 "
        "(and distribution backports of the fix for CVE-2020-8694, the 'Platypus' power side "
        "channel) energy_uj is readable by root only. CPU and DRAM energy are ESTIMATED "
        "instead. To measure them, grant read access:\n"
        f"  * now, until the next reboot: sudo chmod a+r {root}/intel-rapl*:*/energy_uj\n"
        "  * from the next boot on, a udev rule in /etc/udev/rules.d/99-rapl-read.rules:\n"
        '      ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl*:*", '
        'RUN+="/bin/chmod a+r /sys%p/energy_uj"\n'
        "  * or run as root.\n"
        "Read access re-opens that side channel to local users; on a shared machine prefer a "
        "group (chgrp <group> + chmod g+r instead of a+r) holding only the users who need it."
    )


@dataclass
class _Candidate:
    zone_id: str
    control: str
    indices: tuple[int, ...]
    path: Path
    name: str = ""
    error: str = ""


def _candidates(root: Path) -> list[_Candidate]:
    """Every intel-rapl / intel-rapl-mmio zone directory, top level and nested, once each."""
    found: dict[str, _Candidate] = {}

    def add(path: Path) -> None:
        match = _ZONE_RE.match(path.name)
        if match is None or path.name in found or not path.is_dir():
            return
        indices = tuple(int(i) for i in match["index"].split(":"))
        found[path.name] = _Candidate(path.name, match["control"], indices, path)

    try:
        top = sorted(root.iterdir())
    except OSError:
        return []
    for path in top:
        add(path)
    for candidate in list(found.values()):
        try:
            for child in sorted(candidate.path.iterdir()):
                add(child)
        except OSError:
            continue
    for candidate in found.values():
        try:
            candidate.name = (candidate.path / "name").read_text().strip()
        except OSError as err:
            candidate.error = str(err)
    # MSR zones first, so that they win over MMIO duplicates.
    return sorted(found.values(), key=lambda c: (c.control != "intel-rapl", c.indices))


def _device_of(candidate: _Candidate, packages: dict[tuple[str, int], str]) -> tuple[str, DeviceKind] | str:
    """(device key, kind) for a zone to count, or the reason it is skipped."""
    name = candidate.name
    if len(candidate.indices) == 1:
        package = _PACKAGE_RE.match(name)
        if package:
            suffix = package["package"] + (f"-die{package['die']}" if package["die"] else "")
            packages[(candidate.control, candidate.indices[0])] = suffix
            return f"cpu{suffix}", "cpu"
        if name == "dram":
            return f"dram{candidate.indices[0]}", "dram"
        if name == "psys":
            return "platform (psys) domain: it contains the packages, counting it would double count"
        return f"unknown top-level domain {name!r}"
    parent = packages.get((candidate.control, candidate.indices[0]))
    if parent is None:
        return f"{name!r} is not inside a counted package"
    if name == "dram":
        return f"dram{parent}", "dram"
    return f"{name!r} is part of package {parent}, which is already counted"


def _discover(root: Path) -> tuple[list[RaplZone], list[str]]:
    zones: list[RaplZone] = []
    skipped: list[str] = []
    taken: dict[str, str] = {}
    packages: dict[tuple[str, int], str] = {}
    for candidate in _candidates(root):
        if candidate.error:
            skipped.append(f"{candidate.zone_id}: name unreadable ({candidate.error})")
            continue
        outcome = _device_of(candidate, packages)
        if isinstance(outcome, str):
            skipped.append(f"{candidate.zone_id} ({candidate.name}): {outcome}")
            continue
        device, kind = outcome
        if device in taken:
            skipped.append(
                f"{candidate.zone_id} ({candidate.name}): same domain as {taken[device]} "
                "(MSR and MMIO interfaces of one counter); counted once, through the MSR zone"
            )
            continue
        taken[device] = candidate.zone_id
        try:
            max_range_uj = _read_int(candidate.path / "max_energy_range_uj")
        except RaplReadError:
            max_range_uj = 0
        zones.append(RaplZone(candidate.zone_id, candidate.path, candidate.name, device, kind,
                              max_range_uj))
    return zones, skipped


def probe_rapl(powercap_root: str | Path | None = None) -> RaplProbe:
    """Find the RAPL zones to count under ``powercap_root`` and try to read each counter."""
    root = resolve_powercap_root(powercap_root)
    zones, skipped = _discover(root)
    if not any(zone.kind == "cpu" for zone in zones):
        return RaplProbe(root, "absent", tuple(zones), tuple(skipped),
                         f"no RAPL package zone under {root} (not Linux, no RAPL-capable CPU, "
                         "or a virtual machine/container that hides it)")
    errors: list[RaplReadError] = []
    for zone in zones:
        try:
            _read_int(zone.energy_path)
        except RaplReadError as err:
            errors.append(err)
    denied = [err.path for err in errors if err.kind == "permission"]
    if denied:
        return RaplProbe(root, "denied", tuple(zones), tuple(skipped),
                         rapl_permission_help(root, denied))
    if errors:
        return RaplProbe(root, "unreadable", tuple(zones), tuple(skipped),
                         "; ".join(str(err) for err in errors))
    return RaplProbe(root, "ok", tuple(zones), tuple(skipped))


class _RaplChannel(Channel):
    """One zone's counter, accumulated across wrap-arounds."""

    threaded = True

    def __init__(self, state: DeviceState, zone: RaplZone, meter: "RaplMeter") -> None:
        super().__init__(state)
        self.zone = zone
        self.meter = meter
        self.last_uj = _read_int(zone.energy_path)

    def update(self) -> None:
        energy_uj = _read_int(self.zone.energy_path)
        delta_uj = energy_uj - self.last_uj
        if delta_uj < 0:
            if self.zone.max_energy_range_uj > 0:
                delta_uj += self.zone.max_energy_range_uj
            else:
                self.meter.note_reset(self.state)
                delta_uj = 0
        self.last_uj = energy_uj
        self.state.energy_j += delta_uj / 1e6


class RaplMeter(ChannelMeter):
    """CPU package and DRAM energy from RAPL; device keys ``cpuN`` and ``dramN``.

    Node-level: every process of a node sees the same counters, so only one
    process per node (local rank 0) should use it. Unreadable counters give one
    ``MeterWarning`` that says how to grant access, and the zones are reported
    with ``ok=False``.
    """

    thread_name = POLLER_THREAD_NAME

    def __init__(self, powercap_root: str | Path | None = None, poll_interval_s: float = 10.0) -> None:
        super().__init__(check_positive("poll_interval_s", poll_interval_s,
                                        "seconds between wrap-around polls"))
        self.powercap_root = resolve_powercap_root(powercap_root)
        self._cpu_name = cpu_model_name() or "CPU"

    def _describe(self, zone: RaplZone) -> str:
        what = f"{self._cpu_name} {zone.name}" if zone.kind == "cpu" else f"DRAM ({zone.name})"
        return f"{what} (RAPL {zone.zone_id})"

    def _open_channels(self) -> list[Channel | DeviceState]:
        probe = probe_rapl(self.powercap_root)
        opened: list[Channel | DeviceState] = []
        for zone in probe.zones:
            state = DeviceState(zone.device, zone.kind, self._describe(zone), "measured")
            try:
                opened.append(_RaplChannel(state, zone, self))
            except RaplReadError as err:
                state.ok = False
                opened.append(state)
                if probe.status == "ok":
                    self.fail(state, err.kind, str(err))
        if probe.status != "ok":
            self._warner.note("rapl", probe.status, f"RAPL: {probe.message}")
        return opened

    def note_reset(self, state: DeviceState) -> None:
        """A counter went backwards with no known wrap range: warn once, resume from it."""
        self._warner.note(
            state.device, "counter_reset",
            f"{state.device} ({state.description}): the RAPL counter went backwards and its "
            "max_energy_range_uj is unknown; metering resumes from the new value and the energy "
            "since the previous reading is lost (the figure becomes a lower bound).",
        )
