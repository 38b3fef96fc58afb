"""``NatureCallback``: log NATURE and each of its terms every epoch from a Lightning Trainer.

Thin: every figure comes from :class:`nature_callback.tracker.NatureTracker`; this module maps
Lightning's hooks onto its windows, sums figures across DDP ranks through the strategy, and
logs through Lightning's public API: ``LightningModule.log_dict`` for the metrics something
monitors, ``Logger.log_metrics`` and ``trainer.callback_metrics`` for the others.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Any, Literal

import torch

from nature_callback._lightning import CallbackBase
from nature_callback.carbon import CarbonProvider, resolve_provider
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import ConfigurationError, NatureWarning
from nature_callback.gpu_choice import check_tracker_gpus
from nature_callback.integrations._common import (
    check_log_every_n_steps,
    plain_params,
    summary_line,
)
from nature_callback.records import (
    ALL_METRICS,
    CARBON_FLAG_METRICS,
    METRIC_PREFIX,
    TOTAL_METRICS,
)
from nature_callback.distributed import torch_distributed
from nature_callback.tracker import Distributed, NatureTracker

log = logging.getLogger(__name__)

PROGRESS_BAR_METRIC = METRIC_PREFIX + "nature_co2e_kg"


class NatureCallback(CallbackBase):  # type: ignore[misc, valid-type]
    """Measure energy, compute NATURE and log it every training epoch.

    Args:
        pue: power usage effectiveness of the facility (1.0 for a desktop).
        grid_loss: transmission-and-distribution loss fraction; None takes the region's.
        n_exp: experiments behind the model, or ``"ledger"`` to count recorded runs.
        extra_energy_j: unmetered energy (J) to add to A.
        carbon: a carbon provider, an ISO country code, g CO2e/kWh, or None (auto).
        project: name under which the run ledger groups runs.
        output_dir: folder of the record files; default: the logger's log dir.
        ledger_path: SQLite run ledger; None: default location; False: disabled.
        cpu_tdp_w: CPU TDP for the estimate used when RAPL cannot be read.
        sample_interval_s: power sampling period for GPUs without an energy counter.
        progress_bar: show NATURE (kg CO2e) in the progress bar.
        verbose: print a one-line summary at the end of fit (rank zero).
        monitorable: which metrics go through ``LightningModule.log_dict``. ``"auto"``
            (default): the ones something in the Trainer monitors (a callback's ``monitor``,
            such as ``ModelCheckpoint`` or ``EarlyStopping``, or a ``ReduceLROnPlateau``
            scheduler's); ``"totals"``: the run's totals; ``"all"``: every term. Every metric
            reaches every logger and ``trainer.callback_metrics`` whatever this says.
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
        log_every_n_steps: int | None = None,
        gpus: str | list[int] | None = "auto",
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
        self.log_every_n_steps = check_log_every_n_steps(log_every_n_steps)
        self.gpus = check_tracker_gpus(gpus)
        self.monitorable = monitorable
        self.progress_bar = progress_bar
        self.verbose = verbose
        self.tracker: NatureTracker | None = None
        """The fit's tracker."""
        self.stage_tracker: NatureTracker | None = None
        """The tracker of a ``validate``, ``test`` or ``predict`` run outside fit."""
        self.budgets: list[Any] = []
        """``CarbonBudget`` callbacks told of each epoch's record (they register themselves)."""
        self._last_step_logged = -1
        self._window_metrics: dict[str, float] = {}
        """Figures of the named windows closed inside the current epoch, logged with it."""
        self._pending_state: dict[str, Any] | None = None
        self._through_log: frozenset[str] = frozenset()
        """Metric names sent through ``LightningModule.log_dict`` in this fit."""
        self._logged_flags: dict[str, float] | None = None
        """The carbon flags last sent to the loggers (sent again only on a change)."""

    @property
    def state_key(self) -> str:
        """One NatureCallback per project in a checkpoint."""
        return self._generate_state_key(project=self.config.project)

    # ------------------------------------------------------------------ set-up
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Build and start the tracker for this fit (a second fit continues the totals), or
        for a ``validate``, ``test`` or ``predict`` run (records in ``nature_<stage>/``)."""
        stage = str(getattr(stage, "value", stage))  # Lightning passes a str enum
        if stage != "fit":
            output_dir = (self.config.output_dir or _log_dir(trainer)) / f"nature_{stage}"
            self.stage_tracker = self._tracker(trainer, output_dir, planned_epochs=None).start()
            return
        if self.tracker is not None and self.tracker.status == "running":
            return
        if self.tracker is not None:
            self._pending_state = self.tracker.state_dict()
        tracker = self._tracker(trainer, self.config.output_dir or _log_dir(trainer),
                                planned_epochs=_planned_epochs(trainer))
        tracker.params = _hyperparameters(pl_module)
        if self._pending_state is not None:
            tracker.load_state_dict(self._pending_state)
            self._pending_state = None
        self._last_step_logged = -1
        self.tracker = tracker.start()

    def _tracker(self, trainer: Any, output_dir: Path, planned_epochs: int | None
                 ) -> NatureTracker:
        config = dataclasses.replace(self.config, planned_epochs=planned_epochs,
                                     output_dir=output_dir)
        gpus = _gpu_indices(trainer) if self.gpus == "auto" else self.gpus
        return NatureTracker.from_config(
            config, carbon=self.provider, gpus=gpus,
            node_level=trainer.local_rank == 0, distributed=_distributed(trainer))

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Choose what goes through ``log_dict``; log the run's hyperparameters."""
        self._through_log = self._names_through_log(trainer)
        self._logged_flags = None
        if self.tracker is None or not trainer.is_global_zero:
            return
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
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """A fit resumed in the middle of an epoch gets no ``on_train_epoch_start`` for it:
        continue the epoch the checkpoint cut short (a checkpoint taken at validation end
        resumes at the next epoch instead, and the cut epoch is recorded as it was)."""
        cut = self.tracker.cut_epoch if self.tracker is not None else None
        if self.tracker is not None and cut is not None and trainer.current_epoch == cut.epoch:
            self.tracker.continue_cut_epoch()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the epoch window (already open when a resumed fit continues a cut epoch)."""
        if self.tracker is not None and not self.tracker.epoch_is_open:
            self.tracker.start_epoch()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the epoch window and log its terms."""
        if self.tracker is None:
            return
        if not self.tracker.epoch_is_open:  # never raise into fit over our own bookkeeping
            warnings.warn("NatureCallback: an epoch ended that had not started; its energy is "
                          "counted in A.", NatureWarning, stacklevel=2)
            self.tracker.start_epoch()
        record = self.tracker.end_epoch()
        metrics = record.metrics()
        logged = {name: value for name, value in metrics.items() if name in self._through_log}
        if logged:
            # Values are already summed over ranks: identical everywhere, so no sync is needed.
            pl_module.log_dict(logged, on_step=False, on_epoch=True, sync_dist=False)
        if self.progress_bar and trainer.progress_bar_callback is not None:
            pl_module.log("CO2e_kg", metrics[PROGRESS_BAR_METRIC], on_step=False, on_epoch=True,
                          prog_bar=True, logger=False)
        direct = {name: value for name, value in metrics.items() if name not in logged}
        detail = record.detail_metrics()
        _update_callback_metrics(trainer, direct | detail | self._window_metrics)
        if trainer.is_global_zero and trainer.loggers:
            direct.update(self._detail_to_log(detail))
            direct.update(self._window_metrics)
            for logger in trainer.loggers:
                logger.log_metrics(direct, step=trainer.global_step)
        self._window_metrics = {}
        for budget in self.budgets:
            budget.after_epoch(trainer, self.tracker)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Every ``log_every_n_steps`` optimizer steps: the running figures."""
        if self.log_every_n_steps is None or self.tracker is None:
            return
        step = trainer.global_step
        if (not self.tracker.epoch_is_open or step == self._last_step_logged
                or step % self.log_every_n_steps != 0):
            return
        self._last_step_logged = step
        self._publish(trainer, self.tracker.step(step).metrics())

    def _publish(self, trainer: Any, metrics: dict[str, float]) -> None:
        """Metrics to ``trainer.callback_metrics`` and (rank zero) every logger."""
        _update_callback_metrics(trainer, metrics)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)

    # ------------------------------------------------------------------ named windows
    def _running_tracker(self) -> NatureTracker | None:
        """The tracker of what runs now: a ``validate``/``test``/``predict`` run's, else the
        fit's (None when neither is running)."""
        if self._in_stage():
            return self.stage_tracker
        if self.tracker is not None and self.tracker.status == "running":
            return self.tracker
        return None

    def _open_window(self, name: str) -> None:
        tracker = self._running_tracker()
        if tracker is not None and not tracker.window_is_open:
            tracker.start_window(name)

    def _in_stage(self) -> bool:
        return self.stage_tracker is not None and self.stage_tracker.status == "running"

    def _close_window(self, trainer: Any, publish: bool = True) -> None:
        """Close the open window: its figures go to ``trainer.callback_metrics`` and the
        loggers (``publish``) with the epoch's own figures when it ran inside a training epoch
        (one update and one logger call per epoch), else at once."""
        tracker = self._running_tracker()
        if tracker is None or not tracker.window_is_open:
            return
        metrics = tracker.end_window().metrics()
        if not publish:
            return
        if tracker is self.tracker and tracker.epoch_is_open:
            self._window_metrics.update(metrics)
        else:
            self._publish(trainer, metrics)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        """Validation is a named window (``sanity_check`` before training)."""
        self._open_window("sanity_check" if trainer.sanity_checking else "validation")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the validation window and log its figures."""
        self._close_window(trainer)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        """``trainer.test`` is a named window."""
        self._open_window("test")

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the test window and log its figures."""
        self._close_window(trainer)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        """``trainer.predict`` is a named window."""
        self._open_window("predict")

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the predict window (its figures go to the record files)."""
        self._close_window(trainer, publish=False)

    def _detail_to_log(self, detail: dict[str, float]) -> dict[str, float]:
        """Power per kind and device every epoch; the carbon flags at the first epoch and on a
        change only."""
        flags = {name: detail.pop(name) for name in CARBON_FLAG_METRICS if name in detail}
        if flags != self._logged_flags:
            detail.update(flags)
            self._logged_flags = flags
        return detail

    # ------------------------------------------------------------------ end
    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Write the final records; print the one-line summary."""
        if self.tracker is None:
            return
        summary = self.tracker.stop()
        if self.verbose and trainer.is_global_zero:
            print(summary_line(summary, self.tracker.summary_path))

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Write the partial record of a crashed or interrupted run."""
        if self._in_stage():
            assert self.stage_tracker is not None
            self.stage_tracker.abort(exception)
        if self.tracker is not None and self.tracker.status == "running":
            summary = self.tracker.abort(exception)
            if trainer.is_global_zero:
                log.warning("training stopped (%s); partial energy record written to %s "
                            "(%d epochs, %.6g J)", summary.status, self.tracker.summary_path,
                            summary.epochs, summary.energy_j)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """A fit that ends without ``on_fit_end`` is recorded as crashed; the run of another
        stage ends here."""
        if stage != "fit":
            if self._in_stage():
                assert self.stage_tracker is not None
                self.stage_tracker.stop()
            return
        if self.tracker is not None and self.tracker.status == "running":
            self.tracker.abort(RuntimeError("teardown before the end of fit"))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The tracker's totals, so that a resumed fit continues them."""
        if self.tracker is not None:
            return self.tracker.state_dict()
        return dict(self._pending_state or {})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the totals of a checkpoint."""
        if self.tracker is not None:
            self.tracker.load_state_dict(state_dict)
        else:
            self._pending_state = dict(state_dict)


def _update_callback_metrics(trainer: Any, metrics: dict[str, float]) -> None:
    """What ``LightningModule.log`` would leave in ``trainer.callback_metrics``: one float32
    tensor per metric (made in one call)."""
    values = torch.tensor(list(metrics.values())).unbind()
    trainer.callback_metrics.update(zip(metrics, values, strict=True))


def _hyperparameters(pl_module: Any) -> dict[str, Any]:
    """The LightningModule's saved hyperparameters as plain JSON values (others as text)."""
    return plain_params(dict(getattr(pl_module, "hparams", {}) or {}))


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


def _distributed(trainer: Any) -> Distributed:
    """This process's place in the run: figures are summed over ranks through the strategy;
    under ``torch.distributed`` the ranks also share their meters at set-up (a collective
    call), see :func:`~nature_callback.distributed.torch_distributed`."""
    if trainer.world_size <= 1:
        return Distributed()

    def reduce(values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=trainer.strategy.root_device)
        return [float(v) for v in trainer.strategy.reduce(tensor, reduce_op="sum").tolist()]

    if torch.distributed.is_initialized():
        return torch_distributed(reduce=reduce)
    return Distributed(rank=trainer.global_rank, world_size=trainer.world_size,
                       is_writer=trainer.is_global_zero, reduce=reduce)
