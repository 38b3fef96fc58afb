"""Cost of an epoch boundary late in a long run against early in it (NatureTracker alone).

Runs ``--epochs`` empty epochs of a tracker with a fixed carbon intensity, writing its
records to a temporary folder (each epoch appends one line to ``nature_epochs.jsonl``), and
times each boundary, ``start_epoch()`` + ``end_epoch()``. Prints the median over the first 100
and the last 100 epochs and their ratio. Target: a constant per-epoch cost, ratio <= 1.5.

The meter is this machine's own (what ``NatureTracker`` builds by default: NVML, RAPL or the
labelled CPU/DRAM estimate), or with ``--meter constant`` a stand-in drawing a constant 100 W,
which reads no hardware.

    python benchmarks/tracker_long_runs.py                 # 5000 epochs
    python benchmarks/tracker_long_runs.py --meter constant
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from nature_callback import NatureTracker
from nature_callback.meters.base import DeviceEnergy, EnergyMeter

TARGET_RATIO = 1.5


class ConstantMeter(EnergyMeter):
    """One CPU drawing a constant 100 W: energy = 100 W x seconds since ``start``."""

    def start(self) -> None:
        self._started_s = time.monotonic()

    def read(self) -> list[DeviceEnergy]:
        return [DeviceEnergy(device="cpu0", kind="cpu", description="constant 100 W",
                             energy_j=100.0 * (time.monotonic() - self._started_s),
                             source="estimated")]

    def stop(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--meter", choices=("machine", "constant"), default="machine")
    args = parser.parse_args()
    window = min(100, args.epochs // 2)
    meter = ConstantMeter() if args.meter == "constant" else None
    with tempfile.TemporaryDirectory() as root:
        tracker = NatureTracker(pue=1.0, carbon=400.0, output_dir=root, ledger_path=False,
                                planned_epochs=args.epochs, meter=meter).start()
        boundary_s = []
        for _ in range(args.epochs):
            started = time.perf_counter()
            tracker.start_epoch()
            tracker.end_epoch()
            boundary_s.append(time.perf_counter() - started)
        tracker.stop()
        with open(tracker.epochs_path, encoding="utf-8") as file:
            header = json.loads(file.readline())
            lines = 1 + sum(1 for _ in file)
    first = statistics.median(boundary_s[:window])
    last = statistics.median(boundary_s[-window:])
    ratio = last / first
    meters = ", ".join(f"{m['device']} ({m['source']})" for m in header["meters"])
    print(f"{args.epochs} epochs, meter: {meters}; nature_epochs.jsonl: {lines} lines")
    print(f"epoch boundary (start_epoch + end_epoch), median: {1e3 * first:.3f} ms over the "
          f"first {window}, {1e3 * last:.3f} ms over the last {window}; ratio {ratio:.2f} "
          f"(target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")


if __name__ == "__main__":
    main()
