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
    assert list(tmp_path.glob("digits/version_*/events.out.tfevents.*"))
    # every estimated meter is labelled in the output
    if summary["estimated"]:
        assert "ESTIMATED" in out


def test_cli_rejects_bad_arguments_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs=0" in capsys.readouterr().err
    assert main(["summary", "/nonexistent/nature_summary.json"]) == 2


def test_ledger_command_lists_recorded_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nature_callback.ledger import RunLedger

    ledger = RunLedger(tmp_path / "l.sqlite")
    ledger.record("abc123", "proj", "2026-01-01T00:00:00+00:00", status="completed", epochs=3,
                  energy_j=42.0, co2e_kg=1e-5, ended=True)
    assert main(["ledger", "--path", str(tmp_path / "l.sqlite")]) == 0
    line = capsys.readouterr().out.strip()
    assert "proj" in line and "completed" in line and "abc123" in line and "42.0 J" in line


def _run_example(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(repo_root()), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


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
