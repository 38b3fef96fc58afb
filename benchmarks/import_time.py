"""Start-up time of ``import nature_callback`` and of the ``nature`` command, in fresh processes.

Each case is a new Python process of this interpreter, timed from launch to exit (wall time);
the cases run round-robin ``--runs`` times each and the script prints the median, raw and
less the median of an empty ``python -c pass`` measured in the same rounds (interpreter
start-up). ``import codecarbon`` is timed beside them when codecarbon is installed. A separate,
untimed run of each case reports which heavy modules (torch, lightning, pytorch_lightning) it
loaded.

Targets: ``import nature_callback`` <= 0.3 s and ``nature ledger`` <= 0.5 s (less start-up).

    python benchmarks/import_time.py            # 7 runs per case
    python benchmarks/import_time.py --runs 15
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "lightning", "pytorch_lightning")

TARGETS_S = {"import nature_callback": 0.3, "nature ledger": 0.5}
"""Targets (seconds, interpreter start-up excluded)."""


def nature_command() -> list[str]:
    """The ``nature`` console script of this interpreter's environment, else ``-m``."""
    script = Path(sys.executable).parent / "nature"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "nature_callback.cli"]


def make_run(folder: Path) -> tuple[Path, Path]:
    """A ledger with one row and a run folder with its records (a 3-epoch tracker run)."""
    from nature_callback import NatureTracker

    ledger = folder / "ledger.sqlite"
    run = folder / "run"
    with NatureTracker(pue=1.0, carbon=400.0, output_dir=run, ledger_path=ledger,
                       planned_epochs=3) as tracker:
        for _ in range(3):
            with tracker.epoch():
                pass
    return ledger, run


def cases(ledger: Path, run: Path) -> dict[str, tuple[list[str], str]]:
    """Name -> (timed command line, Python code of the untimed module check)."""
    py = sys.executable
    nature = nature_command()
    found = {
        "python -c pass": ([py, "-c", "pass"], "pass"),
        "import nature_callback": ([py, "-c", "import nature_callback"],
                                   "import nature_callback"),
        "from nature_callback import NatureTracker": (
            [py, "-c", "from nature_callback import NatureTracker"],
            "from nature_callback import NatureTracker"),
        "from nature_callback import NatureCallback": (
            [py, "-c", "from nature_callback import NatureCallback"],
            "from nature_callback import NatureCallback"),
        "nature ledger": ([*nature, "ledger", "--path", str(ledger)],
                          "from nature_callback.cli import main; "
                          f"main(['ledger', '--path', {str(ledger)!r}])"),
        "nature summary": ([*nature, "summary", str(run)],
                           f"from nature_callback.cli import main; main(['summary', {str(run)!r}])"),
    }
    if importlib.util.find_spec("codecarbon") is not None:
        found["import codecarbon"] = ([py, "-c", "import codecarbon"], "import codecarbon")
    return found


def wall_s(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def heavy_modules(code: str) -> list[str]:
    """The heavy modules a fresh process has loaded after running ``code``."""
    check = (f"{code}\nimport sys, json\n"
             f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs per case (default: 7)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nature-import-time-"))
    try:
        ledger, run = make_run(tmp)
        table = cases(ledger, run)
        for command, _ in table.values():  # warm the file cache; not counted
            wall_s(command)
        times: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.runs):
            for name, (command, _) in table.items():
                times[name].append(wall_s(command))
        loaded = {name: heavy_modules(code) for name, (_, code) in table.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    baseline = statistics.median(times["python -c pass"])
    print(f"{sys.executable} (Python {sys.version.split()[0]}), median of {args.runs} runs; "
          f"'net' is raw less the median of 'python -c pass' ({baseline:.3f} s)")
    header = f"{'case':<44} {'raw (s)':>8} {'net (s)':>8} {'target':>8} {'met':>4}  heavy modules"
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        raw = statistics.median(values)
        net = raw - baseline
        target = TARGETS_S.get(name)
        target_text = f"<= {target}" if target is not None else ""
        met = ("yes" if net <= target else "NO") if target is not None else ""
        print(f"{name:<44} {raw:>8.3f} {net:>8.3f} {target_text:>8} {met:>4}  "
              f"{', '.join(loaded[name]) or 'none'}")
    if "import codecarbon" not in times:
        print("codecarbon is not installed: 'import codecarbon' skipped")
    print("nature command: " + " ".join(nature_command()))


if __name__ == "__main__":
    main()
