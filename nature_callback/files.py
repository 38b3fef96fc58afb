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
    it). No fsync: it would cost milliseconds at every epoch boundary, and only an
    operating-system crash could then lose the latest version.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}",
                                    dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp_name))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_write``)."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON, atomically; NaN and infinities become null.

    ``indent=None`` writes one compact line with the C encoder, several times faster
    than indented output (which Python encodes in pure Python).
    """
    try:
        text = json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: null is the JSON for "no value"
        text = json.dumps(_json_safe(data), indent=indent)
    return atomic_write_text(path, text + "\n")
