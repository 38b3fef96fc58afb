"""Validation of service payloads: expected keys, types, finite plausible numbers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from nature_callback.carbon.base import check_g_per_kwh
from nature_callback.exceptions import CarbonError


def field(container: object, key: str | int, kind: type | tuple[type, ...], where: str) -> Any:
    """``container[key]`` if it exists and is of ``kind``, else a CarbonError naming ``where``.

    ``bool`` never passes for a number.
    """
    try:
        value = container[key]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise CarbonError(
            f"{where}: expected {key!r} in a {type(container).__name__}, which lacks it."
        ) from None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise CarbonError(f"{where}: {key!r} should be {names}, got {type(value).__name__}.")
    return value


def intensity_field(container: object, key: str, where: str) -> float:
    """A finite g CO2e/kWh value within the plausible range, from ``container[key]``."""
    return check_g_per_kwh(field(container, key, (int, float), where), f"{where}: {key}",
                           CarbonError)


def timestamp_field(container: object, key: str, where: str) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted; naive times taken as UTC) or None when absent/null."""
    value = container.get(key) if isinstance(container, dict) else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise CarbonError(f"{where}: {key!r} should be an ISO 8601 string, got "
                          f"{type(value).__name__}.")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CarbonError(f"{where}: {key!r}={value[:40]!r} is not an ISO 8601 time.") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
