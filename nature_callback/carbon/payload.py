"""Validation of service payloads (and of the disk cache): UTF-8 JSON, expected keys, types,
finite plausible numbers."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from nature_callback.carbon.base import check_g_per_kwh
from nature_callback.exceptions import CarbonError


def parse_json(data: bytes, what: str) -> Any:
    """``data`` decoded as UTF-8 JSON (RFC 8259; a leading BOM is skipped), else a CarbonError
    naming ``what`` and the fault (never a UnicodeDecodeError or RecursionError)."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise CarbonError(
            f"{what} is not UTF-8 text (invalid byte 0x{data[err.start]:02x} at offset "
            f"{err.start}); JSON must be UTF-8.") from None
    except json.JSONDecodeError as err:
        raise CarbonError(f"malformed JSON in {what} ({err.msg} at offset {err.pos}).") from None
    except RecursionError:  # the C parser's guard against unbounded nesting
        raise CarbonError(
            f"{what} is nested too deeply to parse (over the recursion limit "
            f"{sys.getrecursionlimit()}); valid payloads nest a few levels.") from None


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


def percent_field(container: object, key: str, where: str) -> float:
    """A finite percentile in [0, 100] from ``container[key]``."""
    value = field(container, key, (int, float), where)
    if not 0 <= value <= 100:  # NaN fails this too
        raise CarbonError(f"{where}: {key}={value!r} is not a percentile in [0, 100].")
    return float(value)


def optional_field(container: object, key: str, kind: type | tuple[type, ...],
                   where: str) -> Any:
    """``container[key]`` checked like :func:`field`, or None when absent or null."""
    if not isinstance(container, dict) or container.get(key) is None:
        return None
    return field(container, key, kind, where)


def timestamp_field(container: object, key: str, where: str) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted; naive times taken as UTC) or None when absent/null."""
    value = optional_field(container, key, str, where)
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CarbonError(f"{where}: {key!r}={value[:40]!r} is not an ISO 8601 time.") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
