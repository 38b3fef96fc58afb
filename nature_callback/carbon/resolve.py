"""Turn the user's ``carbon=`` argument into a provider."""

from __future__ import annotations

import os

from nature_callback.carbon.base import CarbonProvider
from nature_callback.carbon.cloud import cloud_region_provider, is_cloud_spec, regions_named
from nature_callback.carbon.electricitymaps import ENV_TOKEN, ElectricityMaps
from nature_callback.carbon.fixed import Fixed
from nature_callback.carbon.location import resolve_location
from nature_callback.carbon.table import WORLD, EmbeddedTable, find_country
from nature_callback.exceptions import ConfigurationError


def resolve_provider(carbon: CarbonProvider | float | str | None = None, *,
                     ip_geolocation: bool = False) -> CarbonProvider:
    """A provider for ``carbon``.

    - a :class:`CarbonProvider`: itself;
    - a number: :class:`Fixed` g CO2e/kWh;
    - a string: the embedded table's country (ISO 3166 alpha-2 or alpha-3; an unknown code
      is a ConfigurationError naming it), or a cloud region ``"aws:eu-west-1"``,
      ``"gcp:europe-west4"``, ``"azure:westeurope"``: the grid of that region, served like
      None below (Electricity Maps for the region's zone when its key is set, else the
      embedded table of the region's country; see :mod:`nature_callback.carbon.cloud`);
    - None: the location found offline (``NATURE_COUNTRY``, then the system time zone; IP
      geolocation only if ``ip_geolocation``), served live by Electricity Maps when
      ``ELECTRICITYMAPS_API_KEY`` is set, else by the embedded table; the world average, with
      one warning, when no location is found.
    """
    if isinstance(carbon, CarbonProvider):
        return carbon
    if isinstance(carbon, bool):
        raise ConfigurationError(f"carbon={carbon!r} is invalid: pass a provider, a country "
                                 "code such as 'DE', a cloud region such as 'aws:eu-west-1', "
                                 "a number in g CO2e/kWh, or None.")
    if isinstance(carbon, (int, float)):
        return Fixed(carbon)
    if isinstance(carbon, str):
        if is_cloud_spec(carbon):
            return cloud_region_provider(carbon)
        if find_country(carbon) is None and (specs := regions_named(carbon)):
            raise ConfigurationError(
                f"carbon={carbon!r} is a cloud region name, not a country code: prefix its "
                f"provider, e.g. carbon={specs[0]!r} (matches: {', '.join(specs)}).")
        return EmbeddedTable(carbon)
    if carbon is None:
        country = resolve_location(ip_geolocation=ip_geolocation).country
        if country and os.environ.get(ENV_TOKEN):
            return ElectricityMaps(zone=country)
        return EmbeddedTable(country or WORLD)
    raise ConfigurationError(
        f"carbon={carbon!r} is invalid: pass a CarbonProvider, a country code such as 'DE', "
        "a cloud region such as 'aws:eu-west-1', a number in g CO2e/kWh, or None.")
