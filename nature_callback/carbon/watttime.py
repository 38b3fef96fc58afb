"""WattTime API v3: marginal operating emissions rate (MOER) of a grid region.

``GET /login`` with HTTP basic auth returns a bearer token valid 30 minutes; it is renewed
before expiry and once more on a 401. ``/v3/forecast`` (horizon 0 = now) gives the MOER in
lbs CO2/MWh, converted to g/kWh. Accounts without forecast access (HTTP 403) get only
``/v3/signal-index``, a 0-100 percentile: it is reported as such in
``CarbonIntensity.signal_index_percent``, and g/kWh then comes from the embedded table with a
source label that says so.
"""

from __future__ import annotations

import time
from typing import Any

from nature_callback.carbon.base import CarbonIntensity, check_g_per_kwh
from nature_callback.carbon.countries import country_of_zone, require_country
from nature_callback.carbon.credentials import Secret, secret_from
from nature_callback.carbon.http import HttpConfig, HttpStatusError
from nature_callback.carbon.live import LiveProvider
from nature_callback.carbon.location import resolve_location
from nature_callback.carbon.payload import field, percent_field, timestamp_field
from nature_callback.carbon.table import table_intensity
from nature_callback.exceptions import CarbonError, ConfigurationError

DEFAULT_BASE_URL = "https://api.watttime.org"
ENV_USERNAME = "WATTTIME_USERNAME"
ENV_PASSWORD = "WATTTIME_PASSWORD"

TOKEN_LIFETIME_S = 30 * 60
"""WattTime login tokens expire after 30 minutes (WattTime API v3 documentation)."""
TOKEN_RENEW_MARGIN_S = 60
"""Renew this long before expiry so a token never dies mid-request."""

G_PER_KWH_PER_LB_PER_MWH = 0.45359237
"""1 lb = 453.59237 g exactly (international avoirdupois pound, 1959); /1000 for MWh -> kWh."""
UNIT_TO_G_PER_KWH = {"lbs_co2_per_mwh": G_PER_KWH_PER_LB_PER_MWH, "kg_co2_per_mwh": 1.0,
                     "g_co2_per_kwh": 1.0}
"""Units WattTime may state in ``meta.units``, and their factor to g/kWh."""


class WattTime(LiveProvider):
    """Live marginal intensity of a WattTime region (``CAISO_NORTH``, ``PJM_DC``, ``DE``, ...).

    Args:
        username, password: WattTime account; default ``WATTTIME_USERNAME`` /
            ``WATTTIME_PASSWORD``.
        region: WattTime region; default: looked up from ``lat``/``lon`` on first use.
        lat, lon: coordinates, used when ``region`` is None.
        country: ISO alpha-2 code for the embedded-table fallback (and the loss term) when the
            region does not name one; default: the region's country if it is a code, else the
            location found offline.
        base_url: endpoint (a mirror or a test server).
        http: timeouts, retries and size cap.
    """

    name = "watttime"

    def __init__(self, username: str | None = None, password: str | None = None,
                 region: str | None = None, *, lat: float | None = None,
                 lon: float | None = None, country: str | None = None,
                 signal_type: str = "co2_moer", base_url: str = DEFAULT_BASE_URL,
                 http: HttpConfig | None = None) -> None:
        self._username = secret_from(username, ENV_USERNAME, "username")
        self._password = secret_from(password, ENV_PASSWORD, "password")
        if region is None and (lat is None or lon is None):
            raise ConfigurationError("WattTime needs region='CAISO_NORTH' (or lat= and lon=).")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise ConfigurationError(f"region={region!r} is invalid: use a WattTime region "
                                     "such as 'CAISO_NORTH'.")
        self.region = region.strip() if region else None
        self.lat, self.lon = lat, lon
        self.signal_type = signal_type
        if country is None:
            country = country_of_zone(self.region)
        if country is None:
            country = resolve_location().country
        self._country = require_country(country).iso_alpha2 if country else None
        self._token: Secret | None = None
        self._token_expires = 0.0
        super().__init__(base_url, http, secrets=(self._username, self._password))

    @property
    def country(self) -> str | None:
        """Country of the embedded-table fallback."""
        return self._country

    @property
    def location(self) -> str:
        """The region, or ``lat,lon`` until it is looked up."""
        return self.region or f"{self.lat},{self.lon}"

    def _login(self) -> None:
        try:
            payload = self.get("/login", auth=(self._username.reveal(), self._password.reveal()))
        except HttpStatusError as err:  # not a status of the data request (403 = no access)
            raise CarbonError(f"login failed: {err}") from err
        token = field(payload, "token", str, f"{self.name} login")
        self._token = Secret(token)
        self._token_expires = time.monotonic() + TOKEN_LIFETIME_S - TOKEN_RENEW_MARGIN_S
        self._client.secrets = (self._username, self._password, self._token)

    def _authorized(self, path: str, params: dict[str, Any]) -> Any:
        """GET with the bearer token; log in first or again when it expired or got a 401."""
        for attempt in range(2):
            if self._token is None or time.monotonic() >= self._token_expires:
                self._login()
            assert self._token is not None
            try:
                return self.get(path, params=params,
                                headers={"Authorization": f"Bearer {self._token.reveal()}"})
            except HttpStatusError as err:
                if err.status != 401 or attempt == 1:
                    raise
                self._token = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _region(self) -> str:
        if self.region is None:
            payload = self._authorized("/v3/region-from-loc", {
                "latitude": self.lat, "longitude": self.lon, "signal_type": self.signal_type})
            self.region = field(payload, "region", str, f"{self.name} region-from-loc")
        return self.region

    def _latest_point(self, path: str, params: dict[str, Any]) -> tuple[dict, str, str]:
        where = f"{self.name} {path}"
        payload = self._authorized(path, params)
        point = field(field(payload, "data", list, where), 0, dict, where)
        units = field(field(payload, "meta", dict, where), "units", str, where)
        return point, units, where

    def intensity(self) -> CarbonIntensity:
        """The current MOER (``/v3/forecast``, horizon 0), or the percentile index when the
        account has no forecast access."""
        region = self._region()
        try:
            point, units, where = self._latest_point("/v3/forecast", {
                "region": region, "signal_type": self.signal_type, "horizon_hours": 0})
        except HttpStatusError as err:
            if err.status != 403:
                raise
            return self._signal_index(region)
        factor = UNIT_TO_G_PER_KWH.get(units)
        if factor is None:
            raise CarbonError(f"{where}: unknown units {units!r} (expected one of "
                              f"{sorted(UNIT_TO_G_PER_KWH)}).")
        value = field(point, "value", (int, float), where)
        return CarbonIntensity(
            g_per_kwh=check_g_per_kwh(value * factor, f"{where}: value", CarbonError),
            zone=region,
            source=f"watttime {self.signal_type} (marginal, {units} converted)",
            timestamp=timestamp_field(point, "point_time", where),
            country=self._country,
        )

    def _signal_index(self, region: str) -> CarbonIntensity:
        point, _, where = self._latest_point("/v3/signal-index", {
            "region": region, "signal_type": self.signal_type})
        percent = percent_field(point, "value", where)
        fallback = table_intensity(self._country)
        return CarbonIntensity(
            g_per_kwh=fallback.g_per_kwh,
            zone=region,
            source=(f"watttime signal-index {region}: {percent:g} percentile only (account "
                    f"has no MOER); g/kWh from {fallback.source}"),
            is_estimated=True,
            timestamp=timestamp_field(point, "point_time", where),
            country=self._country,
            signal_index_percent=percent,
        )
