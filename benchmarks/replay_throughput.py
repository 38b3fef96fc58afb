"""Throughput of the crossbar replay against the same spiking network run by spikingjelly alone.

The digits CNN is trained for a few epochs, converted (rate coding, 99.9 %), and the whole test
set is run for T steps, interleaved (A B A B ...) so machine noise hits every variant alike:

* ``plain``: ``reset_net(snn); for t in range(T): out += snn(x)`` (spikingjelly alone);
* ``replay, static``: replay with energy accounting and the static non-idealities of the ReRAM
  preset (quantised 2-bit cells, 8-bit weights bit-sliced, variation), ideal ADC, no read noise;
* ``replay, ADC only``: static non-idealities and the 8-bit ADC on every column, no read noise;
* ``replay, noise only``: static non-idealities and read noise, ideal ADC (one exact Gaussian per
  output: the columns need not be resolved);
* ``replay, full``: the ReRAM preset as shipped: also the 8-bit ADC on every column and
  cycle-to-cycle read noise on every read (every column current of every bit plane resolved;
  the constant pixel input's repeated reads use the exact split sampler of
  ``neuromorphic_sim.adc_sampling``);
* ``replay, full + hold``: the same, the constant-input first layer read once per inference.

Each replay is timed from the built crossbar network (mapping is a one-off, timed separately).
Target: replay with energy accounting and non-idealities ≤ 2× plain inference.

    python benchmarks/replay_throughput.py --repeats 5 --timesteps 32
    python benchmarks/replay_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from spikingjelly.activation_based import functional
from torch import nn

import spiking
from nature_callback.demo.digits import DigitsCNN, load_digits_splits
from neuromorphic_sim import HardwareConfig, build_crossbar_network, presets


def train_digits(epochs: int) -> tuple[nn.Module, object]:
    """The digits CNN after ``epochs`` of Adam (fixed seed), and the splits."""
    torch.manual_seed(0)
    splits = load_digits_splits()
    model = DigitsCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs, labels = splits.train.tensors
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 32):
            batch = order[start : start + 32]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
            optimiser.step()
    return model.eval(), splits


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_runner(snn: nn.Module, x: torch.Tensor, timesteps: int) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        with torch.no_grad():
            functional.reset_net(snn)
            total = snn(x).clone()
            for _ in range(timesteps - 1):
                total += snn(x)
            functional.reset_net(snn)
        sync(x.device)
        return total / timesteps

    return run


def replay_runner(
    snn: nn.Module, hw: HardwareConfig, x: torch.Tensor, timesteps: int
) -> tuple[Callable[[], torch.Tensor], float]:
    started = time.perf_counter()
    network = build_crossbar_network(snn, hw).to(x.device)
    mapping_s = time.perf_counter() - started

    def run() -> torch.Tensor:
        network.reset_events()
        output = network.run(x, timesteps)
        for layer in network.layers.values():
            layer.events()  # read the counters back, as replay() does
        sync(x.device)
        return output

    return run, mapping_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    ann, splits = train_digits(args.epochs)
    model = spiking.convert(ann, splits.train, timesteps=args.timesteps).to(device)
    x = splits.test.tensors[0].to(device)
    quiet = presets.RERAM.with_parameter("adc_bits", None).with_parameter("c2c_read_noise", 0.0)
    variants: dict[str, Callable[[], torch.Tensor]] = {
        "plain": plain_runner(model.snn, x, args.timesteps)
    }
    mappings = {}
    for name, hw in (
        ("replay, static", quiet),
        ("replay, ADC only", presets.RERAM.with_parameter("c2c_read_noise", 0.0)),
        ("replay, noise only", presets.RERAM.with_parameter("adc_bits", None)),
        ("replay, full", presets.RERAM),
        ("replay, full + hold", presets.RERAM.with_parameter("hold_constant_inputs", True)),
    ):
        variants[name], mappings[name] = replay_runner(model.snn, hw, x, args.timesteps)

    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()  # warm-up
    for _ in range(args.repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)

    plain = statistics.median(times["plain"])
    samples = len(x)
    print(
        f"digits CNN, {samples} test samples, T = {args.timesteps}, device {device}, "
        f"{args.threads} thread(s), median of {args.repeats} interleaved runs"
    )
    print(f"{'variant':<22}{'time (s)':>10}{'samples/s':>12}{'× plain':>9}{'mapping (s)':>13}")
    for name, values in times.items():
        median = statistics.median(values)
        mapping = f"{mappings[name]:.3f}" if name in mappings else "-"
        print(
            f"{name:<22}{median:>10.3f}{samples / median:>12.0f}{median / plain:>9.2f}{mapping:>13}"
        )
    print("target: replay with energy accounting and non-idealities <= 2.00 x plain")


if __name__ == "__main__":
    main()
