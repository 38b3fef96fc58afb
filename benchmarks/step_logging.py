"""Cost of step logging: ``NatureCallback(log_every_n_steps=1)`` on the demo's training.

Each fit is the demo's training stage (``nature_callback.demo.training.train_stage``: the
demo's model, data, Trainer settings and TensorBoard logger; 20 optimizer steps per epoch),
in a fresh temporary folder, with one of two callbacks:

- ``steps``: ``NatureCallback(log_every_n_steps=1, carbon=400.0, ledger_path=<temporary>)``:
  every optimizer step gets a step record (the tracker's running figures, a ``step`` line in
  ``nature_epochs.jsonl``, the metrics in ``trainer.callback_metrics`` and every logger);
- ``epochs``: the same with ``log_every_n_steps=None``: ``on_train_batch_end`` returns at once.

A subclass times every call of ``on_train_batch_end`` with ``time.perf_counter``; a call is a
logged step when it wrote a step record. Each round runs both arms once, in a new random
order. The script prints the median (and 90th percentile) ms per call of each arm, the
difference (what a logged step adds to a batch end), and the whole-fit time ratio
``steps`` / ``epochs`` in the same round (median, bootstrap 95 % interval).
Target: <= 1 ms per logged step (the ``steps`` median).

Torch runs on one thread (``--threads``) so that fits on a shared machine vary less.

    python benchmarks/step_logging.py                 # 10 rounds, about 30 s on 2 cores
    python benchmarks/step_logging.py --repeats 30
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import random
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
from callback_overhead import bootstrap_interval

from nature_callback import NatureCallback
from nature_callback._lightning import pl
from nature_callback.demo.digits import DigitsSplits, load_digits_splits
from nature_callback.demo.training import quiet_lightning, train_stage

TARGET_MS = 1.0
ARMS = {"steps": 1, "epochs": None}
"""Arm name: ``log_every_n_steps``."""


class TimedBatchEnd(NatureCallback):
    """NatureCallback timing each ``on_train_batch_end`` call: ``logged_ms`` for calls that
    wrote a step record, ``skipped_ms`` for calls that returned without one."""

    logged_ms: ClassVar[list[float]] = []
    skipped_ms: ClassVar[list[float]] = []

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        before = self._last_step_logged
        started = time.perf_counter()
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        elapsed_ms = 1e3 * (time.perf_counter() - started)
        logged = self._last_step_logged != before
        (TimedBatchEnd.logged_ms if logged else TimedBatchEnd.skipped_ms).append(elapsed_ms)


def train_once(splits: DigitsSplits, epochs: int, every: int | None, root: Path) -> float:
    """Wall time (s) of one ``Trainer.fit`` of the demo in a fresh folder under ``root``."""
    folder = Path(tempfile.mkdtemp(dir=root))
    pl.seed_everything(0, verbose=False)
    callback = TimedBatchEnd(carbon=400.0, ledger_path=root / "ledger.sqlite",
                             log_every_n_steps=every)
    gc.collect()
    with contextlib.redirect_stdout(io.StringIO()):  # the end-of-fit line
        started = time.perf_counter()
        train_stage(splits, folder, epochs, callback)
        elapsed_s = time.perf_counter() - started
    shutil.rmtree(folder)
    return elapsed_s


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="rounds (default: 10)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    splits = load_digits_splits(seed=0)
    times_s: dict[str, list[float]] = {arm: [] for arm in ARMS}
    logged_ms: dict[str, list[float]] = {arm: [] for arm in ARMS}
    skipped_ms: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for every in ARMS.values():  # warm-up: imports, first meter start, the ledger file
            train_once(splits, 1, every, root)
        order = random.Random(1)
        for _ in range(args.repeats):
            for arm in order.sample(list(ARMS), k=len(ARMS)):
                TimedBatchEnd.logged_ms.clear()
                TimedBatchEnd.skipped_ms.clear()
                times_s[arm].append(train_once(splits, args.epochs, ARMS[arm], root))
                logged_ms[arm] += TimedBatchEnd.logged_ms
                skipped_ms[arm] += TimedBatchEnd.skipped_ms

    steps = logged_ms["steps"]  # every call of this arm logs (global_step moves each batch)
    epochs = skipped_ms["epochs"]  # no call of this arm logs
    print(f"{args.repeats} rounds x 2 arms, {args.epochs} epochs per fit, torch threads: "
          f"{args.threads}; batch-end calls timed: log_every_n_steps=1: {len(steps)} logged + "
          f"{len(skipped_ms['steps'])} not; None: {len(logged_ms['epochs'])} logged + "
          f"{len(epochs)} not")
    print(f"{'on_train_batch_end':<40} {'median ms/call':>15} {'p90 ms/call':>12}")
    print(f"{'log_every_n_steps=1, logged steps':<40} {statistics.median(steps):>15.3f} "
          f"{percentile(steps, 0.9):>12.3f}")
    print(f"{'log_every_n_steps=None':<40} {statistics.median(epochs):>15.4f} "
          f"{percentile(epochs, 0.9):>12.4f}")
    ratios = [s / e for s, e in zip(times_s["steps"], times_s["epochs"], strict=True)]
    low, high = bootstrap_interval(ratios)
    print(f"whole fit: median {statistics.median(times_s['steps']):.3f} s (steps) / "
          f"{statistics.median(times_s['epochs']):.3f} s (epochs); ratio "
          f"{statistics.median(ratios):.3f} (95 % interval {low:.3f} to {high:.3f})")
    median_ms = statistics.median(steps)
    print(f"step logging: median {median_ms:.3f} ms per logged step "
          f"(+{median_ms - statistics.median(epochs):.3f} ms over a batch end that logs nothing), "
          f"target <= {TARGET_MS} ms: {'met' if median_ms <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
