"""Throughput of the crossbar replay against the same spiking network run by spikingjelly alone,
and against the floor of a column-resolved, noisy read.

The digits CNN is trained for a few epochs, converted (rate coding, 99.9 %), and the whole test
set is run for T steps, interleaved (A B A B ...) so machine noise hits every variant alike:

* ``plain``: ``reset_net(snn); for t in range(T): out += snn(x)`` (spikingjelly alone);
* ``replay, static``: replay with energy accounting and the static non-idealities of the ReRAM
  preset (quantised 2-bit cells, 8-bit weights bit-sliced, variation), ideal ADC, no read noise;
* ``replay, ADC only``: static non-idealities and the 8-bit ADC on every column, no read noise:
  every column sum of every bit slice, sign column and bit plane, rounded and decoded;
* ``replay, noise only``: static non-idealities and read noise, ideal ADC (one exact Gaussian per
  output: the columns need not be resolved);
* ``Gaussians alone``: drawing one standard normal per noisy conversion of the full preset
  (every column of every row group read with an active word line, at every step), in chunks of
  ``column_read.CHUNK_CONVERSIONS`` into one reused buffer, and nothing else;
* ``replay, full``: the ReRAM preset as shipped: also the 8-bit ADC on every column and
  cycle-to-cycle read noise on every read;
* ``replay, full + hold``: the same, the constant-input first layer read once per inference.

The floor of the full preset is ``ADC only`` + ``Gaussians alone``: the column-resolved sums and
conversions it cannot skip, plus the noise a read drawn per conversion needs. The full preset
draws fewer than that where it can (repeated reads of a constant input draw only where noise can
change a code), so it may come out below its floor.

Each replay is timed from the built crossbar network (mapping is a one-off, timed separately).
Targets: replay with static non-idealities <= 2x plain inference; the full preset <= 1.3x its
floor.

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
from neuromorphic_sim import CrossbarNetwork, HardwareConfig, build_crossbar_network, presets
from neuromorphic_sim.column_read import CHUNK_CONVERSIONS

STATIC_TARGET = 2.0
"""Replay with static non-idealities: at most this many times plain inference."""
FLOOR_TARGET = 1.3
"""The full preset: at most this many times its floor (ADC only + Gaussians alone)."""


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
) -> tuple[Callable[[], torch.Tensor], float, CrossbarNetwork]:
    """The timed replay, the mapping time (s) and the network (its counters: the last run's)."""
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

    return run, mapping_s, network


def noisy_conversions(network: CrossbarNetwork) -> int:
    """Conversions of the last run that carry read noise: every column of every row group read
    with an active word line (the ADC conversions the energy model charges)."""
    return round(
        sum(
            layer.events().active_group_reads * layer.geometry.physical_columns
            for layer in network.layers.values()
        )
    )


def gaussian_runner(count: int, device: torch.device) -> Callable[[], torch.Tensor]:
    """Draw ``count`` standard normals in chunks of ``CHUNK_CONVERSIONS`` into one buffer."""
    buffer = torch.empty(CHUNK_CONVERSIONS, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    full_chunks, rest = divmod(count, CHUNK_CONVERSIONS)

    def run() -> torch.Tensor:
        for _ in range(full_chunks):
            buffer.normal_(generator=generator)
        buffer[:rest].normal_(generator=generator)
        sync(device)
        return buffer

    return run


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
    mappings, networks = {}, {}
    for name, hw in (
        ("replay, static", quiet),
        ("replay, ADC only", presets.RERAM.with_parameter("c2c_read_noise", 0.0)),
        ("replay, noise only", presets.RERAM.with_parameter("adc_bits", None)),
        ("replay, full", presets.RERAM),
        ("replay, full + hold", presets.RERAM.with_parameter("hold_constant_inputs", True)),
    ):
        variants[name], mappings[name], networks[name] = replay_runner(
            model.snn, hw, x, args.timesteps
        )

    for run in variants.values():
        run()  # warm-up
    gaussians = noisy_conversions(networks["replay, full"])
    variants["Gaussians alone"] = gaussian_runner(gaussians, device)
    variants["Gaussians alone"]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)

    medians = {name: statistics.median(values) for name, values in times.items()}
    plain = medians["plain"]
    floor = medians["replay, ADC only"] + medians["Gaussians alone"]
    samples = len(x)
    print(
        f"digits CNN, {samples} test samples, T = {args.timesteps}, device {device}, "
        f"{args.threads} thread(s), median of {args.repeats} interleaved runs"
    )
    print(f"{'variant':<24}{'time (s)':>10}{'samples/s':>12}{'× plain':>9}{'mapping (s)':>13}")
    rows = [*medians.items(), ("floor (ADC + Gaussians)", floor)]
    for name, median in rows:
        mapping = f"{mappings[name]:.3f}" if name in mappings else "-"
        print(
            f"{name:<24}{median:>10.3f}{samples / median:>12.0f}{median / plain:>9.2f}{mapping:>13}"
        )
    full = medians["replay, full"]
    print(
        f"Gaussians: {gaussians / 1e6:.1f} M per inference of the set "
        f"({gaussians / args.timesteps / 1e6:.2f} M per step)"
    )
    print(
        f"static / plain {medians['replay, static'] / plain:.2f} (target <= {STATIC_TARGET:.2f}); "
        f"full / plain {full / plain:.2f}; floor / plain {floor / plain:.2f}; "
        f"full / floor {full / floor:.2f} (target <= {FLOOR_TARGET:.2f})"
    )


if __name__ == "__main__":
    main()
