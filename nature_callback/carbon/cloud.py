"""Cloud regions (``carbon="aws:eu-west-1"``) mapped to the grid they draw from.

The embedded table ``data/cloud_regions.csv`` gives, for each public region of AWS, Google
Cloud and Azure, its location, country (a row of the per-country table: annual intensity and
grid loss) and Electricity Maps zone, each row with its source; the file's header comment and
``docs/carbon.md`` say where the rows and their cross-checks come from.

:func:`cloud_region_provider` serves a region live through Electricity Maps when
``ELECTRICITYMAPS_API_KEY`` is set (the zone of the row, else its country), otherwise from the
embedded country table, like ``carbon=None`` does for the machine's own location. Every value's
``source`` starts with the region and how it was mapped, e.g.
``aws:eu-west-1 → IE (Dublin), embedded table IE (...)``.
"""

from __future__ import annotations

import csv
import difflib
import functools
import os
from dataclasses import asdict, dataclass, replace
from typing import Any

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.carbon.electricitymaps import DEFAULT_BASE_URL, ENV_TOKEN, ElectricityMaps
from nature_callback.carbon.http import HttpConfig
from nature_callback.carbon.table import EmbeddedTable, table_intensity
from nature_callback.exceptions import ConfigurationError

CLOUD_TABLE_RESOURCE = "data/cloud_regions.csv"
"""Path of the region table inside the ``nature_callback.carbon`` package."""

CLOUD_PROVIDERS = ("aws", "azure", "gcp")
"""The prefixes of ``carbon="provider:region"``."""

_OTHER_PARTITIONS = ("gov", "cn-", "china", "dod")
"""Substrings of region names of government and China partitions, which the table leaves out."""


