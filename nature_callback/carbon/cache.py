"""Last known live intensities: in memory with a TTL, and on disk for restarts and offline runs.

The disk file (``carbon_intensity.json`` in the user cache folder, or ``NATURE_CACHE_DIR``)
maps a provider's cache key (service, endpoint, location: never a credential) to its last
good value and the time it was fetched. It is written atomically (``atomic_write_json``: temp
file + ``os.replace``), so concurrent ranks or a crash never leave a torn file. It is read
with the checks of a live payload (another tool, a user or a disk fault may have changed
it): an invalid entry, or a fetch time in the future, is dropped with one CarbonWarning.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nature_callback.carbon.base import CarbonIntensity, check_seconds
from nature_callback.carbon.payload import (
    field,
    intensity_field,
    optional_field,
    parse_json,
    percent_field,
    timestamp_field,
)
from nature_callback.exceptions import CarbonError, CarbonWarning
from nature_callback.files import atomic_write_json

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "NATURE_CACHE_DIR"
"""Environment variable overriding the cache folder."""
CACHE_FILE = "carbon_intensity.json"
DEFAULT_TTL_S = 15 * 60.0
"""A live value is reused for 15 minutes (the project's default: the GB API works in
half-hour slots, Electricity Maps in hourly or finer ones, WattTime in 5-minute ones)."""
FORMAT_VERSION = 1
MAX_CLOCK_SKEW_S = 300.0
"""How far in the future a cached fetch time may lie: 5 minutes (Kerberos' default clock
tolerance) covers hosts sharing a cache folder and NTP steps; an entry further ahead would
count as fresh until the clock caught up (a year, for a year), so it is dropped."""
MAX_PROBLEMS_LISTED = 5
"""Invalid entries named one by one in the warning; the rest are counted."""


def cache_directory(directory: str | os.PathLike[str] | None = None) -> Path:
    """``directory``, else ``NATURE_CACHE_DIR``, else the platform's user cache folder."""
    chosen = directory or os.environ.get(ENV_CACHE_DIR)
    if not chosen:
        import platformdirs  # only where the platform's folder is needed

        chosen = platformdirs.user_cache_dir("nature-callback")
    return Path(chosen)


@dataclass(frozen=True)
class CachedIntensity:
    """A value and when it was fetched."""

    intensity: CarbonIntensity
    """The value as the provider returned it."""
    fetched_at: float
    """Wall-clock time of the fetch (seconds since the epoch)."""

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the fetch."""
        return (time.time() if now is None else now) - self.fetched_at

    def as_stale(self, why: str) -> CarbonIntensity:
        """The value marked stale, its source saying when it was fetched and ``why``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.fetched_at))
        return replace(self.intensity, is_stale=True,
                       source=f"{self.intensity.source}; stale, fetched {when}, {why}")

    def to_dict(self) -> dict[str, Any]:
        """JSON view (the disk format of one entry)."""
        return {"intensity": self.intensity.to_dict(), "fetched_at": self.fetched_at}

    @classmethod
    def from_dict(cls, data: object, where: str, now: float) -> "CachedIntensity":
        """Inverse of :meth:`to_dict`, checked like a live payload (a plausible g/kWh, typed
        fields, ISO 8601 times, a fetch time not after ``now`` + MAX_CLOCK_SKEW_S); raises a
        CarbonError naming ``where`` and the fault."""
        fetched_at = field(data, "fetched_at", (int, float), where)
        if not math.isfinite(fetched_at):
            raise CarbonError(f"{where}: 'fetched_at'={fetched_at!r} is not a finite time.")
        if fetched_at > now + MAX_CLOCK_SKEW_S:
            raise CarbonError(f"{where}: 'fetched_at' is {fetched_at - now:.0f} s in the future "
                              f"(more than the {MAX_CLOCK_SKEW_S:g} s of clock skew allowed).")
        raw = field(data, "intensity", dict, where)
        intensity = CarbonIntensity(
            g_per_kwh=intensity_field(raw, "g_per_kwh", where),
            zone=field(raw, "zone", str, where),
            source=field(raw, "source", str, where),
            is_estimated=optional_field(raw, "is_estimated", bool, where) is True,
            is_stale=optional_field(raw, "is_stale", bool, where) is True,
            timestamp=timestamp_field(raw, "timestamp", where),
            country=optional_field(raw, "country", str, where),
            signal_index_percent=None if raw.get("signal_index_percent") is None
            else percent_field(raw, "signal_index_percent", where),
        )
        return cls(intensity, float(fetched_at))


