"""What the integration tests share: a tiny regression module, its data, Trainers of either
Lightning namespace, the figures the fake hardware must produce, and readers of what the
loggers and the record files hold.

With the ``fake_clock`` fixture every tracker a callback builds meters a ``FakeMeter`` drawing
``POWER_W`` on a ``FakeClock`` that only the module moves: ``STEP_S`` per training step and
``SETUP_S`` in ``on_fit_start`` (before the first epoch window, so in A). Every figure is then
known exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch
import pytest
import pytorch_lightning
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nature_callback import NatureCallback
from nature_callback._lightning import pl
from nature_callback.config import NatureConfig
from nature_callback.records import EpochRecord
from nature_callback.tracker import NatureTracker
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.fakes import FakeClock, FakeMeter

NAMESPACES = (lightning.pytorch, pytorch_lightning)
"""Both Lightning packages: the callback must work in the Trainer of each."""
DEFAULT = pl
"""The namespace ``NatureCallback`` derives from."""

PUE = 1.5
GRID_LOSS = 0.1
INTENSITY = 400.0
N_EXP = 2
FACTOR = PUE / (1 - GRID_LOSS)
"""Hardware energy → energy at the plant."""

BATCHES = 4
"""Training batches per epoch (64 samples in batches of 16)."""
STEP_S = 0.5
"""Fake seconds each training step takes."""
SETUP_S = 3.0
"""Fake seconds spent in ``on_fit_start``, outside any epoch window."""
EPOCH_S = BATCHES * STEP_S
EPOCH_J = POWER_W * FACTOR * EPOCH_S
"""Energy of one full epoch at the plant."""
A_J = POWER_W * FACTOR * SETUP_S
"""A of one fit: the set-up time at the plant."""
REL = 1e-9
"""Tolerance of figures computed from exact fake readings (float rounding only)."""
REL_F32 = 1e-6
"""Tolerance of figures kept as float32: Lightning's metrics, TensorBoard events, CSV."""

README_METRICS = tuple("nature/" + name for name in (
    "epoch_time_s", "power_w", "facility_w", "grid_loss_w", "epoch_energy_j",
    "carbon_intensity_g_per_kwh", "epoch_co2e_g", "energy_j", "co2e_kg", "nature_energy_j",
    "nature_co2e_kg", "forecast_co2e_kg", "cpu_power_w", "dram_power_w", "carbon_is_stale",
    "carbon_is_estimated"))
"""Every metric of README.md's "Logged metrics" table that a CPU run logs."""
CARBON_FLAGS = ("nature/carbon_is_stale", "nature/carbon_is_estimated")
"""Logged at the first epoch and when they change (README)."""


