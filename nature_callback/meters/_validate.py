"""Parameter checks shared by the meters and the factory; errors name the parameter."""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence, overload

from nature_callback.exceptions import ConfigurationError

GpuSelection = Literal["visible"] | Sequence[int]
"""``"visible"`` (every GPU this process can see) or visible (torch) device indices."""


def check_positive(name: str, value: Any, unit: str, hint: str = "") -> float:
    """``value`` as a float if it is a finite number > 0, else a ConfigurationError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ConfigurationError(
            f"{name}={value!r} is invalid: it must be a finite number > 0 ({unit}).{hint}"
        )
    return float(value)


def check_sample_interval_s(value: Any) -> float:
    """The GPU power-sampling period in seconds (shared by ``NvmlMeter`` and ``MeterConfig``)."""
    return check_positive("sample_interval_s", value, "seconds between GPU power samples",
                          " The default 0.1 samples at 10 Hz.")


def check_cpu_tdp_w(value: Any) -> float:
    """The TDP of one CPU package in W (shared by ``CpuEstimateMeter`` and ``MeterConfig``)."""
    return check_positive("cpu_tdp_w", value, "W, TDP of one CPU package",
                          " Look it up on the vendor's page (Intel ARK, AMD), or pass None.")


@overload
def check_gpus(gpus: Any, allow_none: Literal[False]) -> Literal["visible"] | tuple[int, ...]: ...


@overload
def check_gpus(gpus: Any, allow_none: bool) -> Literal["visible"] | tuple[int, ...] | None: ...


def check_gpus(gpus: Any, allow_none: bool) -> Literal["visible"] | tuple[int, ...] | None:
    """Normalise the ``gpus`` parameter; a list becomes a tuple of distinct indices ≥ 0."""
    if gpus is None and allow_none:
        return None
    if gpus == "visible":
        return "visible"
    if isinstance(gpus, (list, tuple)) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in gpus
    ) and len(set(gpus)) == len(gpus):
        return tuple(gpus)
    allowed = '"visible", a list of distinct visible GPU indices (e.g. [0, 1])'
    if allow_none:
        allowed += " or None (no GPU metering)"
    raise ConfigurationError(f"gpus={gpus!r} is invalid: pass {allowed}.")
