"""The ``nature`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from nature_callback.exceptions import NatureError


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

    show = commands.add_parser("summary", help="print a nature_summary.json record")
    show.add_argument("path", type=Path)

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nature`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.epochs < 1:
                raise NatureError(f"--epochs={args.epochs} is invalid: give at least 1.")
            from nature_callback.demo import run_demo

            run_demo(
                out_dir=args.out, epochs=args.epochs, pue=args.pue,
                carbon=_carbon_argument(args.carbon), spiking_stage=not args.no_spiking,
                crossbar_stage=not (args.no_spiking or args.no_crossbar), seed=args.seed,
            )
        elif args.command == "summary":
            print(json.dumps(json.loads(args.path.read_text()), indent=2))
        elif args.command == "ledger":
            from nature_callback.ledger import RunLedger

            for run in RunLedger(args.path).runs(args.project):
                print(f"{run.started_at}  {run.project:<20} {run.status:<11} {run.epochs:>4} epochs "
                      f"{run.energy_j:>12.1f} J {run.co2e_kg:>10.3e} kg CO2e  {run.run_id}")
    except (NatureError, OSError, json.JSONDecodeError) as err:
        print(f"nature: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