@dataclass(frozen=True)
class CloudRegion:
    """One row of the cloud-region table."""

    provider: str
    """``aws``, ``azure`` or ``gcp``."""
    region: str
    """The provider's region code (``eu-west-1``, ``europe-west4``, ``westeurope``)."""
    name: str
    """The provider's display name (``Europe (Ireland)``, ``West Europe``; '' for Google)."""
    location: str
    """Where the provider places the region (city, state or country)."""
    country: str
    """ISO 3166-1 alpha-2 code of the grid's country (a row of the per-country table)."""
    electricitymaps_zone: str
    """Electricity Maps zone ('' where none is settled: the country code is asked for)."""
    source: str
    """The provider's documentation page on region locations."""
    codecarbon_country: str
    """Country CodeCarbon's ``impact.csv`` gives the region ('' where it has no row)."""
    gsf_zone: str
    """Zone the Green Software Foundation's region metadata gives ('' where none)."""
    note: str
    """Why the row differs from a cross-check, or what its zone assumes."""

    @property
    def spec(self) -> str:
        """``provider:region``, as ``carbon=`` takes it."""
        return f"{self.provider}:{self.region}"

    @property
    def zone(self) -> str:
        """The Electricity Maps zone asked for: the row's zone, else its country."""
        return self.electricitymaps_zone or self.country

    def labelled(self, value: CarbonIntensity, to: str | None = None,
                 how: str = "") -> CarbonIntensity:
        """``value`` with its source prefixed by the region and how it was mapped:
        ``aws:eu-west-1 → IE (Dublin), embedded table IE (...)``. ``to``: the zone or country
        mapped to (default: the value's zone); ``how``: a remark after the location."""
        return replace(value, source=f"{self.spec} → {to or value.zone} ({self.location})"
                                     f"{how}, {value.source}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@functools.lru_cache(maxsize=1)
def load_cloud_regions() -> dict[str, CloudRegion]:
    """Every row of the cloud-region table keyed by ``provider:region``; read once."""
    from importlib import resources  # only when the table is first needed

    text = (resources.files("nature_callback.carbon").joinpath(CLOUD_TABLE_RESOURCE)
            .read_text("utf-8"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    rows = (CloudRegion(**fields) for fields in csv.DictReader(lines))
    return {row.spec: row for row in rows}


def _normalise(provider: str, region: str) -> str:
    region = region.strip().lower()
    if provider == "azure":  # "West Europe" (the display name) is "westeurope"
        region = region.replace(" ", "")
    return region


def is_cloud_spec(text: object) -> bool:
    """True for a string of the form ``provider:region`` (it need not name a known region)."""
    return isinstance(text, str) and ":" in text


def find_cloud_region(spec: str) -> CloudRegion:
    """The row for ``"aws:eu-west-1"`` (provider in any case, surrounding whitespace ignored).

    An unknown provider is a ConfigurationError listing the known ones; an unknown region one
    listing the provider's closest region names.
    """
    if not is_cloud_spec(spec):
        raise ConfigurationError(f"carbon={spec!r} is not a cloud region: write it as "
                                 "'provider:region', e.g. 'aws:eu-west-1'.")
    prefix, _, rest = spec.strip().partition(":")
    provider = prefix.strip().lower()
    if provider not in CLOUD_PROVIDERS:
        raise ConfigurationError(
            f"carbon={spec!r}: unknown cloud provider {prefix.strip()!r}; known providers: "
            f"{', '.join(CLOUD_PROVIDERS)} (e.g. 'aws:eu-west-1', 'gcp:europe-west4', "
            "'azure:westeurope').")
    region = _normalise(provider, rest)
    table = load_cloud_regions()
    row = table.get(f"{provider}:{region}")
    if row is not None:
        return row
    names = [row.region for row in table.values() if row.provider == provider]
    close = difflib.get_close_matches(region, names, n=5, cutoff=0.6)
    hint = (f"close matches: {', '.join(f'{provider}:{name}' for name in close)}" if close
            else f"no close match among the {len(names)} {provider} regions of the table")
    partition = (" Government and China partitions are not in the table."
                 if any(part in region for part in _OTHER_PARTITIONS) else "")
    raise ConfigurationError(
        f"carbon={spec!r}: the embedded cloud-region table has no {provider} region "
        f"{region!r}; {hint}.{partition} For a region the table lacks, pass its country code "
        "(e.g. carbon='IE').")


def regions_named(text: str) -> list[str]:
    """The ``provider:region`` specs whose region is ``text`` (a bare ``carbon="eu-west-1"``)."""
    found = []
    for provider in CLOUD_PROVIDERS:
        spec = f"{provider}:{_normalise(provider, text)}"
        if spec in load_cloud_regions():
            found.append(spec)
    return found


class CloudRegionTable(EmbeddedTable):
    """The embedded country table's annual average for the country of a cloud region."""

    def __init__(self, region: CloudRegion) -> None:
        super().__init__(region.country)
        self.region = region

    def intensity(self) -> CarbonIntensity:
        """The country's annual average, its source naming the region and the mapping."""
        return self.region.labelled(super().intensity())

    def describe(self) -> dict[str, Any]:
        """Settings for the run's hyperparameters."""
        return {**super().describe(), "cloud_region": self.region.spec}

    def __repr__(self) -> str:
        return f"CloudRegionTable(region={self.region.spec!r}, country={self.region.country!r})"


class CloudRegionElectricityMaps(ElectricityMaps):
    """Electricity Maps for the zone of a cloud region (its row's zone, else its country)."""

    def __init__(self, region: CloudRegion, token: str | None = None, *,
                 base_url: str = DEFAULT_BASE_URL, http: HttpConfig | None = None) -> None:
        super().__init__(token, zone=region.zone, base_url=base_url, http=http)
        self.region = region

    @property
    def country(self) -> str | None:
        """The region's country (the embedded-table fallback and the grid-loss term)."""
        return self.region.country

    @property
    def cache_key(self) -> str:
        """Service, endpoint, zone and region (values carry the region in their source)."""
        return f"{super().cache_key}|{self.region.spec}"

    def _label(self, value: CarbonIntensity) -> CarbonIntensity:
        how = "" if self.region.electricitymaps_zone else ", country zone"
        return self.region.labelled(value, to=self.zone, how=how)

    def intensity(self) -> CarbonIntensity:
        """The zone's latest value, its source naming the region and the mapping."""
        return self._label(super().intensity())

    def history(self) -> list[CarbonIntensity]:
        """The zone's past 24 hours, each value's source naming the region."""
        return [self._label(value) for value in super().history()]

    def offline_fallback(self, note: str = "") -> CarbonIntensity:
        """The embedded table's value for the region's country, labelled with the region."""
        return self.region.labelled(table_intensity(self.region.country, note=note))

    def describe(self) -> dict[str, Any]:
        """Settings for the run's hyperparameters (no credential)."""
        return {**super().describe(), "cloud_region": self.region.spec}

    def __repr__(self) -> str:
        return (f"CloudRegionElectricityMaps(region={self.region.spec!r}, zone={self.zone!r}, "
                f"base_url={self.base_url!r})")


def cloud_region_provider(spec: str, *, base_url: str = DEFAULT_BASE_URL,
                          http: HttpConfig | None = None) -> CarbonProvider:
    """The provider for ``carbon="aws:eu-west-1"``.

    Live through Electricity Maps (``base_url``, ``http``) when ``ELECTRICITYMAPS_API_KEY`` is
    set, as for ``carbon=None``; otherwise the embedded table of the region's country.
    """
    region = find_cloud_region(spec)
    if os.environ.get(ENV_TOKEN):
        return CloudRegionElectricityMaps(region, base_url=base_url, http=http)
    return CloudRegionTable(region)
