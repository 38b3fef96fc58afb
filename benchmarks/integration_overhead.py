"""Overhead of each training integration: Lightning, Hugging Face Transformers and Keras 3.

For each framework a small training run on the CPU, with and without its callback (carbon
400 g/kWh, a temporary ledger, defaults otherwise), each fit in a fresh temporary folder:

- **Lightning**: the demo's training stage (``nature_callback.demo.training.train_stage``: the
  demo's CNN on the embedded digits, its Trainer settings and TensorBoard logger, 20 steps per
  epoch and a validation pass), with ``NatureCallback``;
- **Transformers**: ``transformers.Trainer`` on a one-layer BERT built from a ``BertConfig``
  (hidden size 32, 2 heads, vocabulary 64; nothing downloaded), 320 generated sequences of 16
  token ids for training (batch 16: 20 steps per epoch) and 64 for evaluation
  (``eval_strategy="epoch"``), ``report_to=["tensorboard"]``, no checkpoints, with
  ``NatureTrainerCallback.attach(trainer, ...)``;
- **Keras**: Keras 3 on the torch backend, a dense model (32 → 64 → 64 → 10) on 1,280
  generated samples (batch 64: 20 steps per epoch) and 256 for validation, ``verbose=0``,
  with ``NatureKerasCallback``.

Only ``fit`` / ``train()`` is timed (building the model, the Trainer and the callback is
not). Each round runs every (framework, arm) pair once, in a new random order; the whole-fit
ratio is "with" / "without" of the same framework in the same round (median, bootstrap 95 %
interval). The time inside the callback comes from a subclass that wraps each public hook
method the callback defines with ``time.perf_counter``. An epoch's hooks are every hook call
from its epoch-start hook up to the next epoch's start or the end of training (so the
evaluation that Transformers runs right after ``on_epoch_end`` counts with its epoch, as
Lightning's and Keras's validation do); every other hook call is per fit (setting up, the
sanity check, the end of training). The epoch length is the wall time of the same span.

Torch runs on one thread (``--threads``) so that fits on a shared machine vary less.

    python benchmarks/integration_overhead.py                 # 15 rounds, 2 to 4 min on 2 cores
    python benchmarks/integration_overhead.py --repeats 40
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # read when keras is first imported

import argparse
import contextlib
import functools
import gc
import io
import logging
import random
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from callback_overhead import bootstrap_interval

from nature_callback import NatureCallback
from nature_callback._lightning import CallbackBase, pl
from nature_callback.demo.digits import load_digits_splits
from nature_callback.demo.training import quiet_lightning, train_stage

CARBON = 400.0
STEPS_PER_EPOCH = 20


class HookTimes:
    """Hook times of one fit, filled by a timed callback: ``epoch_ms`` and ``epoch_s`` (one
    entry per epoch: time inside the hooks, wall time of the epoch), ``fit_ms`` (the rest)."""

    def __init__(self) -> None:
        self.epoch_ms: list[float] = []
        self.epoch_s: list[float] = []
        self.fit_ms = 0.0
        self._epoch_ms = 0.0
        self._epoch_started: float | None = None

    def close_epoch(self, now: float) -> None:
        if self._epoch_started is not None:
            self.epoch_ms.append(self._epoch_ms)
            self.epoch_s.append(now - self._epoch_started)
        self._epoch_ms, self._epoch_started = 0.0, None

    def hook(self, original: Callable[..., Any], owner: Any, kind: str, *args: Any,
             **kwargs: Any) -> Any:
        started = time.perf_counter()
        if kind in ("start", "end"):
            self.close_epoch(started)
        if kind == "start":
            self._epoch_started = started
        try:
            return original(owner, *args, **kwargs)
        finally:
            elapsed_ms = 1e3 * (time.perf_counter() - started)
            if self._epoch_started is not None:
                self._epoch_ms += elapsed_ms
            else:
                self.fit_ms += elapsed_ms


def timed(callback_class: type, framework_base: type, epoch_start: str, run_end: str) -> Any:
    """A subclass of ``callback_class`` whose public hook methods (those it defines that
    ``framework_base`` also has) are timed into its ``times`` (a :class:`HookTimes`)."""

    def wrap(name: str) -> Callable[..., Any]:
        original = getattr(callback_class, name)
        kind = "start" if name == epoch_start else "end" if name == run_end else "other"

        @functools.wraps(original)
        def hook(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self.times.hook(original, self, kind, *args, **kwargs)

        return hook

    hooks = sorted(name for name, value in vars(callback_class).items()
                   if not name.startswith("_") and callable(value)
                   and hasattr(framework_base, name))
    assert epoch_start in hooks and run_end in hooks, hooks
    namespace: dict[str, Any] = {name: wrap(name) for name in hooks}
    namespace["hooks"] = hooks
    return type(f"Timed{callback_class.__name__}", (callback_class,), namespace)


# ---------------------------------------------------------------------- Lightning
class LightningBench:
    name = "Lightning"
    callback_name = "NatureCallback"

    def __init__(self) -> None:
        self.splits = load_digits_splits(seed=0)
        self.timed = timed(NatureCallback, CallbackBase, "on_train_epoch_start", "on_fit_end")

    def fit(self, with_callback: bool, folder: Path, ledger: Path, epochs: int,
            times: HookTimes) -> float:
        pl.seed_everything(0, verbose=False)
        callback = None
        if with_callback:
            callback = self.timed(carbon=CARBON, ledger_path=ledger)
            callback.times = times
        gc.collect()
        started = time.perf_counter()
        train_stage(self.splits, folder, epochs, callback)
        return time.perf_counter() - started


# ---------------------------------------------------------------------- Transformers
class TransformersBench:
    name = "Transformers"
    callback_name = "NatureTrainerCallback"
    train_samples = STEPS_PER_EPOCH * 16
    eval_samples = 64

    def __init__(self) -> None:
        import transformers
        from transformers import BertConfig, TrainerCallback

        from nature_callback.integrations.transformers import NatureTrainerCallback

        transformers.logging.set_verbosity_error()
        self.transformers = transformers
        self.config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=64,
                                 max_position_embeddings=32)  # 2 labels (the default)
        generator = torch.Generator().manual_seed(0)
        samples = self.train_samples + self.eval_samples
        ids = torch.randint(0, 64, (samples, 16), generator=generator)
        labels = (ids[:, 0] >= 32).long()  # learnable from the first token
        rows = [{"input_ids": ids[n], "labels": labels[n]} for n in range(samples)]
        self.train_rows = rows[:self.train_samples]
        self.eval_rows = rows[self.train_samples:]
        self.timed = timed(NatureTrainerCallback, TrainerCallback, "on_epoch_begin",
                           "on_train_end")

    def fit(self, with_callback: bool, folder: Path, ledger: Path, epochs: int,
            times: HookTimes) -> float:
        from transformers import (
            BertForSequenceClassification,
            Trainer,
            TrainingArguments,
        )

        torch.manual_seed(0)
        model = BertForSequenceClassification(self.config)
        args = TrainingArguments(
            output_dir=str(folder), num_train_epochs=epochs, per_device_train_batch_size=16,
            per_device_eval_batch_size=32, eval_strategy="epoch", save_strategy="no",
            report_to=["tensorboard"], use_cpu=True, disable_tqdm=True, seed=0,
            dataloader_num_workers=0, learning_rate=1e-3)
        trainer = Trainer(model=model, args=args, train_dataset=self.train_rows,
                          eval_dataset=self.eval_rows)
        if with_callback:
            callback = self.timed.attach(trainer, carbon=CARBON, ledger_path=ledger)
            callback.times = times
        gc.collect()
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started


# ---------------------------------------------------------------------- Keras
class KerasBench:
    name = "Keras (torch)"
    callback_name = "NatureKerasCallback"
    train_samples = STEPS_PER_EPOCH * 64
    val_samples = 256

    def __init__(self) -> None:
        import keras
        import numpy as np

        from nature_callback.integrations.keras import NatureKerasCallback

        if keras.backend.backend() != "torch":
            raise SystemExit(f"Keras runs on {keras.backend.backend()}, not torch: set "
                             "KERAS_BACKEND=torch")
        self.keras = keras
        rng = np.random.default_rng(0)
        samples = self.train_samples + self.val_samples
        x = rng.standard_normal((samples, 32)).astype("float32")
        y = (x[:, :10].argmax(axis=1)).astype("int64")
        self.x, self.y = x[:self.train_samples], y[:self.train_samples]
        self.x_val, self.y_val = x[self.train_samples:], y[self.train_samples:]
        self.timed = timed(NatureKerasCallback, keras.callbacks.Callback, "on_epoch_begin",
                           "on_train_end")

    def fit(self, with_callback: bool, folder: Path, ledger: Path, epochs: int,
            times: HookTimes) -> float:
        keras = self.keras
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        callbacks = []
        if with_callback:
            callback = self.timed(carbon=CARBON, ledger_path=ledger, output_dir=folder)
            callback.times = times
            callbacks.append(callback)
        gc.collect()
        started = time.perf_counter()
        model.fit(self.x, self.y, batch_size=64, epochs=epochs, verbose=0,
                  validation_data=(self.x_val, self.y_val), callbacks=callbacks)
        return time.perf_counter() - started


FRAMEWORKS: dict[str, Any] = {"lightning": LightningBench, "transformers": TransformersBench,
              "keras": KerasBench}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="rounds (default: 15)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--only", nargs="+", choices=list(FRAMEWORKS), default=list(FRAMEWORKS),
                        help="frameworks to measure (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("nature_callback").setLevel(logging.ERROR)
    benches: list[Any] = [FRAMEWORKS[name]() for name in args.only]
    arms = [(bench, with_callback) for bench in benches for with_callback in (False, True)]
    times_s: dict[tuple[str, bool], list[float]] = {(b.name, w): [] for b, w in arms}
    hook_times: dict[str, list[HookTimes]] = {bench.name: [] for bench in benches}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def run(bench: Any, with_callback: bool, epochs: int) -> tuple[float, HookTimes]:
            folder = Path(tempfile.mkdtemp(dir=root))
            times = HookTimes()
            with contextlib.redirect_stdout(io.StringIO()):  # end-of-fit lines, Trainer.log
                elapsed_s = bench.fit(with_callback, folder, root / "ledger.sqlite", epochs,
                                      times)
            shutil.rmtree(folder)
            return elapsed_s, times

        for bench, with_callback in arms:  # warm-up: imports, first meter start, the ledger
            run(bench, with_callback, 1)
        order = random.Random(1)
        for _ in range(args.repeats):
            for bench, with_callback in order.sample(arms, k=len(arms)):
                elapsed_s, times = run(bench, with_callback, args.epochs)
                times_s[(bench.name, with_callback)].append(elapsed_s)
                if with_callback:
                    hook_times[bench.name].append(times)

    print(f"{args.repeats} rounds x {len(arms)} fits, {args.epochs} epochs per fit, "
          f"{STEPS_PER_EPOCH} optimizer steps per epoch, torch threads: {args.threads}")
    header = (f"{'framework':<14} {'callback':<22} {'epoch (s)':>9} {'hooks ms/epoch':>15} "
              f"{'% of epoch':>10} {'hooks ms/fit':>13} {'fit (s)':>8} "
              f"{'with/without':>12}  95 % interval")
    print(header)
    for bench in benches:
        recorded = hook_times[bench.name]
        epoch_ms = [ms for times in recorded for ms in times.epoch_ms]
        epoch_s = [s for times in recorded for s in times.epoch_s]
        fit_ms = [times.fit_ms for times in recorded]
        share = [ms / (1e3 * s) for times in recorded
                 for ms, s in zip(times.epoch_ms, times.epoch_s, strict=True)]
        without = times_s[(bench.name, False)]
        with_ = times_s[(bench.name, True)]
        ratios = [w / o for w, o in zip(with_, without, strict=True)]
        low, high = bootstrap_interval(ratios)
        print(f"{bench.name:<14} {bench.callback_name:<22} {statistics.median(epoch_s):>9.3f} "
              f"{statistics.median(epoch_ms):>15.3f} {100 * statistics.median(share):>9.2f}% "
              f"{statistics.median(fit_ms):>13.1f} {statistics.median(without):>8.3f} "
              f"{statistics.median(ratios):>12.3f}  {low:.3f} to {high:.3f}")
    print("epoch (s): median wall time of an epoch with the callback; fit (s): median fit "
          "without it; hooks: medians over epochs and fits; ratio: per round, median")
    for bench in benches:
        print(f"  {bench.callback_name} hooks timed: {', '.join(bench.timed.hooks)}")


if __name__ == "__main__":
    main()
