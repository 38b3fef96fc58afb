"""Great Britain's national grid carbon-intensity API (no key; half-hour slots; forecasts).

National: ``GET /intensity`` (the current half hour, ``actual`` once measured, else
``forecast``). Regional by outward postcode: ``GET /regional/postcode/RG10`` (forecasts
only). The service reports operational CO2 of GB generation, not life-cycle CO2e.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from nature_callback.carbon.base import CarbonIntensity
from nature_callback.carbon.http import HttpConfig
from nature_callback.carbon.live import LiveProvider
from nature_callback.carbon.payload import field, intensity_field, timestamp_field
from nature_callback.exceptions import ConfigurationError

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})?$")
"""A UK postcode: outward part (``RG10``, ``SW1A``, ``M1``), then an optional inward part."""


def outward_code(postcode: str) -> str:
    """The outward code of a full or partial UK postcode (``rg10 9xx`` -> ``RG10``)."""
    match = POSTCODE.match(postcode.strip().upper()) if isinstance(postcode, str) else None
    if match is None:
        raise ConfigurationError(f"postcode={postcode!r} is invalid: give a UK postcode or its "
                                 "outward part, such as 'RG10' or 'SW1A 1AA'.")
    return match.group(1)


class UKGrid(LiveProvider):
    """Live intensity of Great Britain's grid, national or for a postcode's region.

    Args:
        postcode: UK postcode (only the outward part is sent); None: national figure.
        base_url: endpoint (a mirror or a test server).
        http: timeouts, retries and size cap.
    """

    name = "ukgrid"

    def __init__(self, postcode: str | None = None, *, base_url: str = DEFAULT_BASE_URL,
                 http: HttpConfig | None = None) -> None:
        self.postcode = None if postcode is None else outward_code(postcode)
        super().__init__(base_url, http)

    @property
    def country(self) -> str:
        """Always ``GB``."""
        return "GB"

    @property
    def location(self) -> str:
        """``GB`` or the outward postcode."""
        return self.postcode or "GB"

    def _slot(self, slot: object, where: str, region: str | None) -> CarbonIntensity:
        values = field(slot, "intensity", dict, where)
        use_actual = values.get("actual") is not None
        kind = "actual" if use_actual else "forecast"
        place = f"regional {self.postcode} ({region})" if region else "national"
        return CarbonIntensity(
            g_per_kwh=intensity_field(values, kind, where),
            zone=f"GB-{region}" if region else "GB",
            source=f"ukgrid {place}, {kind}",
            is_estimated=not use_actual,
            timestamp=timestamp_field(slot, "from", where),
            country="GB",
        )

    def _regional_slots(self, payload: object, where: str) -> tuple[str, list[object]]:
        data = field(payload, "data", (list, dict), where)
        region = data[0] if isinstance(data, list) and data else data
        name = field(region, "shortname", str, where)
        return name, field(region, "data", list, where)

    def intensity(self) -> CarbonIntensity:
        """The current half hour's intensity."""
        if self.postcode:
            where = f"{self.name} regional"
            region, slots = self._regional_slots(
                self.get(f"/regional/postcode/{self.postcode}"), where)
            return self._slot(field(slots, 0, dict, where), where, region)
        where = f"{self.name} national"
        slots = field(self.get("/intensity"), "data", list, where)
        return self._slot(field(slots, 0, dict, where), where, None)

    def forecast_24h(self, start: datetime | None = None) -> list[CarbonIntensity]:
        """Half-hour forecasts for the 24 hours from ``start`` (default: now), oldest first."""
        when = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        stamp = when.strftime("%Y-%m-%dT%H:%MZ")
        where = f"{self.name} forecast"
        if self.postcode:
            region, slots = self._regional_slots(
                self.get(f"/regional/intensity/{stamp}/fw24h/postcode/{self.postcode}"), where)
        else:
            region, slots = None, field(self.get(f"/intensity/{stamp}/fw24h"), "data", list,
                                        where)
        return [self._slot(slot, f"{where}[{i}]", region) for i, slot in enumerate(slots)]
