"""Cost of an epoch boundary late in a long run against early in it (NatureTracker alone).

A tracker's per-epoch work (meter reads, the epoch's terms, the totals, the forecast, handing
the running record to the background writer) should not grow with the number of epochs
already recorded. This runs ``--epochs`` empty epochs and prints the median time of
``start_epoch`` + ``end_epoch`` over the first and the last 100, and their ratio (target:
about 1); then what the background writer spends on the running record at that length (each
epoch's JSON is encoded once and kept) against encoding the whole record again, and the time of
the final, synchronous record.

    python benchmarks/tracker_long_runs.py --epochs 5000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from nature_callback import NatureTracker
from nature_callback.files import atomic_write_json


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
        running_s, reencoded_s = time_running_writes(tracker)
        started = time.perf_counter()
        tracker.stop()
        stop_s = time.perf_counter() - started
    first = statistics.median(boundary_s[:100])
    last = statistics.median(boundary_s[-100:])
    print(f"{args.epochs} epochs: epoch boundary {1e3 * first:.3f} ms over the first 100, "
          f"{1e3 * last:.3f} ms over the last 100, ratio {last / first:.2f} (target: about 1)")
    print(f"running record at epoch {args.epochs} (background writer, at most once a second): "
          f"{1e3 * running_s:.1f} ms, against {1e3 * reencoded_s:.1f} ms re-encoding every epoch "
          f"(ratio {running_s / reencoded_s:.2f})")
    print(f"final record ({args.epochs} epochs, each epoch's JSON kept from the running writes): "
          f"{1e3 * stop_s:.1f} ms")


def time_running_writes(tracker: NatureTracker, repeats: int = 5) -> tuple[float, float]:
    """Median time of the background writer's job at the run's current length (each epoch's
    JSON kept from the first write), and of the same record encoded whole, as one JSON dump of
    every epoch (the baseline)."""
    state = tracker._capture("running", rank_local=False)
    tracker._persist_state(state)  # the first write encodes the epochs not yet written
    running, reencoded = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        tracker._persist_state(state)
        running.append(time.perf_counter() - started)
        started = time.perf_counter()
        atomic_write_json(tracker.summary_path, tracker._summary_of(state).to_dict(), indent=None)
        reencoded.append(time.perf_counter() - started)
    return statistics.median(running), statistics.median(reencoded)


if __name__ == "__main__":
    main()
