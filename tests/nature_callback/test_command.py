"""``nature run -- CMD``: a real child process measured as a run with one named window, through
``nature_callback.cli.main``. RAPL is pointed at an empty folder, so CPU and DRAM are the
estimates of this process tree (the child included); no GPU is metered (``--gpus none``)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nature_callback.cli import main
from nature_callback.ledger import RunLedger
from nature_callback.meters import CpuEstimateMeter
from nature_callback.run_files import read_run
from tests.conftest import repo_root

CHILD_MB = 400
"""Resident memory the measuring child holds while it sleeps."""
CHILD = f"""
import time
started = time.process_time()
while time.process_time() - started < 0.4:  # 0.4 s of CPU
    pass
held = b"x" * {CHILD_MB}_000_000             # written, so resident
time.sleep(2.5)
print("child done", flush=True)
"""


@pytest.fixture()
def no_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATURE_POWERCAP_ROOT", str(tmp_path / "no-powercap"))


def _nature_run(tmp_path: Path, *command: str, window: str = "job") -> int:
    return main(["run", "--carbon", "300", "--pue", "1.0", "--gpus", "none", "--window", window,
                 "--out", str(tmp_path / "runs"), "--ledger", str(tmp_path / "ledger.sqlite"),
                 "--", *command])


def _only_run(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "runs").iterdir()
    return folder


@pytest.mark.usefixtures("no_rapl")
def test_a_command_is_measured_with_its_processes(tmp_path: Path) -> None:
    # `nature run` in a process of its own (a small one: no torch), as from a shell
    done = subprocess.run(
        [sys.executable, "-m", "nature_callback.cli", "run", "--carbon", "300", "--pue", "1.0",
         "--gpus", "none", "--window", "job", "--out", str(tmp_path / "runs"),
         "--ledger", str(tmp_path / "ledger.sqlite"), "--", sys.executable, "-c", CHILD],
        capture_output=True, text=True, timeout=120, cwd=repo_root(),
        env=dict(os.environ, PYTHONPATH=str(repo_root())))
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    assert "child done" in out  # the command's output is its own
    folder = _only_run(tmp_path)
    assert folder.name.startswith("job_")
    assert "nature: completed; ran" in err and str(folder / "nature_summary.json") in err
    run = read_run(folder)
    assert run.summary is not None and run.summary["status"] == "completed"
    (window,) = run.windows
    assert window["name"] == "job" and window["window_time_s"] >= 2.5
    energy_j = {kind: power_w * window["window_time_s"]
                for kind, power_w in window["power_by_kind_w"].items()}
    # the child's CPU seconds (reaped: in this process's children times)
    assert energy_j["cpu"] >= 0.35 * CpuEstimateMeter().w_per_logical_cpu
    # its resident memory, seen only by the reads while it runs (0.3725 W/GB, Green Algorithms)
    assert energy_j["dram"] >= CHILD_MB / 1000 * 0.3725 * 1.0
    (row,) = RunLedger(tmp_path / "ledger.sqlite").runs()
    assert row.status == "completed" and row.energy_j == pytest.approx(run.summary["energy_j"])
    assert row.params == {"command": shlex.join([sys.executable, "-c", CHILD])}  # what ran
    report = subprocess.run([sys.executable, "-m", "nature_callback.cli", "report", str(folder)],
                            capture_output=True, text=True, timeout=60, cwd=repo_root(),
                            env=dict(os.environ, PYTHONPATH=str(repo_root())))
    assert f"command: {row.params['command']}" in report.stdout


@pytest.mark.usefixtures("no_rapl")
def test_n_exp_can_count_the_projects_recorded_runs(tmp_path: Path) -> None:
    for _ in range(2):
        assert main(["run", "--gpus", "none", "--carbon", "300", "--project", "sweep",
                     "--n-exp", "ledger", "--out", str(tmp_path / "runs"),
                     "--ledger", str(tmp_path / "ledger.sqlite"), "--", "true"]) == 0
    summaries = [json.loads((folder / "nature_summary.json").read_text())
                 for folder in sorted((tmp_path / "runs").iterdir())]
    assert [(s["n_exp"], s["n_exp_source"]) for s in summaries] == [(1, "ledger"), (2, "ledger")]


@pytest.mark.usefixtures("no_rapl")
def test_a_failing_command_keeps_its_status_and_is_recorded_as_crashed(tmp_path: Path) -> None:
    assert _nature_run(tmp_path, sys.executable, "-c", "import sys; sys.exit(3)") == 3
    summary = json.loads((_only_run(tmp_path) / "nature_summary.json").read_text())
    assert summary["status"] == "crashed"


@pytest.mark.usefixtures("no_rapl")
def test_a_command_killed_by_a_signal_exits_as_a_shell_says(tmp_path: Path) -> None:
    kill_itself = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert _nature_run(tmp_path, sys.executable, "-c", kill_itself) == 128 + 15
    summary = json.loads((_only_run(tmp_path) / "nature_summary.json").read_text())
    assert summary["status"] == "crashed"


@pytest.mark.usefixtures("no_rapl")
@pytest.mark.parametrize(("stop", "exit_status", "status"), [
    (signal.SIGTERM, 128 + 15, "terminated"),  # a scheduler's stop
    (signal.SIGINT, 130, "interrupted"),       # Ctrl-C sent to nature run alone
])
def test_a_stop_signal_stops_the_command_and_records_why(
    tmp_path: Path, stop: signal.Signals, exit_status: int, status: str,
) -> None:
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    nature = subprocess.Popen(
        [sys.executable, "-m", "nature_callback.cli", "run", "--carbon", "300", "--gpus", "none",
         "--out", str(tmp_path / "runs"), "--ledger", str(tmp_path / "ledger.sqlite"), "--",
         sys.executable, "-c", child],
        cwd=repo_root(), env=dict(os.environ, PYTHONPATH=str(repo_root())))
    deadline_s = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline_s and nature.poll() is None
        time.sleep(0.05)
    nature.send_signal(stop)
    assert nature.wait(timeout=30) == exit_status
    with pytest.raises(ProcessLookupError):  # the command was stopped with it
        os.kill(int(pid_file.read_text()), 0)
    summary = json.loads((_only_run(tmp_path) / "nature_summary.json").read_text())
    assert summary["status"] == status


def test_a_missing_command_records_nothing(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _nature_run(tmp_path, "no-such-program-here") == 2
    assert "command not found: 'no-such-program-here'" in capsys.readouterr().err
    assert _nature_run(tmp_path) == 2
    assert "give the command to measure after --" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ledger.sqlite").exists()


def test_the_window_is_named_after_the_script_module_or_program() -> None:
    from nature_callback.command import default_window

    assert default_window(["python", "train.py", "--epochs", "3"]) == "train"
    assert default_window(["/usr/bin/python3.11", "scripts/Fine-Tune.py"]) == "fine_tune"
    assert default_window(["python3", "-m", "pkg.finetune"]) == "finetune"
    assert default_window(["python", "-c", "print(1)"]) == "python"
    assert default_window(["/opt/bin/torchrun", "--nproc-per-node", "2", "x.py"]) == "torchrun"


def test_bad_gpus_are_refused_by_the_parser(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--gpus", "first", "--", "true"])
    assert exited.value.code == 2
    assert "give visible, none or CUDA indices like 0,1" in capsys.readouterr().err
