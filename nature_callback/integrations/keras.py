"""``NatureKerasCallback``: NATURE for Keras 3 ``Model.fit`` (tested with the torch backend).

    model.fit(x, y, epochs=10, validation_data=(xv, yv),
              callbacks=[NatureKerasCallback(pue=1.2, carbon="DE"), keras.callbacks.CSVLogger(...)])

Thin: every figure comes from :class:`~nature_callback.tracker.NatureTracker`. Keras epochs are
epoch windows; the validation ``fit`` runs at the end of an epoch (``on_test_begin`` to
``on_test_end``) is a named window ``validation``, inside the epoch, which pauses. The metrics
are added to the ``logs`` dict of ``on_epoch_end`` (and, with ``log_every_n_steps``, of
``on_train_batch_end``): Keras passes one dict to its callbacks in order, so the callbacks
after this one in ``callbacks=[...]`` (``CSVLogger``, ``TensorBoard``, the ``History`` that
``fit`` returns, the progress bar) see them; those before it do not.

``evaluate`` and ``predict`` outside ``fit`` are runs of their own, one named window each
(``evaluate``, ``predict``), their records in ``nature_evaluate/`` and ``nature_predict/``
under ``output_dir``; their figures go to the record files and :attr:`stage_tracker`, not
to the values ``evaluate`` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nature_callback.gpu_choice import GpuChoice
from nature_callback.records import WindowRecord
from nature_callback.tracker import NatureTracker
from nature_callback.integrations._common import (
    TrackingCallback,
    epoch_metrics,
    import_framework,
    plain_params,
)

keras = import_framework("keras", "keras", "NatureKerasCallback")

__all__ = ["EVALUATE_WINDOW", "PREDICT_WINDOW", "VALIDATION_WINDOW", "NatureKerasCallback"]

VALIDATION_WINDOW = "validation"
"""The named window of the validation that ``fit`` runs."""
EVALUATE_WINDOW = "evaluate"
"""The named window of ``evaluate`` outside ``fit`` (a run of its own)."""
PREDICT_WINDOW = "predict"
"""The named window of ``predict`` outside ``fit`` (a run of its own)."""


class NatureKerasCallback(TrackingCallback,  # type: ignore[misc]
                          keras.callbacks.Callback):  # type: ignore[name-defined]
    """Measure energy, compute NATURE and add it to the logs of every ``fit`` epoch.

    Parameters as ``NatureCallback``'s (see
    :class:`~nature_callback.integrations._common.TrackingCallback`); ``output_dir`` defaults
    to the current folder. With ``max_co2e_kg``, ``fit`` stops (``model.stop_training``) at
    the end of the epoch after which the budget says so. Put it before the callbacks that
    should see its metrics. Keras has no exception hook: when ``fit`` raises, the record files
    keep every finished epoch, and ``abort(error)`` in an ``except`` block records the run as
    crashed (else the next ``fit`` does).
    """

    _window_metrics: dict[str, float]
    """The figures of the windows closed in the current epoch, for its logs."""
    stage_tracker: NatureTracker | None = None
    """The tracker of the current (or last) ``evaluate`` or ``predict`` outside ``fit``."""
    _stage: str | None = None
    """The window of the stage being measured (None when none is)."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the run's tracker (A is measured from here)."""
        epochs = self.params.get("epochs") if self.params else None
        self._start_run(output_dir=Path.cwd(),
                        planned_epochs=epochs if isinstance(epochs, int) and epochs > 0 else None,
                        params=_hyperparameters(self.model, self.params),
                        gpus=_backend_gpus(self.gpus))
        self._window_metrics = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Open the epoch window."""
        tracker = self.running
        if tracker is not None and not tracker.epoch_is_open:
            tracker.start_epoch()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Every ``log_every_n_steps`` optimizer steps: the running figures, into the batch's
        logs."""
        tracker = self.running
        if tracker is None or self.log_every_n_steps is None:
            return
        step = int(self.model.optimizer.iterations)
        if self._step_due(step):
            metrics = tracker.step(step).metrics()
            if logs is not None:
                logs.update(metrics)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Validation during ``fit`` is a named window; ``evaluate`` outside ``fit`` is a run
        of its own."""
        tracker = self.running
        if tracker is None:
            self._start_stage(EVALUATE_WINDOW)
        elif tracker.epoch_is_open and not tracker.window_is_open:
            tracker.start_window(VALIDATION_WINDOW)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Close the validation window (its figures go into the epoch's logs), or end the
        ``evaluate`` run."""
        if self._end_stage(EVALUATE_WINDOW) is not None:
            return
        tracker = self.running
        if tracker is not None and tracker.window_is_open:
            self._window_metrics.update(tracker.end_window().metrics())

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """``predict`` outside ``fit`` is a run of its own."""
        if self.running is None:
            self._start_stage(PREDICT_WINDOW)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """End the ``predict`` run."""
        self._end_stage(PREDICT_WINDOW)

    def _start_stage(self, window: str) -> None:
        """A run with one named window for ``evaluate`` or ``predict`` (one left running by
        a call that raised is recorded as crashed first)."""
        stage = self.stage_tracker
        if stage is not None and stage.status == "running":
            stage.abort(RuntimeError(f"{self._stage} ended without its end hook"))
        output_dir = (self.config.output_dir or Path.cwd()) / f"nature_{window}"
        tracker = self._new_tracker(output_dir, None, gpus=_backend_gpus(self.gpus))
        tracker.start_window(window)  # starts the run
        self.stage_tracker, self._stage = tracker, window

    def _end_stage(self, window: str) -> WindowRecord | None:
        """End the stage run of ``window`` if one is being measured: its window's record."""
        tracker = self.stage_tracker
        if self._stage != window or tracker is None or tracker.status != "running":
            return None
        self._stage = None
        record = tracker.end_window()
        tracker.stop()
        return record

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Close the epoch window, add its terms to ``logs``, ask the budget."""
        tracker = self.running
        if tracker is None or not tracker.epoch_is_open:
            return
        metrics = epoch_metrics(tracker.end_epoch()) | self._window_metrics
        self._window_metrics = {}
        if logs is not None:
            logs.update(metrics)
        if self._budget_exceeded(tracker, is_writer=True):
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Write the final records; print the summary line."""
        self._end_run(is_writer=True)


