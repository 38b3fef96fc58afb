"""``CarbonBudget``: stop a Lightning fit before NATURE passes a carbon budget.

    trainer = Trainer(callbacks=[NatureCallback(carbon="DE"), CarbonBudget(max_co2e_kg=0.5)])

It reads the epochs ``NatureCallback`` records (it registers with it, so the order of the two
in ``callbacks`` does not matter) and sets ``trainer.should_stop``, saying why.
"""

from __future__ import annotations

import logging
from typing import Any

from nature_callback._lightning import CallbackBase
from nature_callback.budget import BudgetVerdict, check_budget, check_max_co2e_kg
from nature_callback.exceptions import ConfigurationError
from nature_callback.integrations.lightning import NatureCallback
from nature_callback.tracker import NatureTracker

log = logging.getLogger(__name__)


class CarbonBudget(CallbackBase):  # type: ignore[misc, valid-type]
    """Stop training when NATURE reaches ``max_co2e_kg`` (kg CO2e), or, with ``use_forecast``
    (default), before the epoch that would pass it at the mean epoch so far."""

    def __init__(self, max_co2e_kg: float, use_forecast: bool = True) -> None:
        self.max_co2e_kg = check_max_co2e_kg(max_co2e_kg)
        self.use_forecast = bool(use_forecast)
        self.verdict: BudgetVerdict | None = None
        """The verdict that stopped training (None while under the budget)."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Register with the Trainer's ``NatureCallback``."""
        if stage != "fit":
            return
        natures = [cb for cb in trainer.callbacks if isinstance(cb, NatureCallback)]
        if not natures:
            raise ConfigurationError("CarbonBudget needs a NatureCallback in the same Trainer: "
                                     "callbacks=[NatureCallback(...), CarbonBudget(...)].")
        if self not in natures[0].budgets:
            natures[0].budgets.append(self)
        self.verdict = None

    def after_epoch(self, trainer: Any, tracker: NatureTracker) -> None:
        """Called by ``NatureCallback`` once an epoch is recorded."""
        verdict = check_budget(tracker.records, self.max_co2e_kg, tracker.n_exp,
                               self.use_forecast)
        if verdict.stop:
            self.verdict = verdict
            trainer.should_stop = True
            if trainer.is_global_zero:
                log.warning(verdict.message)
