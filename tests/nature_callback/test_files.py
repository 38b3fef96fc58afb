"""atomic_write: the old file or the new one, never half of one, and no temporary left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nature_callback.files import atomic_write, atomic_write_json, atomic_write_text


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    atomic_write_json(target, {"epochs": 1})

    def half_write(temporary: Path) -> None:
        assert temporary.suffix == ".json"  # writers that infer the format from it still work
        temporary.write_text('{"epochs": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_write)
    assert target.read_text() == '{\n  "epochs": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_non_finite_values_become_null(tmp_path: Path) -> None:
    target = atomic_write_json(tmp_path / "r.json", {"a": float("nan"), "b": [1.0, float("inf")]},
                               indent=None)
    assert target.read_text() == '{"a": null, "b": [1.0, null]}\n'


def test_atomic_write_text_creates_the_folder_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "new" / "deeper" / "record.json", "{}\n")
    assert target.read_text() == "{}\n"
    atomic_write_text(target, "[]\n")
    assert target.read_text() == "[]\n"
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        target = atomic_write_text(tmp_path / "record.json", "{}\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
