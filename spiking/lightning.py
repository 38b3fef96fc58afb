"""``SpikingConversionCallback``: convert the trained model at the end of ``fit`` and log the SNN.

Accepted by the Trainers of both ``lightning.pytorch`` and ``pytorch_lightning`` (it derives
from ``nature_callback._lightning.CallbackBase``). Metrics are logged under ``spiking/`` through
every logger of the trainer (``logger.log_metrics``), on global rank zero only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from typing import Any

from typing_extensions import override

from nature_callback._lightning import CallbackBase
from spiking.config import ConversionConfig
from spiking.convert import convert
from spiking.data import DataSource
from spiking.evaluation import normalise_timesteps
from spiking.energy import operation_energy
from spiking.exceptions import InvalidInputError
from spiking.model import SpikingModel
from spiking.report import ConversionReport, build_report

log = logging.getLogger(__name__)


class SpikingConversionCallback(CallbackBase):
    """Convert the LightningModule to a spiking network when ``fit`` ends, evaluate it for each T
    and log accuracy, spike statistics and the compute-energy estimate.

    Args:
        calibration_data: data for threshold calibration (e.g. the training DataLoader).
        eval_data: labelled data for accuracy and statistics (e.g. the validation DataLoader).
        timesteps: the T values to evaluate.
        method, mode: conversion settings, as in ``spiking.convert``.
        precision: precision of the energy estimate (fp32, fp16, int8, int32).
        max_drop_points: accuracy drop allowed when reporting the smallest T.
        save_path: where to save the converted ``SpikingModel`` (nothing saved when None).
        progress: show progress bars during conversion and evaluation.
        verbose: log the report table at INFO level.
    """

    def __init__(
        self,
        calibration_data: DataSource,
        eval_data: DataSource,
        *,
        timesteps: Sequence[int] = (8, 16, 32),
        method: str = "rate",
        mode: str | float = "99.9%",
        precision: str = "fp32",
        max_drop_points: float = 1.0,
        save_path: str | PathLike[str] | None = None,
        progress: bool = False,
        verbose: bool = True,
    ) -> None:
        if calibration_data is None or eval_data is None:
            raise InvalidInputError("calibration_data and eval_data are required (e.g. the train and val loaders).")
        self.timesteps = normalise_timesteps(timesteps, ())
        ConversionConfig(method=method, mode=mode, timesteps=max(self.timesteps))  # type: ignore[arg-type]
        operation_energy(precision)
        self.calibration_data = calibration_data
        self.eval_data = eval_data
        self.method = method
        self.mode = mode
        self.precision = precision
        self.max_drop_points = max_drop_points
        self.save_path = save_path
        self.progress = progress
        self.verbose = verbose
        self.spiking_model: SpikingModel | None = None
        """The converted model, after ``fit`` (rank zero)."""
        self.report: ConversionReport | None = None
        """The report, after ``fit`` (rank zero)."""

    @override
    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        self.spiking_model = convert(
            pl_module,
            self.calibration_data,
            method=self.method,  # type: ignore[arg-type]
            mode=self.mode,
            timesteps=max(self.timesteps),
            progress=self.progress,
        )
        self.report = build_report(
            self.spiking_model,
            self.eval_data,
            self.timesteps,
            precision=self.precision,
            max_drop_points=self.max_drop_points,
            progress=self.progress,
        )
        metrics = self.report.to_metrics()
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        if self.save_path is not None:
            self.spiking_model.save(self.save_path)
        if self.verbose:
            log.info("spiking conversion at the end of fit:\n%s", self.report.to_table())
