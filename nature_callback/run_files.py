"""A run's record files, their names and how to read them back.

* ``nature_epochs.jsonl``: one compact JSON object per line, a header first (run id, config,
  meters, carbon source), then one line per epoch, named window (``"type": "window"``) or
  logged step (``"type": "step"``), appended as each ends.
* ``nature_summary.json``: the run's totals and metadata (no per-epoch list), replaced
  atomically at the start, at the end, on a crash and on an interrupt.

A process killed mid-write can leave a torn last line in the JSON Lines file: readers skip it
and say so (``RunRecord.skipped_lines``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nature_callback.exceptions import RecordError

SUMMARY_FILENAME = "nature_summary.json"
EPOCHS_FILENAME = "nature_epochs.jsonl"
FORMAT_VERSION = 1
"""Version of the header line's layout."""

LINE_TYPES = ("epoch", "window", "step")
"""The record lines after the header."""

MAX_RECORD_BYTES = 256 * 1024 * 1024
"""A record file larger than this is not a record: 256 MiB is over a million epochs."""


@dataclass(frozen=True)
class RunFiles:
    """Where one run's two files go."""

    summary: Path
    epochs: Path

    @classmethod
    def in_folder(cls, folder: str | Path, suffix: str = "") -> "RunFiles":
        """The files in ``folder``; ``suffix`` (``".rank1"``) tells apart a rank's own files."""
        base = Path(folder)
        return cls(summary=base / SUMMARY_FILENAME.replace(".json", f"{suffix}.json"),
                   epochs=base / EPOCHS_FILENAME.replace(".jsonl", f"{suffix}.jsonl"))


@dataclass(frozen=True)
class RunRecord:
    """A run's files read back."""

    summary: dict[str, Any] | None
    """``nature_summary.json`` (None when only the epochs file was found)."""
    header: dict[str, Any] | None
    """The epochs file's first line (None when there is no epochs file)."""
    epochs: list[dict[str, Any]] = field(default_factory=list)
    """One dict per epoch (``EpochRecord.to_dict()``)."""
    windows: list[dict[str, Any]] = field(default_factory=list)
    """One dict per named window (``WindowRecord.to_dict()``)."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """One dict per logged step (``StepRecord.to_dict()``)."""
    skipped_lines: int = 0
    """Lines of the epochs file that were not valid JSON (a torn last line after a kill)."""


def _load_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise RecordError(f"{path} is not a valid record: {err.__class__.__name__}: "
                          f"{str(err)[:200]}") from None


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise RecordError(f"{path} is larger than {MAX_RECORD_BYTES} bytes: not a record.")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path} is not a text file: give a nature_summary.json, "
                          f"a nature_epochs.jsonl or their folder.") from None
    except IsADirectoryError:
        raise RecordError(f"{path} is a folder, not a record file.") from None
    except OSError as err:
        raise RecordError(f"cannot read {path}: {err.strerror or err}") from None


def read_summary(path: str | Path) -> dict[str, Any]:
    """``nature_summary.json`` as a dict."""
    data = _load_json(_read_text(Path(path)), Path(path))
    if not isinstance(data, dict) or "run_id" not in data:
        raise RecordError(f"{path} is JSON but not a NATURE summary (no run_id).")
    return data


def read_lines(path: str | Path) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]],
                                          int]:
    """The header, the records by line type (``epoch``, ``window``, ``step``) and the number
    of unreadable lines of a JSON Lines file."""
    header: dict[str, Any] | None = None
    records: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LINE_TYPES}
    skipped = 0
    for line in _read_text(Path(path)).splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            skipped += 1
            continue
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "header":
            header = item
        elif kind in records:
            records[kind].append({key: value for key, value in item.items() if key != "type"})
        else:
            skipped += 1
    return header, records, skipped


def read_run(path: str | Path) -> RunRecord:
    """Read a run from its folder, its summary or its epochs file."""
    target = Path(path)
    if target.is_dir():
        files = RunFiles.in_folder(target)
    elif target.name.startswith("nature_epochs") and target.name.endswith(".jsonl"):
        suffix = target.name[len("nature_epochs"):-len(".jsonl")]
        files = RunFiles.in_folder(target.parent, suffix)
    elif target.name.startswith("nature_summary") and target.name.endswith(".json"):
        suffix = target.name[len("nature_summary"):-len(".json")]
        files = RunFiles.in_folder(target.parent, suffix)
    elif target.name.endswith(".jsonl"):
        files = RunFiles(summary=target.with_name(SUMMARY_FILENAME), epochs=target)
    else:
        files = RunFiles(summary=target, epochs=target.with_name(EPOCHS_FILENAME))
    if not files.summary.exists() and not files.epochs.exists():
        raise RecordError(f"no {SUMMARY_FILENAME} or {EPOCHS_FILENAME} at {target}.")
    summary = read_summary(files.summary) if files.summary.exists() else None
    if not files.epochs.exists():
        return RunRecord(summary=summary, header=None)
    header, records, skipped = read_lines(files.epochs)
    return RunRecord(summary=summary, header=header, epochs=records["epoch"],
                     windows=records["window"], steps=records["step"], skipped_lines=skipped)
