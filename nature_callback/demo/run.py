"""``nature demo``: train a small CNN on the embedded digits with the callback, offline.

Stages: (1) training with ``NatureCallback`` and a TensorBoard logger, (2) conversion
to a spiking network (``spiking``), (3) replay on a memristor crossbar and the
side-by-side figure (``neuromorphic_sim``). Stages 2 and 3 are imported lazily so
``nature_callback`` never depends on the other two packages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nature_callback._lightning import pl
from nature_callback.demo.digits import load_digits_splits
from nature_callback.demo.training import accuracy, quiet_lightning, train_stage
from nature_callback.integrations.lightning import NatureCallback
from nature_callback.records import EpochRecord


@dataclass
class DemoResult:
    """What the demo produced."""

    log_dir: Path
    summary_path: Path
    epochs_path: Path
    records: list[EpochRecord]
    summary: dict[str, Any]
    test_accuracy: float
    train_time_s: float
    stage_outputs: list[str] = field(default_factory=list)


def epoch_table(records: list[EpochRecord]) -> str:
    """The per-epoch NATURE table printed by the demo."""
    header = (f"{'epoch':>5} {'T (s)':>8} {'E (W)':>8} {'U (W)':>8} {'R (W)':>8} "
              f"{'energy (J)':>11} {'g/kWh':>7} {'CO2e (g)':>9} {'NATURE (kg)':>12}")
    lines = [header, "-" * len(header)]
    for record in records:
        t = record.terms
        lines.append(
            f"{t.epoch:>5} {t.epoch_time_s:>8.2f} {t.power_w:>8.2f} {t.facility_w:>8.2f} "
            f"{t.grid_loss_w:>8.2f} {t.epoch_energy_j:>11.2f} "
            f"{t.carbon_intensity_g_per_kwh:>7.0f} {t.epoch_co2e_g:>9.2e} "
            f"{record.nature_co2e_kg:>12.3e}"
        )
    return "\n".join(lines)


def run_demo(
    out_dir: str | Path = "nature_demo",
    epochs: int = 10,
    pue: float = 1.0,
    carbon: Any = None,
    spiking_stage: bool = True,
    crossbar_stage: bool = True,
    seed: int = 0,
) -> DemoResult:
    """Run the whole demo; print as it goes and return what it produced."""
    out = Path(out_dir)
    quiet_lightning()
    pl.seed_everything(seed, verbose=False)
    splits = load_digits_splits(seed=seed)
    callback = NatureCallback(pue=pue, carbon=carbon, project="nature-demo", verbose=False,
                              progress_bar=False)
    print(f"[1/3] training DigitsCNN on scikit-learn digits ({len(splits.train)} train images), "
          f"{epochs} epochs, with NatureCallback")
    started = time.perf_counter()
    module, trainer = train_stage(splits, out, epochs, callback)
    train_time_s = time.perf_counter() - started
    tracker = callback.tracker
    assert tracker is not None
    summary = tracker.summary().to_dict()
    test_accuracy = accuracy(module.model, splits.loaders()[2])
    print(epoch_table(tracker.records))
    print(_summary_lines(summary, test_accuracy))
    result = DemoResult(
        log_dir=Path(trainer.log_dir), summary_path=tracker.summary_path,
        epochs_path=tracker.epochs_path,
        records=list(tracker.records), summary=summary, test_accuracy=test_accuracy,
        train_time_s=train_time_s,
    )
    spiking_model = None
    if spiking_stage:
        from spiking.demo import conversion_stage

        print("\n[2/3] converting to a spiking network (spikingjelly ann2snn)")
        report = conversion_stage(module.model, splits)
        text = report.to_table()
        print(text)
        result.stage_outputs.append(text)
        spiking_model = report.spiking_model
        if report.chosen_timesteps is not None:  # replay at the smallest T that keeps accuracy
            spiking_model.timesteps = report.chosen_timesteps
    if crossbar_stage and spiking_model is not None:
        from neuromorphic_sim.demo import crossbar_stage as run_crossbar_stage

        print("\n[3/3] replaying ANN and SNN on a memristor-crossbar model")
        crossbar = run_crossbar_stage(spiking_model, splits, out, nature_summary=summary,
                                      tensorboard=trainer.logger)
        text = crossbar.to_table()
        print(text)
        result.stage_outputs.append(text)
    print(f"\nTensorBoard logs: {result.log_dir}   (tensorboard --logdir {out})")
    print(f"Energy record:    {result.summary_path}, {result.epochs_path.name}")
    return result


def _summary_lines(summary: dict[str, Any], test_accuracy: float) -> str:
    meters = "; ".join(f"{m['device']}: {m['source']} ({m['description']})"
                       for m in summary["meters"]) or "none"
    windows = ", ".join(f"{name} {int(w['count'])}× {w['energy_j']:.1f} J"
                        for name, w in summary["windows"].items()) or "none"
    flag = "  [E partly ESTIMATED, see meters]" if summary["estimated"] else ""
    return "\n".join([
        f"test accuracy {test_accuracy:.4f}",
        f"NATURE = {summary['nature_co2e_kg']:.4e} kg CO2e, {summary['nature_energy_j']:.1f} J "
        f"({summary['nature_energy_kwh']:.3e} kWh), N_exp={summary['n_exp']}, "
        f"A={summary['a_energy_j']:.1f} J, W={summary['windows_energy_j']:.1f} J{flag}",
        f"named windows: {windows}",
        f"PUE {summary['pue']}, grid loss {summary['grid_loss']:.3f} ({summary['grid_loss_source']}), "
        f"carbon {summary['carbon_source']} [{summary['carbon_zone']}]",
        f"meters: {meters}",
    ])
