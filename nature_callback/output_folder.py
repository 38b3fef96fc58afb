"""Where a run's record files go: a writable folder, and names of its own there."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from nature_callback.exceptions import NatureError, NatureWarning
from nature_callback.run_files import RunFiles, read_summary


def writable_output_dir(folder: Path, run_id: str) -> Path:
    """``folder`` if files can be made in it, else a folder of this run in the user data
    folder (with one warning naming both)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return folder
    except OSError as err:
        import platformdirs

        fallback = Path(platformdirs.user_data_dir("nature-callback")) / "runs" / run_id
        warnings.warn(f"cannot write the run's records in {folder} ({err.strerror or err}); "
                      f"writing them to {fallback} instead. Set output_dir= to a writable "
                      "folder.", NatureWarning, stacklevel=5)
        return fallback


def suffix_beside_other_runs(folder: Path, run_id: str) -> str:
    """``.<run id>`` if ``folder`` already holds another run's records (each run keeps its own
    files, with one warning), else no suffix."""
    existing = RunFiles.in_folder(folder).summary
    if not existing.exists():
        return ""
    try:
        other_id = read_summary(existing).get("run_id")
    except NatureError:
        other_id = None
    if other_id == run_id:  # this run, resumed
        return ""
    warnings.warn(f"{folder} already holds the records of run {other_id}; this run ({run_id}) "
                  f"writes its own files beside them (nature_summary.{run_id}.json). Give each "
                  "run its own output_dir.", NatureWarning, stacklevel=5)
    return f".{run_id}"
