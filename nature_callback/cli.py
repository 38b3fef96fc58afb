"""The ``nature`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from typing import TYPE_CHECKING

from nature_callback.exceptions import NatureError

if TYPE_CHECKING:
    from nature_callback.run_files import RunRecord


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nature", description="Energy and carbon (NATURE) of deep-learning training."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="train a small CNN on the embedded digits data with the callback (offline)"
    )
    demo.add_argument("--out", default="nature_demo", help="output folder (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    demo.add_argument("--pue", type=float, default=1.0,
                      help="power usage effectiveness (default: %(default)s, a desktop)")
    demo.add_argument("--carbon", default=None,
                      help="ISO country code or g CO2e/kWh (default: automatic location)")
    demo.add_argument("--no-spiking", action="store_true", help="skip the conversion stage")
    demo.add_argument("--no-crossbar", action="store_true", help="skip the crossbar stage")
    demo.add_argument("--seed", type=int, default=0)

    show = commands.add_parser(
        "summary", help="print a run's totals and epochs (its folder, nature_summary.json or "
                        "nature_epochs.jsonl)")
    show.add_argument("path", type=Path)
    show.add_argument("--json", action="store_true", help="print the summary as JSON")

    ledger = commands.add_parser("ledger", help="list the runs recorded in the run ledger")
    ledger.add_argument("--project", default=None)
    ledger.add_argument("--path", type=Path, default=None, help="ledger file (default: user data)")
    return parser


def _carbon_argument(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _summary_text(record: RunRecord) -> str:
    """A run's totals, then one line per epoch."""
    lines = []
    if record.summary is not None:
        s = record.summary
        lines.append(f"run {s['run_id']} ({s['project']}): {s['status']}, {s['epochs']} epochs")
        lines.append(f"NATURE {s['nature_co2e_kg']:.6g} kg CO2e, {s['nature_energy_j']:.6g} J "
                     f"(N_exp={s['n_exp']}); run {s['co2e_kg']:.6g} kg CO2e, "
                     f"{s['energy_j']:.6g} J, A={s['a_energy_j']:.6g} J")
        lines.append(f"PUE {s['pue']}, grid loss {s['grid_loss']:.3f}, carbon "
                     f"{s['carbon_source']} [{s['carbon_zone']}]"
                     f"{', E partly ESTIMATED' if s['estimated'] else ''}")
    if record.epochs:
        lines.append(f"{'epoch':>5} {'T (s)':>9} {'E (W)':>9} {'energy (J)':>12} "
                     f"{'g/kWh':>7} {'CO2e (g)':>10}")
        for epoch in record.epochs:
            t = epoch["terms"]
            lines.append(f"{t['epoch']:>5} {t['epoch_time_s']:>9.3f} {t['power_w']:>9.2f} "
                         f"{t['epoch_energy_j']:>12.2f} {t['carbon_intensity_g_per_kwh']:>7.0f} "
                         f"{t['epoch_co2e_g']:>10.3e}")
    if record.skipped_lines:
        lines.append(f"({record.skipped_lines} unreadable line(s) skipped, e.g. a torn last line "
                     "after a kill)")
    return "\n".join(lines)


def _ledger_text(path: Path | None, project: str | None) -> str:
    """The ledger's runs as a table with a header; a missing ledger file is an error."""
    from nature_callback.ledger import RunLedger

    ledger = RunLedger(path)
    if not ledger.path.exists():
        raise NatureError(f"no run ledger at {ledger.path} (nothing recorded yet, or give --path).")
    header = (f"{'started (UTC)':<32} {'project':<20} {'status':<11} {'epochs':>6} "
              f"{'energy (J)':>12} {'CO2e (kg)':>10}  run id")
    rows = [f"{run.started_at:<32} {run.project:<20} {run.status:<11} {run.epochs:>6} "
            f"{run.energy_j:>12.1f} {run.co2e_kg:>10.3e}  {run.run_id}"
            for run in ledger.runs(project)]
    return "\n".join([header, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nature`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.epochs < 1:
                raise NatureError(f"--epochs={args.epochs} is invalid: give at least 1.")
            from nature_callback.demo.run import run_demo

            run_demo(
                out_dir=args.out, epochs=args.epochs, pue=args.pue,
                carbon=_carbon_argument(args.carbon), spiking_stage=not args.no_spiking,
                crossbar_stage=not (args.no_spiking or args.no_crossbar), seed=args.seed,
            )
        elif args.command == "summary":
            from nature_callback.run_files import read_run

            record = read_run(args.path)
            print(json.dumps(record.summary, indent=2) if args.json else _summary_text(record))
        elif args.command == "ledger":
            print(_ledger_text(args.path, args.project))
    except (NatureError, OSError) as err:
        print(f"nature: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
