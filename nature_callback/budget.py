"""A carbon budget for training: whether a run should stop before NATURE passes it.

Pure: integrations (``CarbonBudget`` for Lightning, the Transformers callback) ask
``check_budget`` after each epoch and stop training when it says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nature_callback.exceptions import ConfigurationError
from nature_callback.records import EpochRecord


@dataclass(frozen=True)
class BudgetVerdict:
    """What the budget says after an epoch."""

    stop: bool
    """Whether training should stop now."""
    nature_co2e_kg: float
    """NATURE so far."""
    projected_co2e_kg: float
    """NATURE after one more epoch at the mean epoch so far."""
    message: str
    """Why it stops (empty when it does not)."""


def check_max_co2e_kg(max_co2e_kg: float) -> float:
    """The budget as a float, if it is a finite number > 0."""
    if (isinstance(max_co2e_kg, bool) or not isinstance(max_co2e_kg, (int, float))
            or not math.isfinite(max_co2e_kg) or max_co2e_kg <= 0):
        raise ConfigurationError(f"max_co2e_kg={max_co2e_kg!r} is invalid: give the budget in "
                                 "kg CO2e, a finite number > 0 (e.g. 0.5).")
    return float(max_co2e_kg)


def check_budget(records: list[EpochRecord], max_co2e_kg: float, n_exp: int,
                 use_forecast: bool = True) -> BudgetVerdict:
    """After the last of ``records``: stop once NATURE has reached the budget, or (with
    ``use_forecast``) when one more epoch at the mean epoch so far would pass it."""
    if not records:
        return BudgetVerdict(False, 0.0, 0.0, "")
    last = records[-1]
    mean_epoch_kg = n_exp * sum(r.terms.epoch_co2e_g for r in records) / len(records) / 1000.0
    projected_kg = last.nature_co2e_kg + mean_epoch_kg
    epoch = last.terms.epoch
    if last.nature_co2e_kg >= max_co2e_kg:
        return BudgetVerdict(True, last.nature_co2e_kg, projected_kg, (
            f"carbon budget reached at epoch {epoch}: NATURE {last.nature_co2e_kg:.4g} kg CO2e "
            f"passes the budget of {max_co2e_kg:.4g} kg by "
            f"{last.nature_co2e_kg - max_co2e_kg:.3g} kg."))
    if use_forecast and projected_kg > max_co2e_kg:
        planned = (f"; at the planned epochs it would reach {last.forecast_co2e_kg:.4g} kg"
                   if last.forecast_co2e_kg is not None else "")
        return BudgetVerdict(True, last.nature_co2e_kg, projected_kg, (
            f"carbon budget: stopping after epoch {epoch}: NATURE is {last.nature_co2e_kg:.4g} "
            f"kg CO2e and one more epoch would bring it to {projected_kg:.4g} kg, "
            f"{projected_kg - max_co2e_kg:.3g} kg over the budget of {max_co2e_kg:.4g} kg"
            f"{planned}."))
    return BudgetVerdict(False, last.nature_co2e_kg, projected_kg, "")