def patch_fake_hardware(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Make every ``NatureTracker.from_config`` (what the callback builds its tracker with)
    meter a ``FakeMeter`` (80 W package + 20 W DRAM) and time on one ``FakeClock``."""
    clock = FakeClock()
    build = NatureTracker.from_config.__func__  # type: ignore[attr-defined]

    def from_config(cls: type[NatureTracker], config: NatureConfig,
                    **kwargs: Any) -> NatureTracker:
        kwargs.setdefault("meter", FakeMeter(clock))
        kwargs.setdefault("clock", clock)
        return build(cls, config, **kwargs)

    monkeypatch.setattr(NatureTracker, "from_config", classmethod(from_config))
    return clock


def _module_class(namespace: Any) -> type:
    class Regression(namespace.LightningModule):  # type: ignore[misc, name-defined]
        """y = Σx with a small MLP; moves the fake clock and can fail mid-run."""

        def __init__(self, clock: FakeClock | None, crash_at_epoch: int | None,
                     interrupt: bool, val_step_s: float) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
            self.clock = clock
            self.val_step_s = val_step_s
            self.crash_at_epoch = crash_at_epoch
            self.interrupt = interrupt

        def on_fit_start(self) -> None:
            if self.clock is not None:
                self.clock.advance(SETUP_S)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.current_epoch == self.crash_at_epoch and batch_idx == 1:
                if self.interrupt:
                    raise KeyboardInterrupt
                raise RuntimeError("simulated failure in training_step")
            if self.clock is not None:
                self.clock.advance(STEP_S)
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            if self.clock is not None:
                self.clock.advance(self.val_step_s)
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Regression


_CLASSES = {namespace.__name__: _module_class(namespace) for namespace in NAMESPACES}


def make_module(clock: FakeClock | None = None, namespace: Any = DEFAULT,
                crash_at_epoch: int | None = None, interrupt: bool = False,
                val_step_s: float = 0.0) -> Any:
    """A regression LightningModule of ``namespace``; ``clock`` (the ``fake_clock`` fixture)
    advances ``STEP_S`` per step, ``SETUP_S`` at the start of fit and ``val_step_s`` per
    validation step."""
    return _CLASSES[namespace.__name__](clock, crash_at_epoch, interrupt, val_step_s)


def _dataset(samples: int) -> TensorDataset:
    x = torch.randn(samples, 8, generator=torch.Generator().manual_seed(0))
    return TensorDataset(x, x.sum(1, keepdim=True))


def train_loader(samples: int = BATCHES * 16) -> DataLoader:
    """``samples / 16`` batches (``BATCHES`` by default)."""
    return DataLoader(_dataset(samples), batch_size=16)


def val_loader() -> DataLoader:
    """One validation batch."""
    return DataLoader(_dataset(64), batch_size=64)


def make_callback(tmp_path: Path, **overrides: Any) -> NatureCallback:
    """The callback under test: fixed carbon, a ledger in ``tmp_path``, no summary print."""
    options: dict[str, Any] = dict(pue=PUE, grid_loss=GRID_LOSS, carbon=INTENSITY, n_exp=N_EXP,
                                   verbose=False, ledger_path=tmp_path / "ledger.sqlite")
    options.update(overrides)
    return NatureCallback(**options)


def make_trainer(tmp_path: Path, callback: NatureCallback, *, namespace: Any = DEFAULT,
                 epochs: int = 3, logger: Any = False, **kwargs: Any) -> Any:
    """A CPU Trainer of ``namespace``; ``logger="tensorboard"`` gives a TensorBoardLogger."""
    if logger == "tensorboard":
        logger = namespace.loggers.TensorBoardLogger(str(tmp_path / "logs"), name="run")
    options: dict[str, Any] = dict(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=logger, callbacks=[callback],
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path), log_every_n_steps=1, num_sanity_val_steps=0,
    )
    options.update(kwargs)
    return namespace.Trainer(**options)


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series, as (step, value) pairs, in the TensorBoard event files of
    ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def values(series: list[tuple[int, float]]) -> list[float]:
    """The values of a (step, value) series."""
    return [value for _, value in series]


def expected_epoch(index: int, *, a_j: float = A_J, n_exp: int = N_EXP,
                   planned_epochs: int | None = 3) -> dict[str, float]:
    """Every metric the fake hardware must give at the end of full epoch ``index`` of a fit
    that started from scratch (A = ``a_j``, every epoch ``EPOCH_S`` long at ``POWER_W``)."""
    energy_j = a_j + (index + 1) * EPOCH_J
    co2e_kg = energy_j / 3.6e6 * INTENSITY / 1000
    epoch_co2e_g = EPOCH_J / 3.6e6 * INTENSITY
    metrics = {
        "nature/epoch_time_s": EPOCH_S,
        "nature/power_w": POWER_W,
        "nature/facility_w": (PUE - 1) * POWER_W,
        "nature/grid_loss_w": PUE * POWER_W * GRID_LOSS / (1 - GRID_LOSS),
        "nature/epoch_energy_j": EPOCH_J,
        "nature/carbon_intensity_g_per_kwh": INTENSITY,
        "nature/epoch_co2e_g": epoch_co2e_g,
        "nature/energy_j": energy_j,
        "nature/co2e_kg": co2e_kg,
        "nature/nature_energy_j": n_exp * energy_j,
        "nature/nature_co2e_kg": n_exp * co2e_kg,
        "nature/cpu_power_w": 0.8 * POWER_W,
        "nature/dram_power_w": 0.2 * POWER_W,
        "nature/cpu0_power_w": 0.8 * POWER_W,
        "nature/dram0_power_w": 0.2 * POWER_W,
        "nature/carbon_is_stale": 0.0,
        "nature/carbon_is_estimated": 0.0,
    }
    if planned_epochs is not None:
        remaining = planned_epochs - index - 1
        metrics["nature/forecast_co2e_kg"] = n_exp * (co2e_kg + remaining * epoch_co2e_g / 1000)
    return metrics


def assert_metrics(actual: dict[str, float], expected: dict[str, float], rel: float) -> None:
    """Each expected metric is in ``actual`` and equal within ``rel``."""
    missing = sorted(set(expected) - set(actual))
    assert not missing, f"missing metrics: {missing}"
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=rel, abs=1e-12), name


def record_metrics(epoch: dict[str, Any]) -> dict[str, float]:
    """What the callback logs for an epoch line of ``nature_epochs.jsonl``."""
    record = EpochRecord.from_dict(epoch)
    return record.metrics() | record.detail_metrics()
