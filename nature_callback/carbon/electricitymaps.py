"""Electricity Maps API v3: ``carbon-intensity/latest`` and ``/history`` by zone or lat/lon."""

from __future__ import annotations

from typing import Any

from nature_callback.carbon.base import CarbonIntensity, is_finite_number
from nature_callback.carbon.countries import country_of_zone
from nature_callback.carbon.credentials import secret_from
from nature_callback.carbon.http import HttpConfig
from nature_callback.carbon.live import LiveProvider
from nature_callback.carbon.location import resolve_location
from nature_callback.carbon.payload import field, intensity_field, timestamp_field
from nature_callback.exceptions import ConfigurationError

DEFAULT_BASE_URL = "https://api.electricitymap.org"
ENV_TOKEN = "ELECTRICITYMAPS_API_KEY"
"""Environment variable read when ``token`` is not given."""
EMISSION_FACTOR_TYPES = ("lifecycle", "direct")
"""The values of ``emissionFactorType`` put into source labels (anything else is dropped)."""


def _check_coordinate(name: str, value: float, limit: float) -> float:
    if not is_finite_number(value) or abs(value) > limit:
        raise ConfigurationError(f"{name}={value!r} is invalid: it must be a number in "
                                 f"[-{limit:g}, {limit:g}] degrees.")
    return float(value)


class ElectricityMaps(LiveProvider):
    """Live grid intensity from Electricity Maps (header ``auth-token``).

    Args:
        token: API key; default: the ``ELECTRICITYMAPS_API_KEY`` environment variable.
        zone: Electricity Maps zone (``DE``, ``US-CAL-CISO``); default: ``lat``/``lon`` if
            given, else the country found offline (``NATURE_COUNTRY``, time zone).
        lat, lon: coordinates instead of a zone.
        base_url: endpoint (a self-hosted mirror or a test server).
        http: timeouts, retries and size cap.
    """

    name = "electricitymaps"

    def __init__(self, token: str | None = None, zone: str | None = None, *,
                 lat: float | None = None, lon: float | None = None,
                 base_url: str = DEFAULT_BASE_URL, http: HttpConfig | None = None) -> None:
        self._token = secret_from(token, ENV_TOKEN, "token")
        if (lat is None) != (lon is None):
            raise ConfigurationError("lat and lon must be given together (or neither).")
        self.lat = None if lat is None else _check_coordinate("lat", lat, 90)
        self.lon = None if lon is None else _check_coordinate("lon", lon, 180)
        if zone is None and self.lat is None:
            zone = resolve_location().country
            if zone is None:
                raise ConfigurationError(
                    "ElectricityMaps needs a location: pass zone='DE' or lat=/lon=, or set "
                    "NATURE_COUNTRY.")
        if zone is not None and (not isinstance(zone, str) or not zone.strip()):
            raise ConfigurationError(f"zone={zone!r} is invalid: use an Electricity Maps zone "
                                     "such as 'DE' or 'US-CAL-CISO'.")
        self.zone = zone.strip() if zone else None
        super().__init__(base_url, http, secrets=(self._token,))

    @property
    def country(self) -> str | None:
        """The zone's country (``US-CAL-CISO`` -> ``US``); None for coordinates."""
        return country_of_zone(self.zone)

    @property
    def location(self) -> str:
        """The zone, or ``lat,lon``."""
        return self.zone or f"{self.lat:.4f},{self.lon:.4f}"

    def _query(self) -> dict[str, Any]:
        if self.zone:
            return {"zone": self.zone}
        return {"lat": self.lat, "lon": self.lon}

    def _get(self, path: str) -> Any:
        return self.get(path, params=self._query(),
                        headers={"auth-token": self._token.reveal()})

    def _parse(self, item: object, where: str) -> CarbonIntensity:
        zone = field(item, "zone", str, where)
        factor = item.get("emissionFactorType") if isinstance(item, dict) else None
        estimated = item.get("isEstimated") if isinstance(item, dict) else None
        return CarbonIntensity(
            g_per_kwh=intensity_field(item, "carbonIntensity", where),
            zone=zone,
            source=f"electricitymaps ({factor})" if factor in EMISSION_FACTOR_TYPES
            else "electricitymaps",
            is_estimated=estimated is True,
            timestamp=timestamp_field(item, "datetime", where),
            country=country_of_zone(zone),
        )

    def intensity(self) -> CarbonIntensity:
        """The latest value of the zone (``GET /v3/carbon-intensity/latest``)."""
        payload = self._get("/v3/carbon-intensity/latest")
        return self._parse(payload, f"{self.name} latest")

    def history(self) -> list[CarbonIntensity]:
        """The past 24 hours, oldest first (``GET /v3/carbon-intensity/history``)."""
        payload = self._get("/v3/carbon-intensity/history")
        items = field(payload, "history", list, f"{self.name} history")
        return [self._parse(item, f"{self.name} history[{i}]") for i, item in enumerate(items)]
