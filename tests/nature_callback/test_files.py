"""atomic_write: the old file or the new one, never half of one, and no temporary left."""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback.files import atomic_write, atomic_write_json


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
