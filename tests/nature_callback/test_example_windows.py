"""examples/plain_loop_with_windows.py, run as a user would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback.run_files import read_run
from tests.conftest import repo_root
from tests.nature_callback.test_cli_and_examples import _run_example


@pytest.mark.slow
def test_plain_loop_with_windows_example_runs_offline(tmp_path: Path) -> None:
    out = _run_example([str(repo_root() / "examples" / "plain_loop_with_windows.py"),
                        "--epochs", "1", "--carbon", "300", "--out", str(tmp_path / "rec")],
                       tmp_path)
    assert "epoch 0:" in out and "NATURE" in out
    run = read_run(tmp_path / "rec")
    assert run.summary is not None and run.summary["status"] == "completed"
    assert len(run.epochs) == 1 and len(run.steps) == 3
    assert [w["name"] for w in run.windows] == ["validation", "inference"]