def _backend_gpus(gpus: GpuChoice) -> GpuChoice:
    """``gpus``; for ``"auto"`` the GPUs the backend trains on. Under torch the tracker finds
    the CUDA device in use itself; under JAX or TensorFlow: the GPUs of the
    ``keras.distribution`` in effect, else the backend's first GPU (where it places work), else
    None (no GPU)."""
    if gpus != "auto" or keras.backend.backend() == "torch":
        return gpus
    try:
        distribution = keras.distribution.distribution()
        mesh = getattr(distribution, "device_mesh", None)
        devices = (list(mesh.devices.flat) if mesh is not None
                   else keras.distribution.list_devices("gpu")[:1])
    except (RuntimeError, ValueError):  # JAX raises for a backend without GPUs
        return None
    indices = sorted({int(name.split(":")[1]) for name in map(str, devices)
                      if name.lower().startswith("gpu:")})
    return indices or None


def _hyperparameters(model: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    """The run's hyperparameters: ``fit``'s epochs and steps, the optimizer and its learning
    rate (when it is a number)."""
    values: dict[str, Any] = {name: (params or {}).get(name) for name in ("epochs", "steps")}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        values["optimizer"] = type(optimizer).__name__
        learning_rate = optimizer.get_config().get("learning_rate")
        if isinstance(learning_rate, (int, float)):
            values["learning_rate"] = learning_rate
    return plain_params(values)
