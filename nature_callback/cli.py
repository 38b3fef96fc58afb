"""The ``nature`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nature_callback.exceptions import NatureError

if TYPE_CHECKING:
    from nature_callback.ledger import RunLedger


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

    run = commands.add_parser(
        "run", help="run a command and record its energy and carbon as a run (any framework: "
                    "nature run [options] -- python train.py ...)")
    run.add_argument("--project", default=None, help="ledger project (default: default)")
    run.add_argument("--carbon", default=None,
                     help="ISO country code, cloud region (aws:eu-west-1) or g CO2e/kWh "
                          "(default: automatic location)")
    run.add_argument("--pue", type=float, default=None,
                     help="power usage effectiveness (default: the global data-centre average, "
                          "as for the tracker)")
    run.add_argument("--n-exp", type=_n_exp_argument, default=1, metavar="N",
                     help="experiments behind the result, or 'ledger' to count the project's "
                          "recorded runs (default: %(default)s)")
    run.add_argument("--gpus", default="visible", type=_gpus_argument,
                     help="GPUs to meter: visible (default), none, or CUDA indices like 0,1")
    run.add_argument("--window", default=None,
                     help="the window's name (default: the Python script's or module's name, "
                          "else the program's)")
    run.add_argument("--out", default="nature_logs",
                     help="folder the run's folder goes in (default: %(default)s)")
    _ledger_argument(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- command",
                     help="the command to measure (its output and exit status are its own)")

    show = commands.add_parser(
        "summary", help="a run's totals and epochs (its folder, nature_summary.json or "
                        "nature_epochs.jsonl); the same text as `nature report PATH`")
    show.add_argument("path", type=Path)
    show.add_argument("--json", action="store_true", help="print the summary file as JSON")

    report = commands.add_parser(
        "report", help="a readable report of a run (PATH: its folder or a record file), or "
                       "of every recorded run of a project (--project)")
    report.add_argument("path", type=Path, nargs="?", help="the run's folder or record file")
    report.add_argument("--project", default=None,
                        help="report the project's recorded runs instead of one run")
    _ledger_argument(report)
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--plot", type=Path, default=None, metavar="FILE.png|FILE.svg",
                        help="also draw power, energy and CO2e over the run (matplotlib)")

    ledger = commands.add_parser("ledger", help="list the runs recorded in the run ledger")
    ledger.add_argument("--project", default=None, help="only this project's runs")
    ledger.add_argument("--last", type=_positive_int, default=None, metavar="N",
                        help="only the N most recent runs")
    ledger.add_argument("--csv", action="store_true", help="print CSV (params as JSON)")
    _ledger_argument(ledger)

    export = commands.add_parser(
        "export", help="write runs as rows of another tool's format (CodeCarbon's "
                       "emissions.csv)")
    export.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="run folders or record files, one row each")
    export.add_argument("--format", choices=("codecarbon",), required=True)
    export.add_argument("-o", "--output", type=Path, default=None,
                        help="file to write (default: standard output)")
    return parser


def _ledger_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", "--path", dest="ledger", default=None,
                        metavar="PATH_OR_URL",
                        help="SQLite file or postgresql:// URL (default: $NATURE_LEDGER, else "
                             "the user data folder)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _n_exp_argument(text: str) -> int | str:
    return text if text == "ledger" else _positive_int(text)


def _gpus_argument(text: str) -> str | list[int] | None:
    if text in ("visible", "none"):
        return None if text == "none" else text
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give visible, none or CUDA indices like 0,1") from None


def _carbon_argument(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _open_ledger(location: str | None) -> RunLedger:
    """The ledger to read; a SQLite file or server table that does not exist is an error
    (reading creates nothing)."""
    from nature_callback.ledger import RunLedger

    ledger = RunLedger(location)
    if not ledger.exists():
        raise NatureError(f"no run ledger at {ledger.path} (nothing recorded yet, or give "
                          "--ledger).")
    return ledger


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def _summary(args: argparse.Namespace) -> None:
    from nature_callback.report import RunReport

    report = RunReport.read(args.path)
    if args.json:
        _print_json(report.record.summary)
    else:
        print(report.text())


def _report(args: argparse.Namespace) -> None:
    from nature_callback.report import ProjectReport, RunReport, plot_run

    if (args.path is None) == (args.project is None):
        raise NatureError("give either a run (PATH) or --project NAME.")
    if args.project is None and args.ledger is not None:
        raise NatureError("--ledger goes with --project.")
    if args.project is not None:
        if args.plot is not None:
            raise NatureError("--plot draws one run: give its PATH instead of --project.")
        with _open_ledger(args.ledger) as ledger:
            result: RunReport | ProjectReport = ProjectReport(
                args.project, str(ledger.path), ledger.runs(args.project))
    else:
        result = RunReport.read(args.path)
        if args.plot is not None:
            plot_run(result, args.plot)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.text())
    if args.plot is not None:
        print(f"plot: {args.plot}", file=sys.stderr if args.json else sys.stdout)


def _ledger(args: argparse.Namespace) -> None:
    from nature_callback.report import ledger_csv, ledger_table

    with _open_ledger(args.ledger) as ledger:
        runs = ledger.runs(args.project)
    if args.last is not None:
        runs = runs[-args.last:]
    sys.stdout.write(ledger_csv(runs) if args.csv else ledger_table(runs) + "\n")


def _export(args: argparse.Namespace) -> None:
    from nature_callback.report import RunReport, codecarbon_csv

    text = codecarbon_csv(RunReport.read(path) for path in args.paths)
    if args.output is None:
        sys.stdout.write(text)
    else:
        from nature_callback.files import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {len(args.paths)} run(s) to {args.output}")


def _run(args: argparse.Namespace) -> int:
    from nature_callback.command import run_command
    from nature_callback.report import co2e_text, energy_text

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    given = {"project": args.project, "carbon": _carbon_argument(args.carbon), "pue": args.pue,
             "n_exp": args.n_exp, "ledger_path": args.ledger}
    options = {name: value for name, value in given.items() if value is not None}
    done = run_command(command, window=args.window, output_dir=args.out, gpus=args.gpus,
                       **options)
    took = f" ran {done.window.window_time_s:.1f} s:" if done.window else ""
    print(f"nature: {done.summary.status};{took} {energy_text(done.summary.energy_j)}, "
          f"{co2e_text(done.summary.co2e_kg)}"
          f"{' (E partly ESTIMATED)' if done.summary.estimated else ''}; exit status "
          f"{done.exit_status}; record: {done.summary_path}", file=sys.stderr)
    return done.exit_status


def _demo(args: argparse.Namespace) -> None:
    if args.epochs < 1:
        raise NatureError(f"--epochs={args.epochs} is invalid: give at least 1.")
    from nature_callback.demo.run import run_demo

    run_demo(
        out_dir=args.out, epochs=args.epochs, pue=args.pue,
        carbon=_carbon_argument(args.carbon), spiking_stage=not args.no_spiking,
        crossbar_stage=not (args.no_spiking or args.no_crossbar), seed=args.seed,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "demo": _demo, "run": _run, "summary": _summary, "report": _report, "ledger": _ledger,
    "export": _export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nature`` console script."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except KeyboardInterrupt:  # the run, if any, is recorded as interrupted
        print("nature: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`nature ledger | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (NatureError, OSError) as err:
        print(f"nature: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
