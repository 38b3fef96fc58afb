"""From a trained model to the side-by-side figure: ANN vs SNN on a memristor crossbar.

Runs offline on scikit-learn's bundled digits, in under a minute on a CPU:

    python examples/crossbar_figure.py --epochs 10 --out crossbar_example
    tensorboard --logdir crossbar_example      # the figure is under IMAGES

Steps: train the digits CNN with Lightning (NatureCallback measures the training's energy and
carbon, a TensorBoardLogger records it); convert it to a spiking network (``spiking.convert``);
replay the ANN and the SNN on the ReRAM preset; sweep one parameter over hardware seeds (mean ±
sd); draw the figure (PNG, SVG, and a TensorBoard image through the trainer's logger) with the
run's NATURE in the caption.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import spiking
from nature_callback import NatureCallback
from nature_callback._lightning import pl
from nature_callback.demo.digits import load_digits_splits
from nature_callback.demo.training import train_stage
from neuromorphic_sim import digital_reference, map_model, presets, replay, side_by_side, sweep

SWEEPS = {
    "timesteps": [4, 8, 16, 32],
    "d2d_variation": [0.0, 0.05, 0.1, 0.2, 0.4],
    "adc_bits": [4, 5, 6, 8],
    "drift_time_s": [0.0, 3600.0, 86400.0, 31_536_000.0],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--preset", choices=["RERAM", "PCM", "SPIKESIM"], default="RERAM")
    parser.add_argument("--sweep", choices=sorted(SWEEPS), default="adc_bits")
    parser.add_argument(
        "--samples", type=int, default=None, help="test samples to replay (default: all)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="hardware seeds of the sweep"
    )
    parser.add_argument("--out", default="crossbar_example", help="folder for logs and the figure")
    args = parser.parse_args(argv)

    pl.seed_everything(0, verbose=False)
    out = Path(args.out)
    splits = load_digits_splits()
    train_loader, _, test_loader = splits.loaders(batch_size=64)

    nature = NatureCallback(
        pue=1.0, output_dir=str(out), ledger_path=False, verbose=False, progress_bar=False
    )
    module, trainer = train_stage(splits, out, args.epochs, nature)
    summary = nature.tracker.summary().to_dict() if nature.tracker is not None else None

    model = spiking.convert(module.model, train_loader, timesteps=args.timesteps)
    config = getattr(presets, args.preset)
    print(map_model(model, config).to_table())

    snn = replay(model, test_loader, config, max_samples=args.samples)
    ann = replay(model.ann, test_loader, config, max_samples=args.samples)
    digital = digital_reference(model.ann, test_loader, max_samples=args.samples)
    trade_off = sweep(
        model,
        test_loader,
        args.sweep,
        SWEEPS[args.sweep],
        config,
        seeds=args.seeds,
        max_samples=args.samples,
    )
    for report in (snn, ann):
        print(report.to_table())
    print(trade_off.to_table())

    paths = side_by_side(
        snn, ann, digital, trade_off, out, nature_summary=summary, tensorboard=trainer
    )
    print(f"figure: {paths.png}, {paths.svg}; logged to TensorBoard: {paths.logged_to_tensorboard}")


if __name__ == "__main__":
    main()
