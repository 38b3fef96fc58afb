"""Where the training runs: an explicit country, the environment, the time zone, or IP.

Order (offline and private unless IP geolocation is asked for):
explicit parameter -> ``NATURE_COUNTRY`` -> [IP geolocation, only when asked for] ->
system time zone mapped to a country -> the world average, with one :class:`CarbonWarning`
that says how to set it.

The time zone -> country map is IANA's ``zone.tab`` (one country per zone) plus the
alias links (``L target alias``) of ``tzdata.zi``, read from the ``tzdata`` Python package
when it is installed, else from the system's ``/usr/share/zoneinfo``.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from nature_callback.carbon.countries import find_country, require_country
from nature_callback.carbon.http import HttpConfig, JsonClient
from nature_callback.exceptions import CarbonError, CarbonWarning

ENV_COUNTRY = "NATURE_COUNTRY"
"""Environment variable with the ISO 3166 alpha-2 code of the grid the training draws from."""

SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")
"""Where Linux and macOS keep the IANA time zone database."""

LocationSource = Literal["parameter", "environment", "timezone", "ip", "none"]


@dataclass(frozen=True)
class Location:
    """A resolved country and how it was found."""

    country: str | None
    """ISO alpha-2 code of the embedded table, or None (world average)."""
    source: LocationSource
    """parameter, environment, timezone, ip, or none."""
    detail: str
    """What was read: the variable, the zone name, the IP service, ..."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def _read_tz_file(name: str) -> str | None:
    from importlib import resources  # only when a time zone is first mapped

    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    try:
        return (SYSTEM_ZONEINFO / name).read_text("utf-8")
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone (and alias) -> alpha-2 country, from zone.tab and tzdata.zi links."""
    mapping: dict[str, str] = {}
    for line in (_read_tz_file("zone.tab") or "").splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                mapping[parts[2]] = parts[0]
    for line in (_read_tz_file("tzdata.zi") or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L" and parts[1] in mapping:
            mapping.setdefault(parts[2], mapping[parts[1]])
    return mapping


def country_from_timezone(zone_name: str | None) -> str | None:
    """The country of an IANA zone name (``Europe/Berlin`` -> ``DE``); None for UTC and unknowns."""
    if not zone_name:
        return None
    return _zone_countries().get(zone_name.strip().lstrip(":"))


def system_timezone(etc: Path = Path("/etc")) -> str | None:
    """The system's IANA zone: ``TZ``, then ``/etc/timezone``, then the ``/etc/localtime`` link."""
    from_env = os.environ.get("TZ", "").strip().lstrip(":")
    if from_env:
        return from_env
    try:
        name = (etc / "timezone").read_text("utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink(etc / "localtime")
    except OSError:
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


_warned_world = False


def _warn_world_once(reason: str) -> None:
    global _warned_world
    if not _warned_world:
        _warned_world = True
        warnings.warn(
            f"Grid location unknown ({reason}): carbon uses the world average. Set it with "
            f"NatureCallback(carbon='DE') (an ISO 3166 country code), the environment variable "
            f"{ENV_COUNTRY}=DE, or a live provider such as ElectricityMaps(zone='DE').",
            CarbonWarning,
            stacklevel=3,
        )


def resolve_location(country: str | None = None, *, ip_geolocation: bool = False,
                     ip_url: str = "https://ipinfo.io/json", ip_timeout_s: float = 1.0) -> Location:
    """Find the grid's country: parameter, ``NATURE_COUNTRY``, [IP], time zone, else none.

    Codes are checked against the embedded table (a ConfigurationError names the bad one).
    IP geolocation is tried only when ``ip_geolocation`` is True, with its own timeout; when
    it fails the time zone is used.
    """
    if country is not None:
        return Location(require_country(country, "country").iso_alpha2, "parameter", "country=")
    from_env = os.environ.get(ENV_COUNTRY, "").strip()
    if from_env:
        return Location(require_country(from_env, ENV_COUNTRY).iso_alpha2, "environment",
                        ENV_COUNTRY)
    ip_failure = ""
    if ip_geolocation:
        try:
            return Location(locate_by_ip(ip_url, ip_timeout_s), "ip", ip_url)
        except CarbonError as err:
            ip_failure = f"IP geolocation failed: {err}; "
    zone_name = system_timezone()
    from_zone = country_from_timezone(zone_name)
    if from_zone:
        return Location(from_zone, "timezone", zone_name or "")
    _warn_world_once(f"{ip_failure}no {ENV_COUNTRY} and time zone {zone_name or 'unset'!r} "
                     "names no country")
    return Location(None, "none", zone_name or "")


def locate_by_ip(url: str = "https://ipinfo.io/json", timeout_s: float = 1.0) -> str:
    """The country of this machine's public IP from a JSON service (keys ``country`` or
    ``country_code``); raises CarbonError on any failure. Only called when asked for."""
    client = JsonClient(HttpConfig(connect_timeout_s=timeout_s, read_timeout_s=timeout_s,
                                   max_retries=0), service="ip-geolocation")
    try:
        payload = client.get_json(url)
    finally:
        client.close()
    code = None
    if isinstance(payload, dict):
        code = payload.get("country") or payload.get("country_code")
    row = find_country(code) if isinstance(code, str) else None
    if row is None:
        raise CarbonError(f"ip-geolocation: {url} returned no known country code ({code!r}).")
    return row.iso_alpha2
