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
from tests.nature_callback.postgres import (  # noqa: F401  (fixtures)
    PASSWORD, postgres_server, postgres_url,
)


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
    from nature_callback.run_files import read_run

    run = read_run(summary_path.parent)
    assert len(run.epochs) == 2 and run.skipped_lines == 0
    assert [w["name"] for w in run.windows] == ["sanity_check", "validation", "validation"]
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


def _ledger_with_runs(target: str | Path, count: int = 4) -> None:
    from nature_callback.ledger import RunLedger

    ledger = RunLedger(target)
    for n in range(count):
        ledger.record(f"run{n}", "proj" if n % 2 else "other", f"2026-01-01T00:0{n}:00+00:00",
                      status="completed", epochs=3, energy_j=42.0 + n, co2e_kg=1e-5, ended=True,
                      params={"lr": 0.1 * n})
    ledger.close()


def test_ledger_command_lists_recorded_runs_under_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    _ledger_with_runs(tmp_path / "l.sqlite", count=2)
    assert main(["ledger", "--path", str(tmp_path / "l.sqlite"), "--project", "proj"]) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["started", "(UTC)", "project", "status", "epochs", "energy", "(J)",
                              "CO2e", "(kg)", "host", "run", "id"]
    assert line.split()[1:5] == ["proj", "completed", "3", "43.0"] and line.endswith("run1")


def test_ledger_command_shows_the_last_runs_and_writes_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import csv
    import socket

    _ledger_with_runs(tmp_path / "l.sqlite")
    assert main(["ledger", "--ledger", str(tmp_path / "l.sqlite"), "--last", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[-1] for line in lines[1:]] == ["run1", "run2", "run3"]
    assert main(["ledger", "--ledger", str(tmp_path / "l.sqlite"), "--csv", "--last", "1"]) == 0
    (row,) = csv.DictReader(capsys.readouterr().out.splitlines())
    assert row["run_id"] == "run3" and float(row["energy_j"]) == 45.0
    assert json.loads(row["params"]) == {"lr": 0.1 * 3} and row["host"] == socket.gethostname()
    assert row["ended_at"] and row["status"] == "completed"
    with pytest.raises(SystemExit) as exit_code:
        main(["ledger", "--last", "0"])
    assert exit_code.value.code == 2


def test_ledger_command_reads_a_postgres_ledger_without_printing_its_password(
    postgres_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _ledger_with_runs(postgres_url)
    assert main(["ledger", "--ledger", postgres_url, "--project", "proj"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[-1] for line in out.strip().splitlines()[1:]] == ["run1", "run3"]
    empty = postgres_url.rsplit("/", 1)[0] + "/postgres"  # a database without the table
    assert main(["ledger", "--ledger", empty]) == 2
    out, err = capsys.readouterr()
    assert "no run ledger at postgresql://nature:***@" in err and PASSWORD not in out + err


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


def test_summary_report_ledger_export_and_run_import_neither_torch_nor_lightning(
    tmp_path: Path,
) -> None:
    from nature_callback import NatureTracker
    from tests.nature_callback.fakes import FakeClock, FakeMeter

    _ledger_with_runs(tmp_path / "l.sqlite")
    clock = FakeClock()
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=False,
                       meter=FakeMeter(clock), clock=clock) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
    ledger = str(tmp_path / "l.sqlite")
    script = (
        "import sys\n"
        "from nature_callback.cli import main\n"
        f"assert main(['ledger', '--path', {ledger!r}]) == 0\n"
        f"assert main(['summary', {str(tmp_path)!r}]) == 0\n"
        f"assert main(['report', {str(tmp_path)!r}, '--json']) == 0\n"
        f"assert main(['report', '--project', 'proj', '--ledger', {ledger!r}]) == 0\n"
        f"assert main(['export', {str(tmp_path)!r}, '--format', 'codecarbon']) == 0\n"
        f"assert main(['run', '--gpus', 'none', '--carbon', '300', '--out', {str(tmp_path / 'cmd')!r},"
        f" '--ledger', {ledger!r}, '--', sys.executable, '-c', 'pass']) == 0\n"
        "heavy = [m for m in ('torch', 'lightning', 'pytorch_lightning') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(repo_root())))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout and tracker.run_id in done.stdout and "run3" in done.stdout