class IntensityCache:
    """In-memory TTL cache backed by a JSON file; thread-safe.

    Args:
        directory: cache folder; default ``NATURE_CACHE_DIR`` or the user cache folder.
        ttl_s: how long a value counts as fresh.
        disk: False keeps everything in memory (nothing is written).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *,
                 ttl_s: float = DEFAULT_TTL_S, disk: bool = True) -> None:
        self.ttl_s = check_seconds("ttl_s", ttl_s)
        self.path = cache_directory(directory) / CACHE_FILE if disk else None
        self._memory: dict[str, CachedIntensity] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def is_fresh(self, entry: CachedIntensity, now: float | None = None) -> bool:
        """Whether ``entry`` is younger than the TTL."""
        return entry.age_s(now) < self.ttl_s

    def get(self, key: str) -> CachedIntensity | None:
        """The last value stored under ``key`` (memory, else disk), fresh or not."""
        with self._lock:
            self._load_disk()
            return self._memory.get(key)

    def put(self, key: str, intensity: CarbonIntensity, fetched_at: float | None = None) -> None:
        """Remember ``intensity`` under ``key`` and write the file (errors only logged)."""
        entry = CachedIntensity(intensity, time.time() if fetched_at is None else fetched_at)
        with self._lock:
            self._load_disk()
            self._memory[key] = entry
            self._write_disk()

    def _load_disk(self) -> None:
        """Merge the valid entries of the file into memory; one CarbonWarning lists the rest."""
        if self._loaded or self.path is None:
            return
        self._loaded = True
        problems: list[str] = []
        try:
            entries = _read_entries(self.path)
        except CarbonError as err:
            problems.append(str(err))
            entries = {}
        now = time.time()
        for key, raw in entries.items():
            try:
                self._memory.setdefault(key, CachedIntensity.from_dict(raw, f"entry {key!r}",
                                                                       now))
            except CarbonError as err:
                problems.append(str(err))
        if problems:
            listed = " ".join(problems[:MAX_PROBLEMS_LISTED])
            more = len(problems) - MAX_PROBLEMS_LISTED
            warnings.warn(
                f"Ignoring invalid data in the carbon cache {self.path}: {listed}"
                f"{f' (and {more} more)' if more > 0 else ''} The next live lookup rewrites "
                "the file; deleting it is safe.", CarbonWarning, stacklevel=2)

    def _write_disk(self) -> None:
        if self.path is None:
            return
        payload = {"version": FORMAT_VERSION,
                   "entries": {key: entry.to_dict() for key, entry in self._memory.items()}}
        try:
            atomic_write_json(self.path, payload)
        except OSError as err:
            log.warning("Could not write the carbon cache %s (%s); values stay in memory.",
                        self.path, err)


def _read_entries(path: Path) -> dict[str, Any]:
    """The raw entries of the cache file: {} if it is absent or of another format version;
    a CarbonError saying what is wrong with it otherwise."""
    try:
        data = parse_json(path.read_bytes(), "the file")
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise CarbonError(f"the file cannot be read ({err.strerror or err}).") from None
    if not isinstance(data, dict):
        raise CarbonError(f"the file: expected a JSON object, got {type(data).__name__}.")
    if data.get("version") != FORMAT_VERSION:
        return {}
    entries: dict[str, Any] = field(data, "entries", dict, "the file")
    return entries


@functools.lru_cache(maxsize=8)
def _shared_cache(directory: Path) -> IntensityCache:
    return IntensityCache(directory)


def default_cache() -> IntensityCache:
    """The process-wide cache of the current cache folder (shared by every monitor)."""
    return _shared_cache(cache_directory())
