"""Overhead of NatureCallback on the digits demo model.

Runs the demo's training stage (``nature_callback.demo.train_stage``: the same model, data,
Trainer settings and TensorBoard logger as ``nature demo``) with and without the callback,
interleaved (each round runs every arm once, in a random order) so that machine noise hits
them alike, and prints the median wall-time ratio of whole ``Trainer.fit`` calls (the
callback's start and end included) and the overhead per epoch. Target: <= 1.01 (1 % overhead). A third arm, an empty callback,
shows what any Lightning callback costs through the Trainer's hook calls alone (about 140
per epoch here), the floor under that figure.

Whole fits on a shared machine vary by several per cent from one run to the next, more than
the target, so the script also prints a bootstrap 95 % interval of the median ratio (100
rounds give about +-1 %) and three steadier figures that bound what the callback can take
from the training thread:
- the time spent inside the callback's own hooks, on the training thread;
- the CPU time of its own background threads (record writer, ledger worker);
- the extra CPU time of the logger's threads with the callback, against without it
  (TensorBoard's writer thread checksums every event in pure Python, holding the GIL).

    python benchmarks/callback_overhead.py --repeats 100               # as the demo
    python benchmarks/callback_overhead.py --repeats 100 --logger none # the callback alone
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from nature_callback import NatureCallback
from nature_callback._lightning import CallbackBase, pl
from nature_callback.demo import _quiet_lightning, train_stage
from nature_callback.digits import DigitsSplits, load_digits_splits

HOOKS = ("setup", "on_fit_start", "on_train_epoch_start", "on_train_epoch_end", "on_fit_end",
         "teardown", "state_dict")


EPOCH_HOOKS = ("on_train_epoch_start", "on_train_epoch_end")
"""Hooks called once per epoch; the others run once per fit."""


class TimedNatureCallback(NatureCallback):
    """NatureCallback that adds the wall time of each of its hooks to ``hook_s`` (and of the
    per-epoch hooks to ``epoch_hook_s``)."""

    hook_s = 0.0
    epoch_hook_s = 0.0


class ThreadCpu:
    """CPU time of the threads beside the training thread, each counted when it ends:
    the callback's own (``nature-*``: record writer, ledger worker; one still alive, the
    process's ledger worker, through its CPU clock) and, per arm, the others (the logger's
    writer thread, which serialises and checksums every event in Python: the scalars the
    callback logs cost CPU there too). A thread holds the GIL only while it runs Python, so
    this bounds what it can take from the training thread."""

    own_ended_s = 0.0
    other_s_by_arm: dict[str, float] = {}
    arm = ""
    """The arm being timed: threads ending now are charged to it."""
    lock = threading.Lock()

    @classmethod
    def install(cls) -> None:
        """Wrap every thread's bootstrap (``run`` may be overridden) to add its CPU time."""
        original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

        def bootstrap_inner(thread: threading.Thread) -> None:
            try:
                original(thread)
            finally:
                with cls.lock:
                    if thread.name.startswith("nature-"):
                        cls.own_ended_s += time.thread_time()
                    else:
                        cls.other_s_by_arm[cls.arm] = (
                            cls.other_s_by_arm.get(cls.arm, 0.0) + time.thread_time())

        threading.Thread._bootstrap_inner = bootstrap_inner  # type: ignore[attr-defined]

    @classmethod
    def own_s(cls) -> float:
        """CPU seconds of the ``nature-*`` threads that ended since ``install`` and of those
        alive now (read the difference over the timed part)."""
        live_s = 0.0
        for thread in threading.enumerate():
            if thread.name.startswith("nature-") and thread.ident is not None:
                try:
                    live_s += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
                except OSError:  # it ended meanwhile: counted in own_ended_s
                    continue
        with cls.lock:
            return cls.own_ended_s + live_s


