"""ScalarWriter: one TensorBoard event for many scalars, read back as the usual series."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nature_callback._lightning import LIGHTNING_NAMESPACES
from nature_callback.callbacks._scalars import ScalarWriter, _tensorboard_file_writer
from tests.nature_callback.callbacks.test_lightning_callback import read_scalars

METRICS = {"nature/power_w": 12.5, "nature/energy_j": 1e6, "epoch": 0.0}


@pytest.mark.parametrize("namespace", LIGHTNING_NAMESPACES, ids=lambda ns: ns.__name__)
@pytest.mark.parametrize("prefix", ["", "train"])
def test_tensorboard_series_read_back(namespace: object, prefix: str, tmp_path: Path) -> None:
    logger = namespace.loggers.TensorBoardLogger(str(tmp_path), name="run", prefix=prefix)
    # the one-event path is taken exactly when no prefix has to be added
    assert (_tensorboard_file_writer(logger) is not None) == (prefix == "")
    writer = ScalarWriter(logger)
    for step in range(3):
        writer.write({k: v + step for k, v in METRICS.items()}, step=step)
    logger.finalize("success")
    scalars = read_scalars(Path(logger.log_dir))
    tag = (prefix + "-" if prefix else "") + "nature/power_w"
    assert scalars[tag] == [12.5, 13.5, 14.5]
    assert scalars[tag.replace("power_w", "energy_j")] == [1e6, 1e6 + 1, 1e6 + 2]


def test_other_loggers_get_log_metrics(tmp_path: Path) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    logger = namespace.loggers.CSVLogger(str(tmp_path), name="run")
    assert _tensorboard_file_writer(logger) is None
    ScalarWriter(logger).write(METRICS, step=4)
    logger.finalize("success")
    with open(Path(logger.log_dir) / "metrics.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert float(row["nature/power_w"]) == 12.5 and row["step"] == "4"


def test_one_writer_reuses_its_event_and_follows_changing_names(tmp_path: Path) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    logger = namespace.loggers.TensorBoardLogger(str(tmp_path), name="run")
    writer = ScalarWriter(logger)
    writer.write({"a": 1.0, "b": 10.0}, step=0)
    writer.write({"a": 2.0, "b": 20.0}, step=1)  # same names: the Summary is reused
    writer.write({"a": 3.0, "flag": 1.0, "b": 30.0}, step=2)  # a new name: rebuilt
    writer.write({"a": 4.0, "b": 40.0}, step=3)
    logger.finalize("success")
    scalars = read_scalars(Path(logger.log_dir))
    assert scalars["a"] == [1.0, 2.0, 3.0, 4.0]  # each event kept the values of its own step
    assert scalars["b"] == [10.0, 20.0, 30.0, 40.0]
    assert scalars["flag"] == [1.0]
