"""Overhead of NatureCallback on the demo's training, beside an empty callback and CodeCarbon.

Each fit is the demo's training stage (``nature_callback.demo.training.train_stage``: the same
model, data, Trainer settings and TensorBoard logger as ``nature demo``), 10 epochs, in a fresh
temporary folder. Arms:

- ``without``: no callback (the baseline);
- ``empty``: a callback with no hooks (what Lightning's hook calls alone cost);
- ``nature``: ``NatureCallback(carbon=400.0, ledger_path=<temporary ledger>)``, defaults
  otherwise;
- ``codecarbon`` (when codecarbon is installed): a callback that starts a CodeCarbon
  ``OfflineEmissionsTracker(country_iso_code="DEU")`` in ``setup`` and stops it in
  ``on_fit_end`` (offline, default ``measure_power_secs``, CSV in a temporary folder, log level
  error).

Each round runs every arm once, in a new random order. The script prints, for each arm, the
median whole-fit time ratio against ``without`` in the same round, with a bootstrap 95 %
interval; and for NatureCallback the time spent inside its hooks, measured by a subclass that
wraps its public hook methods with ``time.perf_counter``:

- per-epoch hooks (``on_train_epoch_start``, ``on_train_epoch_end``, the validation window's
  ``on_validation_start``/``on_validation_end`` and every ``on_train_batch_end``), median ms per
  epoch,
  target <= 1 ms;
- per-fit hooks (``setup``, ``on_fit_start``, ``on_train_start``, ``on_fit_end``,
  ``teardown``, and the sanity check's validation window), median ms per fit, target <= 30 ms.

Torch runs on one thread (``--threads``) so that fits on a shared machine vary less.

    python benchmarks/callback_overhead.py                 # 20 rounds
    python benchmarks/callback_overhead.py --repeats 60
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import logging
import random
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from nature_callback import NatureCallback
from nature_callback._lightning import CallbackBase, pl
from nature_callback.demo.digits import DigitsSplits, load_digits_splits
from nature_callback.demo.training import quiet_lightning, train_stage

EPOCH_TARGET_MS = 1.0
FIT_TARGET_MS = 30.0
CODECARBON = importlib.util.find_spec("codecarbon") is not None


class TimedNatureCallback(NatureCallback):
    """NatureCallback that times its public hooks: ``epoch_ms`` (one entry per epoch: the
    epoch's start and end, its validation window and every batch end) and ``fit_ms`` (one entry
    per fit: the per-fit hooks and the sanity check's validation window, summed)."""

    epoch_ms: list[float] = []
    fit_ms: list[float] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fit_s = 0.0
        self._epoch_s = 0.0

    def _per_fit(self, hook: Any, *args: Any) -> None:
        started = time.perf_counter()
        hook(*args)
        self._fit_s += time.perf_counter() - started

    def _per_epoch(self, hook: Any, *args: Any) -> None:
        started = time.perf_counter()
        hook(*args)
        self._epoch_s += time.perf_counter() - started

    def _per_epoch_or_fit(self, hook: Any, trainer: Any, pl_module: Any) -> None:
        """Validation hooks: per fit in the sanity check, else per epoch."""
        timed = self._per_fit if trainer.sanity_checking else self._per_epoch
        timed(hook, trainer, pl_module)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._per_fit(super().setup, trainer, pl_module, stage)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._per_fit(super().on_fit_start, trainer, pl_module)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._per_fit(super().on_train_start, trainer, pl_module)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._per_fit(super().on_fit_end, trainer, pl_module)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._per_fit(super().teardown, trainer, pl_module, stage)
        TimedNatureCallback.fit_ms.append(1e3 * self._fit_s)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._per_epoch_or_fit(super().on_validation_start, trainer, pl_module)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._per_epoch_or_fit(super().on_validation_end, trainer, pl_module)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._per_epoch(super().on_train_batch_end, trainer, pl_module, outputs, batch,
                        batch_idx)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._per_epoch(super().on_train_epoch_start, trainer, pl_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._per_epoch(super().on_train_epoch_end, trainer, pl_module)
        TimedNatureCallback.epoch_ms.append(1e3 * self._epoch_s)
        self._epoch_s = 0.0


class EmptyCallback(CallbackBase):  # type: ignore[misc, valid-type]
    """A callback doing nothing."""


class CodeCarbonCallback(CallbackBase):  # type: ignore[misc, valid-type]
    """CodeCarbon's offline tracker started when the fit is set up and stopped when it ends;
    ``fit_ms`` records the time of the two calls per fit."""

    fit_ms: list[float] = []

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.tracker: Any = None
        self._fit_s = 0.0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        from codecarbon import OfflineEmissionsTracker

        started = time.perf_counter()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.tracker = OfflineEmissionsTracker(
            country_iso_code="DEU", output_dir=str(self.output_dir), save_to_file=True,
            log_level="error")
        self.tracker.start()
        self._fit_s = time.perf_counter() - started

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        started = time.perf_counter()
        self.tracker.stop()
        self._fit_s += time.perf_counter() - started
        CodeCarbonCallback.fit_ms.append(1e3 * self._fit_s)


def make_callback(arm: str, folder: Path, ledger: Path) -> Any:
    if arm == "without":
        return None
    if arm == "empty":
        return EmptyCallback()
    if arm == "nature":
        return TimedNatureCallback(carbon=400.0, ledger_path=ledger)
    return CodeCarbonCallback(folder / "codecarbon")


def train_once(splits: DigitsSplits, epochs: int, arm: str, root: Path) -> float:
    """Wall time (s) of one ``Trainer.fit`` of the demo in a fresh folder under ``root``."""
    folder = Path(tempfile.mkdtemp(dir=root))
    pl.seed_everything(0, verbose=False)
    callback = make_callback(arm, folder, root / "ledger.sqlite")
    gc.collect()  # the previous fit's garbage is not collected inside this one's timing
    with contextlib.redirect_stdout(io.StringIO()):  # NatureCallback's end-of-fit line
        started = time.perf_counter()
        train_stage(splits, folder, epochs, callback)
        elapsed_s = time.perf_counter() - started
    shutil.rmtree(folder)
    return elapsed_s


def bootstrap_interval(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of the median of ``values`` (fixed seed)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="rounds (default: 20)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per fit (default: 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", module="codecarbon")
    if CODECARBON:
        import codecarbon  # noqa: F401  (it sets its logger's level on import)

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
    arms = ["without", "empty", "nature"] + (["codecarbon"] if CODECARBON else [])
    splits = load_digits_splits(seed=0)
    times_s: dict[str, list[float]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for arm in arms:  # warm-up: imports, first meter start, the ledger file
            train_once(splits, 1, arm, root)
        TimedNatureCallback.epoch_ms.clear()
        TimedNatureCallback.fit_ms.clear()
        CodeCarbonCallback.fit_ms.clear()
        order = random.Random(1)
        for _ in range(args.repeats):
            for arm in order.sample(arms, k=len(arms)):
                times_s[arm].append(train_once(splits, args.epochs, arm, root))

    print(f"{args.repeats} rounds x {len(arms)} arms, {args.epochs} epochs per fit, "
          f"torch threads: {args.threads}"
          + ("" if CODECARBON else "; codecarbon not installed: its arm skipped"))
    print(f"{'arm':<11} {'median fit (s)':>15} {'ratio':>7}  95 % interval")
    without = times_s["without"]
    for arm in arms:
        median_s = statistics.median(times_s[arm])
        if arm == "without":
            print(f"{arm:<11} {median_s:>15.3f} {1:>7.3f}")
            continue
        ratios = [t / w for t, w in zip(times_s[arm], without, strict=True)]
        low, high = bootstrap_interval(ratios)
        print(f"{arm:<11} {median_s:>15.3f} {statistics.median(ratios):>7.3f}  "
              f"{low:.3f} to {high:.3f}")
    epoch_ms = statistics.median(TimedNatureCallback.epoch_ms)
    fit_ms = statistics.median(TimedNatureCallback.fit_ms)
    print(f"NatureCallback per-epoch hooks: median {epoch_ms:.3f} ms per epoch "
          f"(max {max(TimedNatureCallback.epoch_ms):.3f}), target <= {EPOCH_TARGET_MS} ms: "
          f"{'met' if epoch_ms <= EPOCH_TARGET_MS else 'NOT met'}")
    print(f"NatureCallback per-fit hooks: median {fit_ms:.1f} ms per fit "
          f"(max {max(TimedNatureCallback.fit_ms):.1f}), target <= {FIT_TARGET_MS} ms: "
          f"{'met' if fit_ms <= FIT_TARGET_MS else 'NOT met'}")
    if CODECARBON:
        print(f"CodeCarbon start + stop: median {statistics.median(CodeCarbonCallback.fit_ms):.1f}"
              " ms per fit")


if __name__ == "__main__":
    main()
