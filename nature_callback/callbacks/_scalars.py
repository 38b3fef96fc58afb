"""Write a dict of scalars to a Lightning logger, cheaply for TensorBoard.

``TensorBoardLogger.log_metrics`` makes one event per scalar; each goes through the writer's
small queue (10 events) and, once it is full, the training thread waits for the writer
thread: about 40 µs per scalar. One ``Summary`` holding every value is one event (about
0.09 ms for 15 scalars instead of 0.6 ms), and TensorBoard reads it back as the same series.
Any other logger, or a TensorBoard logger this module does not recognise, gets the plain
``log_metrics`` call.
"""

from __future__ import annotations

from typing import Any


class ScalarWriter:
    """Writes scalars to one logger: one event per call for a TensorBoard logger, else
    ``log_metrics``. What the logger is, is looked up once (make one per fit)."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self._file_writer = _tensorboard_file_writer(logger)
        self._names: tuple[str, ...] = ()
        self._summary: Any = None
        """The last event's ``Summary``, reused while the names stay the same (the event is
        serialised as it is written, so its values can change afterwards)."""

    def write(self, metrics: dict[str, float], step: int) -> None:
        """``logger.log_metrics(metrics, step)``, as one event for a TensorBoard logger."""
        if self._file_writer is None:
            self.logger.log_metrics(metrics, step=step)
            return
        names = tuple(metrics)
        if names != self._names:
            from tensorboard.compat.proto.summary_pb2 import Summary

            self._summary = Summary(value=[Summary.Value(tag=name) for name in names])
            self._names = names
        for entry, value in zip(self._summary.value, metrics.values(), strict=True):
            entry.simple_value = float(value)
        self._file_writer.add_summary(self._summary, step)


def _tensorboard_file_writer(logger: Any) -> Any | None:
    """The event-file writer behind a Lightning ``TensorBoardLogger`` (torch's writer, no
    logger prefix), else None."""
    if type(logger).__name__ != "TensorBoardLogger" or getattr(logger, "_prefix", ""):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter

        experiment = logger.experiment
        if not isinstance(experiment, SummaryWriter):
            return None
        return experiment._get_file_writer()
    except Exception:  # noqa: BLE001 - a different layout: use the logger's own method
        return None
