"""Cost of the ``spiking`` wrapper against calling spikingjelly directly, same model, same run.

Measures, interleaved (A B A B ...) so machine noise hits both alike, the median wall time of

* conversion: ``spiking.convert`` (checks, deep copies, probing, calibration) against
  ``ann2snn.Converter(RateCodingRecipe(...)).convert`` on a copy of the same model;
* inference for T steps: ``SpikingModel.run`` (statistics off) and ``SpikingModel.statistics``
  (statistics on) against a plain loop ``reset_net(snn); for t in range(T): out += snn(x)``.

Targets: run <= 1.10 x plain spikingjelly, statistics <= 1.30 x. ``statistics`` reads a tensor
in batches of 256, as it reads any data, so with ``--batch`` above 256 it runs smaller batches
than the plain loop and its ratio can fall below 1.

    python benchmarks/spiking_overhead.py --repeats 7 --timesteps 32 --batch 256 1024
    python benchmarks/spiking_overhead.py --device cuda
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TQDM_DISABLE", "1")  # spikingjelly's calibration loop prints a progress bar

import torch  # noqa: E402
from spikingjelly.activation_based import ann2snn, functional  # noqa: E402
from torch import nn  # noqa: E402

import spiking  # noqa: E402
from nature_callback.demo.digits import load_digits_splits  # noqa: E402
from spiking.demo import train_digits_cnn  # noqa: E402

RUN_TARGET = 1.10
"""The wrapper without statistics costs at most 10 % over plain spikingjelly."""
STATISTICS_TARGET = 1.30
"""The wrapper with statistics costs at most 30 % over plain spikingjelly."""


def timed(function: Callable[[], object], device: torch.device) -> float:
    """Wall time (s) of one call, with the device synchronised at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def interleaved(functions: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each function, calls interleaved, after one warm-up round."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(timed(function, device))
    return {name: statistics.median(values) for name, values in times.items()}


def plain_run(snn: nn.Module, x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """What a user of spikingjelly writes: reset, T steps, average."""
    with torch.no_grad():
        functional.reset_net(snn)
        total = snn(x).clone()
        for _ in range(timesteps - 1):
            total.add_(snn(x))
        functional.reset_net(snn)
    return total / timesteps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the CNN before converting")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    splits = load_digits_splits()
    model = train_digits_cnn(splits, epochs=args.epochs).to(device)
    train_x, test_x = splits.train.tensors[0], splits.test.tensors[0]
    calibration = [batch.to(device) for batch in train_x.split(256)]

    conversion = interleaved(
        {
            "spikingjelly": lambda: ann2snn.Converter(
                recipe=ann2snn.RateCodingRecipe(calibration, mode="99.9%")
            ).convert(copy.deepcopy(model)),
            "spiking": lambda: spiking.convert(model, calibration, mode="99.9%"),
        },
        args.repeats,
        device,
    )
    print(f"device {device}, {torch.get_num_threads()} CPU thread(s), DigitsCNN, {args.repeats} repeats (medians)")
    print(f"conversion (99.9 %, {len(train_x)} calibration samples): spikingjelly "
          f"{1e3 * conversion['spikingjelly']:.1f} ms, spiking.convert {1e3 * conversion['spiking']:.1f} ms, "
          f"ratio {conversion['spiking'] / conversion['spikingjelly']:.2f}")

    converted = spiking.convert(model, calibration, mode="99.9%", timesteps=args.timesteps)
    print(f"\ninference, T = {args.timesteps}")
    print(f"{'batch':>6}{'plain ms':>10}{'run ms':>9}{'ratio':>7}{'stats ms':>10}{'ratio':>7}  targets")
    verdicts = []
    for batch_size in args.batch:
        x = test_x.repeat(batch_size // len(test_x) + 1, 1, 1, 1)[:batch_size].to(device)
        times = interleaved(
            {
                "plain": lambda: plain_run(converted.snn, x, args.timesteps),
                "run": lambda: converted.run(x, args.timesteps),
                "statistics": lambda: converted.statistics(x, args.timesteps),
            },
            args.repeats,
            device,
        )
        run_ratio = times["run"] / times["plain"]
        stats_ratio = times["statistics"] / times["plain"]
        ok = run_ratio <= RUN_TARGET and stats_ratio <= STATISTICS_TARGET
        verdicts.append(ok)
        print(f"{batch_size:>6}{1e3 * times['plain']:>10.1f}{1e3 * times['run']:>9.1f}{run_ratio:>7.2f}"
              f"{1e3 * times['statistics']:>10.1f}{stats_ratio:>7.2f}  "
              f"{'met' if ok else 'MISSED'} (<= {RUN_TARGET:.2f}, <= {STATISTICS_TARGET:.2f})")
    print("\nall targets met" if all(verdicts) else "\nsome targets missed (see above)")


if __name__ == "__main__":
    main()
