"""The NATURE metric and its terms, as pure functions (no I/O, no state).

Units follow docs/nature.md: powers in W, times in s, energies in J,
carbon intensity in g CO2e/kWh, carbon in g or kg CO2e.

    NATURE = N_exp × [ A + T × (U + R + E) × epochs ]

with E the hardware power, U = (PUE − 1)·E the facility overhead and
R = (E + U)·λ/(1 − λ) the transmission-and-distribution loss of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

JOULES_PER_KWH = 3.6e6


def facility_power_w(power_w: float, pue: float) -> float:
    """U: the data centre's overhead power, (PUE − 1) × E."""
    return (pue - 1.0) * power_w


def grid_loss_power_w(power_w: float, facility_w: float, grid_loss: float) -> float:
    """R: power lost between plant and facility, (E + U) × λ / (1 − λ)."""
    return (power_w + facility_w) * grid_loss / (1.0 - grid_loss)


def wall_to_plant_factor(pue: float, grid_loss: float) -> float:
    """Factor from hardware energy to energy drawn at the power plant: PUE / (1 − λ).

    Equal to (E + U + R) / E; used to scale A, the energy spent outside epochs.
    """
    return pue / (1.0 - grid_loss)


def epoch_energy_j(t_s: float, u_w: float, r_w: float, e_w: float) -> float:
    """One epoch's term of the bracket: T × (U + R + E)."""
    return t_s * (u_w + r_w + e_w)


def co2e_g(energy_j: float, carbon_intensity_g_per_kwh: float) -> float:
    """Carbon of ``energy_j`` joules at ``carbon_intensity_g_per_kwh``: J / 3.6e6 × g/kWh."""
    return energy_j / JOULES_PER_KWH * carbon_intensity_g_per_kwh


def nature(
    n_exp: float, a_j: float, t_s: float, u_w: float, r_w: float, e_w: float, epochs: float
) -> float:
    """The paper's formula for constant terms, in joules.

    >>> nature(2, 1000, 60, 50, 10, 250, 3)
    113600.0
    """
    return float(n_exp * (a_j + t_s * (u_w + r_w + e_w) * epochs))


@dataclass(frozen=True)
class EpochTerms:
    """The NATURE terms of one epoch, computed from its measured hardware energy."""

    epoch: int
    """Zero-based epoch index."""
    epoch_time_s: float
    """T: wall-clock duration of the epoch."""
    power_w: float
    """E: mean hardware power over the epoch."""
    facility_w: float
    """U = (PUE − 1) × E."""
    grid_loss_w: float
    """R = (E + U) × λ / (1 − λ)."""
    epoch_energy_j: float
    """T × (U + R + E)."""
    carbon_intensity_g_per_kwh: float
    """Carbon intensity used for this epoch."""
    epoch_co2e_g: float
    """epoch_energy_j / 3.6e6 × carbon intensity."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly; every field is a number)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


def epoch_terms(
    *,
    epoch: int,
    hardware_energy_j: float,
    epoch_time_s: float,
    pue: float,
    grid_loss: float,
    carbon_intensity_g_per_kwh: float,
) -> EpochTerms:
    """Compute one epoch's terms from the hardware energy metered over its window."""
    power_w = hardware_energy_j / epoch_time_s if epoch_time_s > 0 else 0.0
    u_w = facility_power_w(power_w, pue)
    r_w = grid_loss_power_w(power_w, u_w, grid_loss)
    energy_j = epoch_energy_j(epoch_time_s, u_w, r_w, power_w)
    return EpochTerms(
        epoch=epoch,
        epoch_time_s=epoch_time_s,
        power_w=power_w,
        facility_w=u_w,
        grid_loss_w=r_w,
        epoch_energy_j=energy_j,
        carbon_intensity_g_per_kwh=carbon_intensity_g_per_kwh,
        epoch_co2e_g=co2e_g(energy_j, carbon_intensity_g_per_kwh),
    )


def forecast_co2e_kg(
    *, co2e_kg_so_far: float, epochs_done: int, epoch_co2e_g_sum: float, planned_epochs: int,
    n_exp: int,
) -> float:
    """Projected NATURE (kg CO2e) after ``planned_epochs``, from the mean epoch so far.

    ``co2e_kg_so_far`` is the run's carbon so far (A included); the remaining
    epochs are charged at the mean carbon of the ``epochs_done`` epochs completed, whose
    carbon adds up to ``epoch_co2e_g_sum`` grams.
    """
    if epochs_done <= 0:
        return float("nan")
    remaining = max(planned_epochs - epochs_done, 0)
    mean_epoch_kg = epoch_co2e_g_sum / epochs_done / 1000.0
    return n_exp * (co2e_kg_so_far + remaining * mean_epoch_kg)
