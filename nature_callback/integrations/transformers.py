"""``NatureTrainerCallback``: NATURE for a Hugging Face ``transformers.Trainer``.

    trainer = Trainer(model=model, args=TrainingArguments(..., report_to=["tensorboard"]), ...)
    nature = NatureTrainerCallback.attach(trainer, pue=1.2, carbon="DE", max_co2e_kg=0.5)
    trainer.train()

Thin: every figure comes from :class:`~nature_callback.tracker.NatureTracker`. The Trainer's
epochs are epoch windows; an evaluation the Trainer runs during training is a named window
``evaluation``; ``log_every_n_steps`` adds step records. Metrics go through ``Trainer.log``, so
every ``report_to`` integration (TensorBoard, W&B, MLflow, ...) and ``state.log_history`` get
them. A ``TrainerCallback`` is not given its Trainer, hence :meth:`NatureTrainerCallback.attach`
(or :meth:`~NatureTrainerCallback.bind`), which keeps the Trainer to log through.

When evaluation starts: ``TrainerCallback`` has no "evaluation begins" hook, but the Trainer
evaluates during training exactly when ``control.should_evaluate`` is set after ``on_step_end``
or ``on_epoch_end`` (by ``DefaultFlowCallback``, which runs before this callback), and right
after ``on_train_begin`` with ``eval_on_start``; ``on_evaluate`` follows each evaluation. The
window opens at those points and closes in ``on_evaluate``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from nature_callback.exceptions import NatureWarning
from nature_callback.integrations._common import (
    TrackingCallback,
    epoch_metrics,
    import_framework,
    plain_params,
)
from nature_callback.distributed import torch_distributed
from nature_callback.tracker import Distributed

import_framework("transformers", "transformers", "NatureTrainerCallback")

import torch  # noqa: E402 - transformers brings torch
from transformers import (  # noqa: E402
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

__all__ = ["EVALUATION_WINDOW", "NatureTrainerCallback"]

EVALUATION_WINDOW = "evaluation"
"""The named window of an evaluation run during training."""

TRAINING_ARGUMENTS = (
    "learning_rate", "weight_decay", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "gradient_accumulation_steps", "warmup_steps",
    "lr_scheduler_type", "optim", "seed", "fp16", "bf16", "world_size",
)
"""The ``TrainingArguments`` kept as the run's hyperparameters (with its ledger row)."""


class NatureTrainerCallback(TrackingCallback, TrainerCallback):  # type: ignore[misc]
    """Measure energy, compute NATURE and log it every epoch of ``Trainer.train()``.

    Create it with :meth:`attach` (or pass it in ``callbacks=[...]`` and call :meth:`bind`) so
    that its metrics go through ``Trainer.log``. Parameters as ``NatureCallback``'s (see
    :class:`~nature_callback.integrations._common.TrackingCallback`); ``output_dir`` defaults
    to ``TrainingArguments.output_dir``. With ``max_co2e_kg``, training stops
    (``control.should_training_stop``) at the end of the epoch after which the budget says
    so; the reason is logged as a warning and kept in :attr:`verdict`.

    A ``TrainerCallback`` has no exception hook: when ``train()`` raises, the record files
    keep every finished epoch, and ``abort(error)`` in an ``except`` block records the run as
    crashed (else the next ``train()`` does).
    """

    trainer: Any = None
    """The Trainer whose ``log`` the metrics go through (set by :meth:`attach`/:meth:`bind`)."""

    @classmethod
    def attach(cls, trainer: Any, **options: Any) -> NatureTrainerCallback:
        """Create the callback with ``options``, bind it to ``trainer`` and add it to the
        Trainer's callbacks; returns it."""
        callback = cls(**options).bind(trainer)
        trainer.add_callback(callback)
        return callback

    def bind(self, trainer: Any) -> NatureTrainerCallback:
        """Log through ``trainer.log`` (for a callback passed in ``callbacks=[...]``)."""
        self.trainer = trainer
        return self

    # ------------------------------------------------------------------ run
    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        """Start the run's tracker (A is measured from here)."""
        if self.trainer is None and state.is_world_process_zero:
            warnings.warn("NatureTrainerCallback is not bound to its Trainer: its metrics go to "
                          "the record files only. Use NatureTrainerCallback.attach(trainer, ...) "
                          "or callback.bind(trainer) so that report_to gets them.",
                          NatureWarning, stacklevel=2)
        tracker = self._start_run(
            output_dir=Path(args.output_dir or "."), planned_epochs=_planned_epochs(args),
            params=_hyperparameters(args, kwargs.get("model")),
            gpus=_gpus(args, kwargs.get("model")) if self.gpus == "auto" else self.gpus,
            node_level=state.is_local_process_zero, distributed=_distributed(args, state))
        if getattr(args, "eval_on_start", False):
            tracker.start_window(EVALUATION_WINDOW)

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        """Write the final records; print the summary line."""
        self._end_run(state.is_world_process_zero)

    # ------------------------------------------------------------------ epochs and steps
    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        """Open the epoch window."""
        tracker = self.running
        if tracker is not None and not tracker.epoch_is_open:
            tracker.start_epoch()

    def on_step_end(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, **kwargs: Any) -> None:
        """Every ``log_every_n_steps`` optimizer steps: the running figures; then the window of
        an evaluation that follows this step."""
        tracker = self.running
        if tracker is not None and self._step_due(state.global_step):
            self._publish(control, tracker.step(state.global_step).metrics())
        self._open_evaluation(control)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        """Close the epoch window, log its terms, ask the budget; then the window of an
        evaluation that follows this epoch."""
        tracker = self.running
        if tracker is None or not tracker.epoch_is_open:
            return
        self._publish(control, epoch_metrics(tracker.end_epoch()))
        if self._budget_exceeded(tracker, state.is_world_process_zero):
            control.should_training_stop = True
        self._open_evaluation(control)

    # ------------------------------------------------------------------ evaluation
    def _open_evaluation(self, control: TrainerControl) -> None:
        """The Trainer evaluates next when ``should_evaluate`` is set at this point."""
        tracker = self.running
        if control.should_evaluate and tracker is not None and not tracker.window_is_open:
            tracker.start_window(EVALUATION_WINDOW)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, **kwargs: Any) -> None:
        """Close the evaluation window and log its figures."""
        tracker = self.running
        if tracker is not None and tracker.window_is_open:
            self._publish(control, tracker.end_window().metrics())

    # ------------------------------------------------------------------ logging
    def _publish(self, control: TrainerControl, metrics: dict[str, float]) -> None:
        """``Trainer.log(metrics)`` on every process, as the Trainer logs (its ``report_to``
        callbacks write on the main process). ``Trainer.log`` clears ``control.should_log``;
        it is restored so that the Trainer's own logging at this step still happens."""
        if self.trainer is None:
            return
        should_log = control.should_log
        self.trainer.log(dict(metrics))
        control.should_log = should_log


