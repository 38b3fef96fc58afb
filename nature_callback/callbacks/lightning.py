"""``NatureCallback``: log NATURE and each of its terms every epoch from a Lightning Trainer.

Thin: every figure comes from :class:`nature_callback.tracker.NatureTracker`; this
module maps Lightning's hooks onto its windows, sums figures across DDP ranks
through the strategy, and logs through ``LightningModule.log`` so TensorBoard,
W&B, CSV, MLflow, ``ModelCheckpoint`` and ``EarlyStopping`` all see them (only monitored
metrics pay for ``log``; the others go straight to the loggers and ``callback_metrics``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch
from typing_extensions import override

from nature_callback._lightning import CallbackBase
from nature_callback.callbacks._scalars import ScalarWriter
from nature_callback.carbon import CarbonProvider, resolve_provider
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import ConfigurationError
from nature_callback.records import (
    ALL_METRICS,
    CARBON_FLAG_METRICS,
    METRIC_PREFIX,
    TOTAL_METRICS,
)
from nature_callback.tracker import NatureTracker

log = logging.getLogger(__name__)

PROGRESS_BAR_METRIC = METRIC_PREFIX + "nature_co2e_kg"


class NatureCallback(CallbackBase):
    """Measure energy, compute NATURE and log it every training epoch.

    Args:
        pue: power usage effectiveness of the facility (1.0 for a desktop).
        grid_loss: transmission-and-distribution loss fraction; None takes the region's.
        n_exp: experiments behind the model, or ``"ledger"`` to count recorded runs.
        extra_energy_j: unmetered energy (J) to add to A.
        carbon: a carbon provider, an ISO country code, g CO2e/kWh, or None (auto).
        project: name under which the run ledger groups runs.
        output_dir: folder of ``nature_summary.json``; default: the logger's log dir.
        ledger_path: SQLite run ledger; None: default location; False: disabled.
        cpu_tdp_w: CPU TDP for the estimate used when RAPL cannot be read.
        sample_interval_s: power sampling period for GPUs without an energy counter.
        progress_bar: show NATURE (kg CO2e) in the progress bar.
        verbose: print a one-line summary at the end of fit (rank zero).
        monitorable: which metrics go through ``LightningModule.log``. ``"auto"`` (default): the
            ones something in the Trainer monitors (a callback's ``monitor``, such as
            ``ModelCheckpoint`` or ``EarlyStopping``, or a ``ReduceLROnPlateau`` scheduler's);
            ``"totals"``: energy_j, co2e_kg, nature_energy_j, nature_co2e_kg, forecast_co2e_kg;
            ``"all"``: every term. Every term reaches every logger and
            ``trainer.callback_metrics`` whatever this says; the others are written there
            directly, because each ``log`` call costs about 0.3 ms of Lightning's bookkeeping per
            epoch, which matters for short epochs.
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
        progress_bar: bool = True,
        verbose: bool = True,
        monitorable: Literal["auto", "totals", "all"] = "auto",
    ) -> None:
        self.config = NatureConfig(
            pue=pue, grid_loss=grid_loss, n_exp=n_exp, extra_energy_j=extra_energy_j,
            project=project, output_dir=output_dir,  # type: ignore[arg-type]
            ledger_path=ledger_path,  # type: ignore[arg-type]
            cpu_tdp_w=cpu_tdp_w, sample_interval_s=sample_interval_s,
        )
        self.provider = resolve_provider(carbon)
        if monitorable not in ("auto", "totals", "all"):
            raise ConfigurationError(
                f"monitorable={monitorable!r} is invalid: pass \"auto\", \"totals\" or \"all\"."
            )
        self.monitorable = monitorable
        self.progress_bar = progress_bar
        self.verbose = verbose
        self.tracker: NatureTracker | None = None
        self._state_key: str | None = None
        self._through_log: frozenset[str] | None = None
        """Metric names sent through ``LightningModule.log`` in this fit (set at its start)."""
        self._logged_flags: dict[str, float] | None = None
        """The carbon flags last sent to the loggers (they are sent again only on a change)."""
        self._scalar_writers: list[ScalarWriter] = []
        """One per logger of this fit (rank zero)."""
        _skip_unused_hooks(self)
        self._pending_state: dict[str, Any] | None = None

    @property
    @override
    def state_key(self) -> str:
        # Lightning reads this hundreds of times per fit: build the string once
        if self._state_key is None:
            self._state_key = self._generate_state_key(project=self.config.project)
        return self._state_key

    # ------------------------------------------------------------------ set-up
    @override
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit" or (self.tracker is not None and self.tracker.status == "running"):
            return
        if self.tracker is not None:  # a second fit() with this callback continues the totals
            self._pending_state = self.tracker.state_dict()
        tracker = NatureTracker(
            **{key: value for key, value in self.config.to_dict().items()
               if key not in ("output_dir", "planned_epochs")},
            carbon=self.provider,
            planned_epochs=_planned_epochs(trainer),
            output_dir=self.config.output_dir or _log_dir(trainer),
            gpus=_gpu_indices(trainer),
            node_level=trainer.local_rank == 0,
        )
        if trainer.world_size > 1:
            tracker.is_distributed = True
            tracker.rank = trainer.global_rank
            tracker.is_writer = trainer.is_global_zero
            tracker.reduce = _strategy_sum(trainer)
        if self._pending_state is not None:
            tracker.load_state_dict(self._pending_state)
            self._pending_state = None
        self.tracker = tracker.start()

    @override
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._through_log = self._names_through_log(trainer)
        self._logged_flags = None
        self._scalar_writers = []
        if self.tracker is None or not trainer.is_global_zero:
            return
        self._scalar_writers = [ScalarWriter(logger) for logger in trainer.loggers]
        params = self.tracker.hyperparameters()
        for logger in trainer.loggers:
            logger.log_hyperparams(params)

    def _names_through_log(self, trainer: Any) -> frozenset[str]:
        if self.monitorable == "all":
            return frozenset(ALL_METRICS)
        if self.monitorable == "totals":
            return frozenset(TOTAL_METRICS)
        return frozenset(_monitored_names(trainer)) & frozenset(ALL_METRICS)

    # ------------------------------------------------------------------ epochs
    @override
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is not None:
            self.tracker.start_epoch()

    @override
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is None:
            return
        record = self.tracker.end_epoch()
        metrics = record.metrics()
        through_log = self._through_log if self._through_log is not None else frozenset(
            TOTAL_METRICS)
        logged = {name: value for name, value in metrics.items() if name in through_log}
        direct = {name: value for name, value in metrics.items() if name not in through_log}
        if logged:
            # Values are already summed over ranks: identical everywhere, so no sync is needed.
            pl_module.log_dict(logged, on_step=False, on_epoch=True, sync_dist=False)
        if self.progress_bar and trainer.progress_bar_callback is not None:
            pl_module.log(
                "CO2e_kg", metrics[PROGRESS_BAR_METRIC], on_step=False, on_epoch=True,
                prog_bar=True, logger=False,
            )
        # what log() would do for monitors and user code, at a fraction of its cost
        if direct:
            values = torch.tensor(list(direct.values()), dtype=torch.float64).unbind()
            _callback_metrics(trainer).update(zip(direct, values, strict=True))
        if trainer.is_global_zero:
            direct.update(self._detail_to_log(record.detail_metrics()))
            direct["epoch"] = float(trainer.current_epoch)
            for writer in self._scalar_writers:
                writer.write(direct, step=trainer.global_step)

    def _detail_to_log(self, detail: dict[str, float]) -> dict[str, float]:
        """Power per kind and device every epoch; the carbon flags at the first epoch and on a
        change only (each scalar costs the logger's writer, e.g. ~40 µs in TensorBoard)."""
        flags = {name: detail.pop(name) for name in CARBON_FLAG_METRICS if name in detail}
        if flags != self._logged_flags:
            detail.update(flags)
            self._logged_flags = flags
        return detail

    # ------------------------------------------------------------------ end
    @override
    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is None:
            return
        summary = self.tracker.stop()
        if self.verbose and trainer.is_global_zero:
            print(
                f"NATURE: {summary.nature_co2e_kg:.6g} kg CO2e, {summary.nature_energy_kwh:.6g} kWh "
                f"over {summary.epochs} epochs × N_exp={summary.n_exp}"
                f"{' (E partly estimated)' if summary.estimated else ''}; "
                f"record: {self.tracker.summary_path}"
            )

    @override
    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.tracker is not None:
            summary = self.tracker.abort(exception)
            if trainer.is_global_zero:
                log.warning("training stopped (%s); partial energy record written to %s "
                            "(%d epochs, %.6g J)", summary.status, self.tracker.summary_path,
                            summary.epochs, summary.energy_j)

    @override
    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit" and self.tracker is not None and self.tracker.status == "running":
            self.tracker.abort(RuntimeError("teardown before the end of fit"))

    # ------------------------------------------------------------------ checkpoints
    @override
    def state_dict(self) -> dict[str, Any]:
        if self.tracker is not None:
            return self.tracker.state_dict()
        return dict(self._pending_state or {})

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.load_state_dict(state_dict)
        else:
            self._pending_state = dict(state_dict)


