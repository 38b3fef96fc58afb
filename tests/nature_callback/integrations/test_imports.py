"""What importing the package loads: no torch and no Lightning for ``import nature_callback``,
one Lightning package for ``NatureCallback``. Checked in fresh interpreters."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from types import ModuleType

import pytest

from nature_callback import _lightning
from tests.conftest import repo_root

HEAVY = ("torch", "lightning", "pytorch_lightning", "lightning_fabric")


def loaded_after(statement: str) -> set[str]:
    """Which of ``HEAVY`` a fresh interpreter has loaded after ``statement``."""
    script = (f"import json, sys\n{statement}\n"
              f"print(json.dumps(sorted(set(sys.modules) & set({list(HEAVY)!r}))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=repo_root(), timeout=120, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_nature_callback_loads_neither_torch_nor_lightning() -> None:
    assert loaded_after("import nature_callback\nfrom nature_callback import NatureTracker") \
        == set()


@pytest.mark.slow
def test_importing_the_callback_loads_one_lightning_package() -> None:
    loaded = loaded_after("from nature_callback import NatureCallback")
    assert "torch" in loaded
    assert ("lightning" in loaded) != ("pytorch_lightning" in loaded), loaded


@pytest.mark.parametrize(("installed", "imported"), [
    ({"lightning", "pytorch_lightning"}, "lightning.pytorch"),
    ({"pytorch_lightning"}, "pytorch_lightning"),
])
def test_the_first_installed_namespace_is_the_only_one_imported(
    monkeypatch: pytest.MonkeyPatch, installed: set[str], imported: str
) -> None:
    calls: list[str] = []
    namespace = ModuleType(imported)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: object() if name in installed else None)
    monkeypatch.setattr(importlib, "import_module",
                        lambda name: calls.append(name) or namespace)
    assert _lightning._import_lightning() is namespace
    assert calls == [imported]


def test_no_lightning_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"nature-callback\[lightning\]"):
        _lightning._import_lightning()