def _timed(name: str) -> Any:
    hook = getattr(NatureCallback, name)

    def timed(self: TimedNatureCallback, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return hook(self, *args, **kwargs)
        finally:
            elapsed_s = time.perf_counter() - started
            TimedNatureCallback.hook_s += elapsed_s
            if name in EPOCH_HOOKS:
                TimedNatureCallback.epoch_hook_s += elapsed_s

    return timed


for _name in HOOKS:
    setattr(TimedNatureCallback, _name, _timed(_name))


class EmptyCallback(CallbackBase):  # type: ignore[misc, valid-type]
    """A callback doing nothing: what Lightning's hook calls alone cost."""


ARMS = ("without", "empty", "nature")


def train_once(splits: DigitsSplits, epochs: int, arm: str, root: Path,
               tensorboard: bool = True) -> float:
    """Wall time (s) of the demo's ``Trainer.fit`` with no callback, an empty one, or ours."""
    pl.seed_everything(0, verbose=False)
    callback = {
        "without": lambda: None,
        "empty": EmptyCallback,
        # defaults but for a fixed intensity (offline) and a ledger of its own
        "nature": lambda: TimedNatureCallback(pue=1.0, carbon=400.0, verbose=False,
                                              ledger_path=root / "ledger.sqlite"),
    }[arm]()
    gc.collect()  # the previous fit's garbage is not collected inside this one's timing
    started = time.perf_counter()
    train_stage(splits, root, epochs, callback, tensorboard=tensorboard)
    elapsed_s = time.perf_counter() - started
    if isinstance(callback, NatureCallback) and callback.tracker is not None:
        callback.tracker.wait_for_ledger()  # its final row, committed just after fit returns
    return elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=10, help="as nature demo (default 10)")
    parser.add_argument("--logger", choices=("tensorboard", "none"), default="tensorboard",
                        help="the demo's TensorBoard logger (default), or none: the callback's "
                             "own cost without the cost of writing its scalars")
    args = parser.parse_args()
    torch.set_num_threads(1)
    _quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    splits = load_digits_splits(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tensorboard = args.logger == "tensorboard"
        for arm in ARMS:  # warm-up: imports, first meter start
            train_once(splits, 1, arm, root, tensorboard)
        TimedNatureCallback.hook_s = TimedNatureCallback.epoch_hook_s = 0.0
        ThreadCpu.install()
        background_before_s = ThreadCpu.own_s()
        times_s: dict[str, list[float]] = {arm: [] for arm in ARMS}
        order = random.Random(1)  # each round runs the arms in a new order: no arm always last
        for _ in range(args.repeats):
            for arm in order.sample(ARMS, k=len(ARMS)):
                ThreadCpu.arm = arm
                times_s[arm].append(train_once(splits, args.epochs, arm, root, tensorboard))
        background_s = ThreadCpu.own_s() - background_before_s
    without_s = times_s["without"]
    epoch_s = statistics.median(without_s) / args.epochs
    print(f"{args.repeats} x {args.epochs} epochs, logger: {args.logger}; median fit: "
          + ", ".join(f"{arm} {statistics.median(times_s[arm]):.3f} s" for arm in ARMS)
          + f"; epochs of {1000 * epoch_s:.0f} ms")
    for arm, label in (("empty", "an empty callback (Lightning's hook calls)"),
                       ("nature", "NatureCallback")):
        ratios = [w / b for w, b in zip(times_s[arm], without_s, strict=True)]
        ratio = statistics.median(ratios)
        low, high = bootstrap_interval(ratios)
        per_epoch_ms = 1000 * (statistics.median(times_s[arm]) - statistics.median(without_s)) \
            / args.epochs
        print(f"{label}: median ratio {ratio:.4f} (overhead {100 * (ratio - 1):+.2f} %, 95 % "
              f"interval {100 * (low - 1):+.2f} to {100 * (high - 1):+.2f} %), "
              f"{per_epoch_ms:.2f} ms per epoch")
    hook_ms = 1000 * TimedNatureCallback.hook_s / (args.repeats * args.epochs)
    epoch_hook_ms = 1000 * TimedNatureCallback.epoch_hook_s / (args.repeats * args.epochs)
    print(f"inside NatureCallback's hooks: {hook_ms:.2f} ms per epoch "
          f"({100 * hook_ms / 1000 / epoch_s:.2f} % of an epoch), start and end of fit included: "
          f"{epoch_hook_ms:.2f} ms in the per-epoch hooks, "
          f"{(hook_ms - epoch_hook_ms) * args.epochs:.2f} ms per fit in the others")
    background_ms = 1000 * background_s / (args.repeats * args.epochs)
    others_ms = {arm: 1000 * ThreadCpu.other_s_by_arm.get(arm, 0.0) / (args.repeats * args.epochs)
                 for arm in ARMS}
    induced_ms = others_ms["nature"] - others_ms["without"]
    bound_ms = hook_ms + background_ms + max(induced_ms, 0.0)
    print(f"its background threads (record writer, ledger): {background_ms:.2f} ms CPU per epoch; "
          f"other threads (the logger's writer): {others_ms['without']:.2f} ms CPU per epoch "
          f"without the callback, {others_ms['nature']:.2f} ms with it ({induced_ms:+.2f} ms)")
    print(f"training-thread cost at most {bound_ms:.2f} ms per epoch "
          f"({100 * bound_ms / 1000 / epoch_s:.2f} % of an epoch): hooks + its threads' CPU + "
          "the extra CPU of the logger's threads")
    print("target: NatureCallback <= +1 %")


def bootstrap_interval(ratios: list[float], resamples: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of the median of ``ratios`` (fixed seed, reproducible)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
                     for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


if __name__ == "__main__":
    main()
