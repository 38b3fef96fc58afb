"""The tracker's configuration: one validated dataclass shared by the tracker and the callback."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from nature_callback.exceptions import ConfigurationError
from nature_callback.metric import (
    validate_grid_loss,
    validate_n_exp,
    validate_non_negative,
    validate_pue,
)

DEFAULT_PUE = 1.56
"""Uptime Institute Global Data Center Survey 2024: average annual PUE 1.56."""


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
    """Folder of the JSON summary; None means the current folder (the callback uses the log dir)."""
    ledger_path: Path | Literal[False] | None = None
    """SQLite run ledger; None uses $NATURE_LEDGER or the user data folder, False disables it."""
    cpu_tdp_w: float | None = None
    """CPU thermal design power for the utilisation estimate when RAPL cannot be read."""
    sample_interval_s: float = 0.1
    """Power sampling period for GPUs without an energy counter (0.1 s = 10 Hz)."""

    def __post_init__(self) -> None:
        validate_pue(self.pue)
        if self.grid_loss is not None:
            validate_grid_loss(self.grid_loss)
        if self.n_exp != "ledger":
            validate_n_exp(self.n_exp)  # type: ignore[arg-type]
        validate_non_negative("extra_energy_j", self.extra_energy_j)
        if self.planned_epochs is not None and (
            isinstance(self.planned_epochs, bool)
            or not isinstance(self.planned_epochs, int)
            or self.planned_epochs < 1
        ):
            raise ConfigurationError(
                f"planned_epochs={self.planned_epochs!r} is invalid: give a positive integer or None."
            )
        if not isinstance(self.project, str) or not self.project:
            raise ConfigurationError(f"project={self.project!r} is invalid: give a non-empty name.")
        if self.cpu_tdp_w is not None and (
            not isinstance(self.cpu_tdp_w, (int, float)) or not self.cpu_tdp_w > 0
        ):
            raise ConfigurationError(
                f"cpu_tdp_w={self.cpu_tdp_w!r} is invalid: give the CPU's TDP in watts (> 0) or None."
            )
        if not isinstance(self.sample_interval_s, (int, float)) or not self.sample_interval_s > 0:
            raise ConfigurationError(
                f"sample_interval_s={self.sample_interval_s!r} is invalid: it must be > 0 seconds."
            )
        if self.output_dir is not None:
            object.__setattr__(self, "output_dir", Path(self.output_dir))
        if self.ledger_path not in (None, False):
            object.__setattr__(self, "ledger_path", Path(self.ledger_path))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (paths as strings)."""
        data = {field.name: getattr(self, field.name) for field in fields(self)}  # no deep copy
        for key in ("output_dir", "ledger_path"):
            if isinstance(data[key], Path):
                data[key] = str(data[key])
        return data