def _planned_epochs(args: TrainingArguments) -> int | None:
    """``num_train_epochs`` when it is whole and no ``max_steps`` overrides it (a partial last
    epoch would make the forecast wrong)."""
    epochs = float(args.num_train_epochs)
    if args.max_steps > 0 or epochs < 1 or not epochs.is_integer():
        return None
    return int(epochs)


def _hyperparameters(args: TrainingArguments, model: Any) -> dict[str, Any]:
    """The run's hyperparameters: ``TRAINING_ARGUMENTS`` and the model's type."""
    values = {name: getattr(args, name) for name in TRAINING_ARGUMENTS if hasattr(args, name)}
    config = getattr(model, "config", None)
    if config is not None:
        values["model_type"] = getattr(config, "model_type", None)
    return plain_params(values)


def _gpus(args: TrainingArguments, model: Any) -> list[int] | None:
    """The CUDA devices this process trains on, or None off CUDA: ``args.device``; every GPU
    the Trainer's ``nn.DataParallel`` spans (``n_gpu > 1`` without ``torch.distributed``,
    unless the model is loaded in 8 or 4 bits, which the Trainer does not wrap); and the GPUs
    a ``device_map`` spreads the model over (``model.hf_device_map``)."""
    device = args.device
    if device.type != "cuda":
        return None
    devices = {device.index if device.index is not None else torch.cuda.current_device()}
    quantised = getattr(model, "is_loaded_in_8bit", False) or getattr(
        model, "is_loaded_in_4bit", False)
    if args.n_gpu > 1 and not quantised:
        devices.update(range(args.n_gpu))
    for placement in (getattr(model, "hf_device_map", None) or {}).values():
        index = _cuda_index(placement)
        if index is not None:
            devices.add(index)
    return sorted(devices)


def _cuda_index(placement: Any) -> int | None:
    """The CUDA index of one ``hf_device_map`` entry (``0``, ``"cuda:1"``, a ``torch.device``);
    None for ``"cpu"``, ``"disk"``, ``"mps"``, ... and for a bare ``"cuda"`` (the current
    device: ``args.device``)."""
    if isinstance(placement, int) and not isinstance(placement, bool):
        return placement
    try:
        device = torch.device(placement)
    except (RuntimeError, TypeError):
        return None
    return device.index if device.type == "cuda" else None


def _distributed(args: TrainingArguments, state: TrainerState) -> Distributed:
    """This process's place in the run. Under ``torch.distributed`` (DDP, FSDP, DeepSpeed)
    figures are summed over ranks with ``all_reduce`` on ``args.device`` and the ranks share
    their meters at start; elsewhere each rank keeps its own."""
    if args.world_size <= 1:
        return Distributed()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch_distributed(device=args.device)
    if state.is_world_process_zero:
        warnings.warn(f"{args.world_size} processes without torch.distributed: the records hold "
                      "the main process's energy only.", NatureWarning, stacklevel=3)
    return Distributed(rank=args.process_index, world_size=args.world_size,
                       is_writer=state.is_world_process_zero)
