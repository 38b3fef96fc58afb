"""What the Transformers and Keras callbacks share: their options (validated at construction),
the tracker each fit gets, the step schedule, the carbon budget and the line printed at the end.

Framework-free: each integration derives from :class:`TrackingCallback` and its framework's
callback class, and maps its framework's hooks onto the methods below.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from nature_callback.budget import BudgetVerdict, check_budget, check_max_co2e_kg
from nature_callback.carbon import CarbonProvider, resolve_provider
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import ConfigurationError
from nature_callback.gpu_choice import GpuChoice, check_tracker_gpus
from nature_callback.records import EpochRecord, RunSummary
from nature_callback.tracker import Distributed, NatureTracker

log = logging.getLogger(__name__)


def import_framework(name: str, extra: str, user: str) -> ModuleType:
    """Import an integration's framework, or say which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f'{user} needs {name}: pip install "nature-callback[{extra}]". '
                          "NatureTracker works without it.") from error


def check_log_every_n_steps(value: int | None) -> int | None:
    """``log_every_n_steps`` if it is None or a positive int (bools refused)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(
            f"log_every_n_steps={value!r} is invalid: give a positive number of optimizer "
            "steps, or None to log once per epoch.")
    return value


def plain_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as plain JSON values: enums by their value, other objects as text."""
    params: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, enum.Enum):
            value = value.value
        plain = isinstance(value, (bool, int, float, str)) or value is None
        params[str(name)] = value if plain else repr(value)
    return params


def epoch_metrics(record: EpochRecord) -> dict[str, float]:
    """Everything logged for an epoch: the NATURE terms, power per kind and device, and the
    carbon flags (every epoch, so that a table of epochs has the same columns in each row)."""
    return record.metrics() | record.detail_metrics()


def summary_line(summary: RunSummary, summary_path: Path) -> str:
    """The one line printed at the end of a run."""
    return (f"NATURE: {summary.nature_co2e_kg:.6g} kg CO2e, {summary.nature_energy_kwh:.6g} kWh "
            f"over {summary.epochs} epochs × N_exp={summary.n_exp}"
            f"{' (E partly estimated)' if summary.estimated else ''}; record: {summary_path}")


