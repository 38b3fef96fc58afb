"""The tracker's configuration: one validated dataclass shared by the tracker and every
integration. Every check happens here, at construction, and names the parameter."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from nature_callback.exceptions import ConfigurationError
from nature_callback.ledger.urls import PostgresURL, is_postgres_url

DEFAULT_PUE = 1.56
"""Uptime Institute Global Data Center Survey 2024: average annual PUE 1.56."""

MAX_PUE = 10.0
"""Upper bound accepted for the PUE. The Uptime Institute surveys report annual averages between
1.0 and about 2.5; anything near 10 is a typo (a percentage, a wrong unit)."""

MAX_N_EXP = 10**9
"""Upper bound accepted for N_exp: a billion runs, far beyond any real search."""

MAX_ENERGY_J = 3.6e15
"""Upper bound accepted for ``extra_energy_j``: 1 TWh, more than any training run on record."""

MAX_CPU_TDP_W = 2000.0
"""Upper bound for ``cpu_tdp_w``: the largest server CPUs are rated below 600 W per package."""

MAX_SAMPLE_INTERVAL_S = 60.0
"""Upper bound for ``sample_interval_s``: sampling GPU power less than once a minute says nothing."""


def _real(name: str, value: Any, hint: str) -> float:
    """``value`` as a float if it is a finite real number (numpy scalars included, bools not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{name}={value!r} is invalid: give a number. {hint}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigurationError(f"{name}={value!r} is invalid: it must be finite. {hint}")
    return number


def _in_range(name: str, value: Any, low: float, high: float, hint: str,
              low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float within [low, high] (open ends where asked), else an error."""
    number = _real(name, value, hint)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigurationError(f"{name}={value!r} is invalid: it must lie in {interval}. {hint}")
    return number


def _integer(name: str, value: Any, low: int, high: int, hint: str) -> int:
    """``value`` as an int within [low, high] (numpy integers included, bools not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigurationError(f"{name}={value!r} is invalid: give an integer. {hint}")
    number = int(value)
    if not low <= number <= high:
        raise ConfigurationError(
            f"{name}={value!r} is invalid: it must lie between {low} and {high}. {hint}")
    return number


def _path(name: str, value: Any, hint: str) -> Path:
    """A non-empty ``str`` or ``os.PathLike`` as a Path."""
    if isinstance(value, bool) or not isinstance(value, (str, Path)) and not hasattr(
            value, "__fspath__"):
        raise ConfigurationError(f"{name}={value!r} is invalid: give a path (str or Path). {hint}")
    if isinstance(value, str) and not value.strip():
        raise ConfigurationError(f"{name}={value!r} is invalid: the path is empty. {hint}")
    return Path(value)


@dataclass(frozen=True)
class NatureConfig:
    """How the NATURE metric is computed and where its records go."""

    pue: float = DEFAULT_PUE
    """Power usage effectiveness of the facility; 1.0 for a desktop, 1.56 global average."""
    grid_loss: float | None = None
    """Transmission-and-distribution loss fraction λ; None takes the grid region's figure."""
    n_exp: int | Literal["ledger"] = 1
    """Experiments behind the model, or ``"ledger"`` to count this project's recorded runs."""
    extra_energy_j: float = 0.0
    """Unmetered energy (J) added to A once, e.g. data preparation done elsewhere."""
    planned_epochs: int | None = None
    """Epochs the run is expected to take, for the forecast; None disables it."""
    project: str = "default"
    """Project name under which the run ledger groups runs (for ``n_exp="ledger"``)."""
    output_dir: Path | None = None
    """Folder of the record files; None means the current folder (the callback uses the log dir)."""
    ledger_path: Path | PostgresURL | Literal[False] | None = None
    """Run ledger: a SQLite file or a ``postgresql://`` URL (its password never written out);
    None uses $NATURE_LEDGER or the user data folder, False disables it."""
    cpu_tdp_w: float | None = None
    """CPU thermal design power for the utilisation estimate when RAPL cannot be read."""
    sample_interval_s: float = 0.1
    """Power sampling period for GPUs without an energy counter (0.1 s = 10 Hz)."""

    def __post_init__(self) -> None:
        values: dict[str, Any] = {
            "pue": _in_range("pue", self.pue, 1.0, MAX_PUE,
                             "The power usage effectiveness is facility power over IT power: "
                             "1.0 for a desktop, 1.56 for the 2024 data-centre average."),
            "grid_loss": None if self.grid_loss is None else _in_range(
                "grid_loss", self.grid_loss, 0.0, 1.0,
                "It is the fraction of generated power lost in transmission and distribution "
                "(world average about 0.069), or None for the grid region's figure.",
                high_open=True),
            "n_exp": self._n_exp(),
            "extra_energy_j": _in_range("extra_energy_j", self.extra_energy_j, 0.0, MAX_ENERGY_J,
                                        "Give unmetered energy in joules (0 for none)."),
            "planned_epochs": None if self.planned_epochs is None else _integer(
                "planned_epochs", self.planned_epochs, 1, MAX_N_EXP,
                "Give the number of epochs the run will take, or None."),
            "cpu_tdp_w": None if self.cpu_tdp_w is None else _in_range(
                "cpu_tdp_w", self.cpu_tdp_w, 0.0, MAX_CPU_TDP_W,
                "Give the TDP of one CPU package in W (Intel ARK, AMD), or None.", low_open=True),
            "sample_interval_s": _in_range(
                "sample_interval_s", self.sample_interval_s, 0.0, MAX_SAMPLE_INTERVAL_S,
                "The default 0.1 samples GPU power at 10 Hz.", low_open=True),
            "output_dir": None if self.output_dir is None else _path(
                "output_dir", self.output_dir, "Or None for the logger's folder."),
            "ledger_path": self._ledger_path(),
        }
        if not isinstance(self.project, str) or not self.project.strip():
            raise ConfigurationError(
                f"project={self.project!r} is invalid: give a non-empty name.")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _n_exp(self) -> int | Literal["ledger"]:
        if self.n_exp == "ledger":
            return "ledger"
        return _integer("n_exp", self.n_exp, 1, MAX_N_EXP,
                        "N_exp is the number of experiments behind the reported model (or "
                        "'ledger' to count the runs recorded for this project).")

    def _ledger_path(self) -> Path | PostgresURL | Literal[False] | None:
        if self.ledger_path is None or self.ledger_path is False:
            return self.ledger_path
        if is_postgres_url(self.ledger_path):
            return PostgresURL(self.ledger_path)  # type: ignore[arg-type]
        return _path("ledger_path", self.ledger_path,
                     "Or None for $NATURE_LEDGER / the user data folder, False to disable it.")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (paths as strings, a ledger URL without its password)."""
        data = {field.name: getattr(self, field.name) for field in fields(self)}
        for key in ("output_dir", "ledger_path"):
            if isinstance(data[key], (Path, PostgresURL)):
                data[key] = str(data[key])
        return data
