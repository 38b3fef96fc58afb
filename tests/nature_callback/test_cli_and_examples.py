"""The ``nature`` command and the examples, run as a user would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nature_callback.cli import main
from tests.conftest import repo_root


def test_demo_training_stage_prints_the_table_and_writes_logs(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "2", "--out", str(tmp_path), "--no-spiking",
                 "--carbon", "FR"]) == 0
    out = capsys.readouterr().out
    assert "NATURE (kg)" in out and "test accuracy" in out
    summary_path = next(tmp_path.glob("digits/version_*/nature_summary.json"))
    summary = json.loads(summary_path.read_text())
    assert summary["epochs"] == 2 and summary["status"] == "completed"
    assert summary["carbon_zone"] == "FR"
    assert str(summary_path) in out
    epochs = (summary_path.parent / "nature_epochs.jsonl").read_text().splitlines()
    assert len(epochs) == 3  # the header and two epochs
    assert list(tmp_path.glob("digits/version_*/events.out.tfevents.*"))
    # every estimated meter is labelled in the output
    if summary["estimated"]:
        assert "ESTIMATED" in out


def test_cli_rejects_bad_arguments_with_a_message(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs=0" in capsys.readouterr().err
    assert main(["summary", "/nonexistent/nature_summary.json"]) == 2
    binary = tmp_path / "nature_summary.json"
    binary.write_bytes(b"\xff\xfe\x00binary")
    deep = tmp_path / "deep" / "nature_summary.json"
    deep.parent.mkdir()
    deep.write_text("[" * 200_000 + "]" * 200_000)
    for path in (binary, deep, tmp_path / "empty-folder"):
        path.parent.mkdir(exist_ok=True)
        if path.name == "empty-folder":
            path.mkdir()
        capsys.readouterr()
        assert main(["summary", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nature: error:") and "Traceback" not in err


def test_summary_command_reads_a_run_folder_with_a_torn_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from nature_callback import NatureTracker
    from tests.nature_callback.fakes import FakeClock, FakeMeter

    clock = FakeClock()
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=False,
                       meter=FakeMeter(clock), clock=clock) as tracker:
        for _ in range(2):
            with tracker.epoch():
                clock.advance(1.0)
    with tracker.epochs_path.open("a") as file:
        file.write('{"type": "ep')
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert tracker.run_id in out and "completed, 2 epochs" in out
    assert "1 unreadable line" in out
    assert main(["summary", str(tracker.summary_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == tracker.run_id


def test_ledger_command_lists_recorded_runs_under_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from nature_callback.ledger import RunLedger

    ledger = RunLedger(tmp_path / "l.sqlite")
    ledger.record("abc123", "proj", "2026-01-01T00:00:00+00:00", status="completed", epochs=3,
                  energy_j=42.0, co2e_kg=1e-5, ended=True)
    assert main(["ledger", "--path", str(tmp_path / "l.sqlite")]) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert "project" in header and "energy (J)" in header
    assert "proj" in line and "completed" in line and "abc123" in line and "42.0" in line


def test_ledger_command_on_a_missing_file_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere" / "l.sqlite"
    assert main(["ledger", "--path", str(missing)]) == 2
    assert "no run ledger" in capsys.readouterr().err
    assert not missing.parent.exists()


def _run_example(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(repo_root()), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_plain_pytorch_example_runs_as_written(tmp_path: Path) -> None:
    out = _run_example([str(repo_root() / "examples" / "plain_pytorch_loop.py"), "--epochs", "1",
                        "--country", "DE", "--out", str(tmp_path / "rec")], tmp_path)
    assert "epoch 0:" in out and "NATURE" in out
    assert (tmp_path / "rec" / "nature_summary.json").exists()


@pytest.mark.slow
def test_lightning_mnist_example_runs_offline_with_fake_data(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    _run_example([str(repo_root() / "examples" / "lightning_mnist.py"), "--fake-data",
                  "--epochs", "1", "--out", str(tmp_path / "logs"), "--country", "GB"], tmp_path)
    assert list((tmp_path / "logs").rglob("nature_summary.json"))


@pytest.mark.slow
def test_crossbar_figure_example_runs_as_written(tmp_path: Path) -> None:
    out = _run_example([str(repo_root() / "examples" / "crossbar_figure.py"), "--epochs", "2",
                        "--samples", "16", "--out", str(tmp_path / "out")], tmp_path)
    assert "figure:" in out
    assert (tmp_path / "out" / "crossbar_side_by_side.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "crossbar_side_by_side.svg").exists()


def test_summary_and_ledger_commands_import_neither_torch_nor_lightning(tmp_path: Path) -> None:
    from nature_callback.ledger import RunLedger

    RunLedger(tmp_path / "l.sqlite").record(
        "abc123", "proj", "2026-01-01T00:00:00+00:00", status="completed", epochs=1,
        energy_j=1.0, co2e_kg=1e-6, ended=True)
    (tmp_path / "nature_summary.json").write_text(json.dumps({
        "run_id": "abc123", "project": "proj", "status": "completed", "epochs": 0, "n_exp": 1,
        "nature_co2e_kg": 0.0, "nature_energy_j": 0.0, "co2e_kg": 0.0, "energy_j": 0.0,
        "a_energy_j": 0.0, "pue": 1.0, "grid_loss": 0.0, "carbon_source": "fixed",
        "carbon_zone": "user", "estimated": False}))
    script = (
        "import sys\n"
        "from nature_callback.cli import main\n"
        f"assert main(['ledger', '--path', {str(tmp_path / 'l.sqlite')!r}]) == 0\n"
        f"assert main(['summary', {str(tmp_path)!r}]) == 0\n"
        "heavy = [m for m in ('torch', 'lightning', 'pytorch_lightning') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(repo_root())))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout and "abc123" in done.stdout