_CALLED_WITHOUT_CHECK = frozenset({"on_save_checkpoint", "on_load_checkpoint"})
"""Hooks Lightning calls directly, without the ``callable`` test: they stay methods."""


def _skip_unused_hooks(callback: CallbackBase) -> None:
    """Set every ``on_*`` hook that ``type(callback)`` leaves to the base class to None on the
    instance. Lightning calls a callback's hook only when ``callable(getattr(callback, name))``,
    and each call of an empty hook still costs its dispatch and profiler bookkeeping: about 140
    calls per epoch of the demo. In an ad hoc run here (the demo's training with 20 callbacks),
    an empty callback cost 0.12 ms per epoch and one with its hooks None 0.01 ms. A subclass's
    own overrides are kept."""
    for name in dir(CallbackBase):
        if (name.startswith("on_") and name not in _CALLED_WITHOUT_CHECK
                and getattr(type(callback), name) is getattr(CallbackBase, name)):
            setattr(callback, name, None)


def _callback_metrics(trainer: Any) -> dict[str, Any]:
    """The dict behind ``trainer.callback_metrics``.

    The property first folds every result logged so far into that dict (about 0.1 ms per
    call); writing to the dict directly skips that, and Lightning folds its results in at its
    next read anyway. Falls back to the property where the dict is not where Lightning 2.x
    keeps it.
    """
    metrics = getattr(getattr(trainer, "_logger_connector", None), "_callback_metrics", None)
    return metrics if isinstance(metrics, dict) else trainer.callback_metrics


