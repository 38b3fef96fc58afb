"""atomic_write: the old file or the new one, never half of one, and no temporary left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nature_callback.files import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    compact_json,
    readable_json,
)


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


def test_readable_json_is_the_same_data_one_element_per_line(tmp_path: Path) -> None:
    data = {"run": "r1", "meters": [{"device": "cpu"}, {"device": "dram"}], "empty": [],
            "epochs": [{"epoch": 0, "e": 1.5}, {"epoch": 1, "e": float("nan")}],
            "nested": {"a": [1, 2]}}
    encoded = {"epochs": [json.dumps(item) if item["epoch"] == 0 else compact_json(item)
                          for item in data["epochs"]]}
    text = readable_json(data, encoded)
    expected = dict(data, epochs=[{"epoch": 0, "e": 1.5}, {"epoch": 1, "e": None}])
    assert json.loads(text) == expected
    lines = text.splitlines()
    assert '    {"epoch": 1, "e": null}' in lines  # one element per line, compact
    assert '    {"device": "dram"}' in lines
    assert '  "nested": {"a": [1, 2]}' in lines  # a dict stays on its key's line
    assert '  "empty": [],' in lines
    assert lines[0] == "{" and lines[-1] == "}"


def test_atomic_write_text_creates_the_folder_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "new" / "deeper" / "record.json", "{}\n")
    assert target.read_text() == "{}\n"
    atomic_write_text(target, "[]\n")
    assert target.read_text() == "[]\n"
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]
