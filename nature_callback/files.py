"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Have ``write`` fill a temporary file beside ``path``, then ``os.replace`` it into place.

    A crash of the process leaves the old file or the new one, never half of one. The
    temporary name keeps ``path``'s suffix (writers such as ``savefig`` pick the format from
    it). No fsync: only an operating-system crash could lose the latest version.
    """
    target = Path(path)
    fd, tmp_name = _temporary_beside(target, f".tmp{target.suffix}")
    os.close(fd)
    return _fill_and_replace(tmp_name, target, lambda: write(Path(tmp_name)))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_write``), through the temporary
    file's own descriptor (no second open)."""
    target = Path(path)
    fd, tmp_name = _temporary_beside(target, ".tmp")

    def fill() -> None:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)

    return _fill_and_replace(tmp_name, target, fill)


def _temporary_beside(target: Path, suffix: str) -> tuple[int, str]:
    """A new, open temporary file in ``target``'s folder (created if missing), with the
    permissions a plain ``open`` would give it (``mkstemp`` alone leaves 0600)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    return fd, name


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fill_and_replace(tmp_name: str, target: Path, fill: Callable[[], None]) -> Path:
    """Run ``fill``, then move the temporary file onto ``target``; on any error remove it."""
    try:
        fill()
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def _dumps(value: Any, indent: int | None) -> str:
    """``json.dumps``; NaN and infinities become null."""
    try:
        return json.dumps(value, indent=indent, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: null is the JSON for "no value"
        return json.dumps(_json_safe(value), indent=indent)


def compact_json(value: Any) -> str:
    """``value`` as one line of JSON (the C encoder); NaN and infinities become null."""
    return _dumps(value, None)


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON, atomically; NaN and infinities become null. ``indent=None``
    writes one compact line."""
    return atomic_write_text(path, _dumps(data, indent) + "\n")