class TrackingCallback:
    """The framework-free half of a framework's callback: one :class:`NatureTracker` per
    training run, started by :meth:`_start_run` and ended by :meth:`_end_run` or
    :meth:`abort`.

    Args:
        pue: power usage effectiveness of the facility (1.0 for a desktop).
        grid_loss: transmission-and-distribution loss fraction; None takes the region's.
        n_exp: experiments behind the model, or ``"ledger"`` to count recorded runs.
        extra_energy_j: unmetered energy (J) to add to A.
        carbon: a carbon provider, an ISO country code, g CO2e/kWh, or None (auto).
        project: name under which the run ledger groups runs.
        output_dir: folder of the record files (each framework says its default).
        ledger_path: the run ledger; None: default location; False: disabled.
        cpu_tdp_w: CPU TDP for the estimate used when RAPL cannot be read.
        sample_interval_s: power sampling period for GPUs without an energy counter.
        gpus: GPUs to meter: ``"auto"`` (those the framework trains on; each integration says
            how it finds them), ``"visible"``, a list of CUDA device indices, or None.
        log_every_n_steps: log the running figures every N optimizer steps (None: per epoch).
        max_co2e_kg: carbon budget (kg CO2e of NATURE); training stops at the end of the epoch
            after which NATURE, or with ``use_forecast`` NATURE after one more epoch, passes it.
        use_forecast: stop before the epoch that would pass the budget (default), not after.
        verbose: print a one-line summary at the end of training (the writing process).
    """

    def __init__(
        self,
        pue: float = DEFAULT_PUE,
        grid_loss: float | None = None,
        n_exp: int | Literal["ledger"] = 1,
        extra_energy_j: float = 0.0,
        carbon: CarbonProvider | float | str | None = None,
        *,
        project: str = "default",
        output_dir: str | Path | None = None,
        ledger_path: str | Path | Literal[False] | None = None,
        cpu_tdp_w: float | None = None,
        sample_interval_s: float = 0.1,
        gpus: GpuChoice = "auto",
        log_every_n_steps: int | None = None,
        max_co2e_kg: float | None = None,
        use_forecast: bool = True,
        verbose: bool = True,
    ) -> None:
        self.config = NatureConfig(
            pue=pue, grid_loss=grid_loss, n_exp=n_exp, extra_energy_j=extra_energy_j,
            project=project, output_dir=output_dir,  # type: ignore[arg-type]
            ledger_path=ledger_path,  # type: ignore[arg-type]
            cpu_tdp_w=cpu_tdp_w, sample_interval_s=sample_interval_s,
        )
        self.provider = resolve_provider(carbon)
        self.gpus = check_tracker_gpus(gpus)
        self.log_every_n_steps = check_log_every_n_steps(log_every_n_steps)
        self.max_co2e_kg = None if max_co2e_kg is None else check_max_co2e_kg(max_co2e_kg)
        self.use_forecast = bool(use_forecast)
        self.verbose = bool(verbose)
        self.tracker: NatureTracker | None = None
        """The tracker of the current (or last) training run."""
        self.verdict: BudgetVerdict | None = None
        """The budget's verdict that stopped training (None while under the budget)."""
        super().__init__()

    # ------------------------------------------------------------------ run
    def _start_run(self, *, output_dir: Path, planned_epochs: int | None,
                   params: dict[str, Any], gpus: GpuChoice = "auto", node_level: bool = True,
                   distributed: Distributed | None = None) -> NatureTracker:
        """A new run: a tracker for this training run, started. A run left unfinished (its
        training raised, so no end hook came) is recorded as crashed first."""
        if self.running is not None:
            self.running.abort(RuntimeError("training ended without its end hook"))
        tracker = self._new_tracker(self.config.output_dir or output_dir, planned_epochs,
                                    gpus=gpus, node_level=node_level, distributed=distributed)
        tracker.params = params
        self.tracker, self.verdict = tracker, None
        return tracker.start()

    def _new_tracker(self, output_dir: Path, planned_epochs: int | None, *,
                     gpus: GpuChoice = "auto", node_level: bool = True,
                     distributed: Distributed | None = None) -> NatureTracker:
        """A tracker with this callback's options, its records in ``output_dir``."""
        config = dataclasses.replace(self.config, planned_epochs=planned_epochs,
                                     output_dir=output_dir)
        return NatureTracker.from_config(config, carbon=self.provider, gpus=gpus,
                                         node_level=node_level, distributed=distributed)

    @property
    def running(self) -> NatureTracker | None:
        """The tracker while a training run is being measured, else None."""
        tracker = self.tracker
        return tracker if tracker is not None and tracker.status == "running" else None

    def _step_due(self, step: int) -> bool:
        """Whether optimizer step ``step`` gets a step record."""
        tracker = self.running
        return (self.log_every_n_steps is not None and tracker is not None
                and tracker.epoch_is_open and step % self.log_every_n_steps == 0)

    def _budget_exceeded(self, tracker: NatureTracker, is_writer: bool) -> bool:
        """After an epoch: whether the carbon budget says stop (the reason is logged once)."""
        if self.max_co2e_kg is None:
            return False
        verdict = check_budget(tracker.records, self.max_co2e_kg, tracker.n_exp,
                               self.use_forecast)
        if not verdict.stop:
            return False
        self.verdict = verdict
        if is_writer:
            log.warning(verdict.message)
        return True

    def _end_run(self, is_writer: bool) -> RunSummary | None:
        """Close what is open, write the final records; print the summary line."""
        tracker = self.running
        if tracker is None:
            return None
        summary = tracker.stop()
        if self.verbose and is_writer:
            print(summary_line(summary, tracker.summary_path))
        return summary

    def abort(self, error: BaseException | None = None) -> RunSummary | None:
        """Record the current run as crashed (interrupted for ``KeyboardInterrupt``) with every
        epoch finished so far; for ``except`` blocks around training, whose framework has no
        exception hook. Does nothing when no run is being measured."""
        tracker = self.running
        if tracker is None:
            return None
        summary = tracker.abort(error)
        log.warning("training stopped (%s); partial energy record written to %s (%d epochs, "
                    "%.6g J)", summary.status, tracker.summary_path, summary.epochs,
                    summary.energy_j)
        return summary
