"""Cost of an epoch boundary late in a long run against early in it (NatureTracker alone).

A tracker's per-epoch work (meter reads, the epoch's terms, the totals, the forecast, handing
the running record to the background writer) should not grow with the number of epochs
already recorded. This runs ``--epochs`` empty epochs and prints the median time of
``start_epoch`` + ``end_epoch`` over the first and the last 100, and their ratio (target:
about 1), then the time of the final, synchronous record.

    python benchmarks/tracker_long_runs.py --epochs 5000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from nature_callback import NatureTracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        tracker = NatureTracker(pue=1.0, carbon=400.0, output_dir=root, ledger_path=False,
                                planned_epochs=args.epochs).start()
        boundary_s = []
        for _ in range(args.epochs):
            started = time.perf_counter()
            tracker.start_epoch()
            tracker.end_epoch()
            boundary_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        tracker.stop()
        stop_s = time.perf_counter() - started
    first = statistics.median(boundary_s[:100])
    last = statistics.median(boundary_s[-100:])
    print(f"{args.epochs} epochs: epoch boundary {1e3 * first:.3f} ms over the first 100, "
          f"{1e3 * last:.3f} ms over the last 100, ratio {last / first:.2f} (target: about 1)")
    print(f"final record ({args.epochs} epochs, indented JSON): {1e3 * stop_s:.1f} ms")


if __name__ == "__main__":
    main()
