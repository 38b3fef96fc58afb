"""NatureTracker in a hand-written PyTorch loop: epochs, a validation window, running figures
every N optimizer steps and an inference window. Offline, on generated data, in seconds:

    python examples/plain_loop_with_windows.py --epochs 2 --carbon DE

The same calls work in a Lightning Fabric loop; under DDP give the tracker
``distributed=torch_distributed(device=fabric.device)`` (see docs/integrations.md).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nature_callback import NatureTracker


def carbon_option(value: str) -> float | str:
    """``--carbon``: g CO2e/kWh as a number, else a country code or cloud region."""
    try:
        return float(value)
    except ValueError:
        return value


def loaders(samples: int = 2048, features: int = 32) -> tuple[DataLoader, DataLoader]:
    """A generated regression task (y = a fixed linear map of x plus noise): train and
    validation loaders."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, features, generator=generator)
    y = x @ torch.randn(features, 1, generator=generator) + 0.1 * torch.randn(
        samples, 1, generator=generator)
    split = samples * 3 // 4
    return (DataLoader(TensorDataset(x[:split], y[:split]), batch_size=64, shuffle=True,
                       generator=generator),
            DataLoader(TensorDataset(x[split:], y[split:]), batch_size=256))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--carbon", type=carbon_option, default=None,
                        help="g CO2e/kWh, a country code or a cloud region (default: automatic)")
    parser.add_argument("--log-every", type=int, default=8, help="optimizer steps between logs")
    parser.add_argument("--out", default="nature_plain_windows", help="folder of the records")
    args = parser.parse_args()

    torch.manual_seed(0)
    train_loader, val_loader = loaders()
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    step = 0

    with NatureTracker(pue=1.0, carbon=args.carbon, planned_epochs=args.epochs,
                       output_dir=args.out, project="plain-windows-example") as tracker:
        tracker.params = {"lr": 1e-2, "batch_size": 64}  # kept with the run's ledger row
        for _ in range(args.epochs):
            with tracker.epoch():
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(x), y).backward()
                    optimizer.step()
                    step += 1
                    if step % args.log_every == 0:  # running figures inside the epoch
                        running = tracker.step(step)
                        print(f"  step {step}: {running.energy_j:.1f} J so far")
                with tracker.window("validation"):  # the epoch pauses; not in A either
                    model.eval()
                    with torch.no_grad():
                        val_loss = sum(float(loss_fn(model(x), y)) for x, y in val_loader)
            epoch = tracker.last_epoch
            assert epoch is not None
            print(f"epoch {epoch.terms.epoch}: val loss {val_loss / len(val_loader):.3f}, "
                  f"T={epoch.terms.epoch_time_s:.2f} s, E={epoch.terms.power_w:.1f} W, "
                  f"NATURE={epoch.nature_co2e_kg:.3e} kg CO2e")
        with tracker.window("inference"), torch.no_grad():
            model(torch.randn(4096, 32))

    summary = tracker.summary()
    windows = ", ".join(f"{name} {values['energy_j']:.1f} J"
                        for name, values in summary.windows.items())
    print(f"NATURE {summary.nature_co2e_kg:.3e} kg CO2e ({summary.energy_j:.1f} J; windows: "
          f"{windows}; A {summary.a_energy_j:.1f} J){' [E estimated]' if summary.estimated else ''}"
          f"; record: {tracker.summary_path}")


if __name__ == "__main__":
    main()