def _monitored_names(trainer: Any) -> set[str]:
    """Metric names the Trainer's callbacks and learning-rate schedulers monitor."""
    names = {getattr(callback, "monitor", None) for callback in trainer.callbacks}
    names.update(getattr(config, "monitor", None)
                 for config in getattr(trainer, "lr_scheduler_configs", None) or [])
    return {name for name in names if isinstance(name, str)}


def _planned_epochs(trainer: Any) -> int | None:
    max_epochs = trainer.max_epochs
    return max_epochs if isinstance(max_epochs, int) and max_epochs > 0 else None


def _log_dir(trainer: Any) -> Path:
    """The first logger's folder (where TensorBoard writes), else the Trainer's root folder."""
    log_dir = trainer.log_dir if trainer.loggers else None
    return Path(log_dir or trainer.default_root_dir)


def _gpu_indices(trainer: Any) -> list[int] | None:
    """The CUDA device this process trains on, or None on CPU."""
    device = trainer.strategy.root_device
    if device.type != "cuda":
        return None
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _strategy_sum(trainer: Any) -> Any:
    """A reducer summing a float vector over ranks through the Trainer's strategy."""

    def reduce(values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=trainer.strategy.root_device)
        return [float(v) for v in trainer.strategy.reduce(tensor, reduce_op="sum").tolist()]

    return reduce
