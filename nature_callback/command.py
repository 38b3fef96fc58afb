"""``nature run -- CMD ...``: any command measured as a run with one named window, without
touching its code (any framework, any language).

The command runs as a child process; the CPU and DRAM estimates count it (this process's
tree), RAPL and NVML count the node's packages and the GPUs asked for (every visible GPU by
default: a child may use any of them). Its output is its own; its exit status becomes
``nature run``'s, and a failing command records the run as ``crashed``.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nature_callback.decorator import run_folder, window_name
from nature_callback.exceptions import NatureError
from nature_callback.records import RunSummary, WindowRecord
from nature_callback.tracker import NatureTracker

SAMPLE_INTERVAL_S = 1.0
"""How often the meters are read while the command runs, so that the estimates sample the
command's processes (their resident memory) between the window's two boundaries."""

STOP_GRACE_S = 10.0
"""How long a command asked to stop (SIGTERM) gets before it is killed."""


class CommandFailed(NatureError):
    """The measured command exited with a non-zero status (the run is recorded as crashed)."""


@dataclass(frozen=True)
class CommandRun:
    """What one measured command gave."""

    exit_status: int
    """The command's exit status as a shell gives it (128 + N when killed by signal N)."""
    summary: RunSummary
    window: WindowRecord | None
    """The command's window (None when it could not be closed)."""
    summary_path: Path


def check_command(command: list[str]) -> None:
    """A command to run: given, and found on the PATH (or an existing path), before any run is
    recorded."""
    if not command:
        raise NatureError("give the command to measure after --, e.g. "
                          "nature run -- python train.py")
    program = command[0]
    if shutil.which(program) is None:
        raise NatureError(f"command not found: {program!r} (not on the PATH, or not an "
                          "executable file)")


def default_window(command: list[str]) -> str:
    """The window's name for ``command``: a Python script's or module's name (``python
    train.py`` → ``train``, ``python -m pkg.finetune`` → ``finetune``), else the program's."""
    program = Path(command[0]).name
    if program.startswith("python") and len(command) > 1:
        if command[1] == "-m" and len(command) > 2:
            return window_name(command[2].rsplit(".", 1)[-1])
        if command[1].endswith(".py"):
            return window_name(Path(command[1]).stem)
    return window_name(program)


def run_command(command: list[str], *, window: str | None = None,
                output_dir: str | Path = "nature_logs", **tracker_options: Any) -> CommandRun:
    """Run ``command`` inside a run with one named window (default: ``default_window``);
    ``output_dir`` is the folder the run's folder goes in; ``tracker_options`` as for
    ``NatureTracker`` (``gpus`` defaults to ``"visible"``)."""
    check_command(command)
    name = window or default_window(command)
    tracker_options.setdefault("gpus", "visible")
    tracker = NatureTracker(**tracker_options, output_dir=run_folder(Path(output_dir), name))
    tracker.params = {"command": shlex.join(command)}  # kept with the ledger row
    status = 0
    try:
        with tracker, tracker.window(name):
            status = _wait(subprocess.Popen(command), tracker)
            if status != 0:
                raise CommandFailed(f"{command[0]} exited with status {status}")
    except CommandFailed:
        pass  # recorded as crashed; the status is returned
    window_record = tracker.window_records[-1] if tracker.window_records else None
    return CommandRun(status, tracker.summary(), window_record, tracker.summary_path)


def _wait(process: subprocess.Popen[bytes], tracker: NatureTracker) -> int:
    """The command's exit status, the meters read every ``SAMPLE_INTERVAL_S``. On Ctrl-C (the
    terminal sends it to the command too) or SIGTERM here, the command is asked to stop,
    then killed after ``STOP_GRACE_S``; the interruption goes on up."""
    try:
        while True:
            try:
                return _shell_status(process.wait(timeout=SAMPLE_INTERVAL_S))
            except subprocess.TimeoutExpired:
                tracker.sample()
    except BaseException:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise


def _shell_status(returncode: int) -> int:
    """``Popen.returncode`` as a shell reports it: a signal N (returncode -N) is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


__all__ = ["CommandFailed", "CommandRun", "check_command", "default_window", "run_command"]
