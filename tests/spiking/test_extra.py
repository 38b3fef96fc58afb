"""Without the `spiking` extra, `import spiking` fails with one error that names the fix."""

from __future__ import annotations

import pytest

from .helpers import import_without


@pytest.mark.parametrize("missing", ["torch", pytest.param("spikingjelly", marks=pytest.mark.slow)])
def test_import_without_the_extra_names_the_install_command(missing: str) -> None:
    output = import_without("spiking", missing)
    assert output.startswith("ImportError: the spiking package needs torch and spikingjelly")
    assert f"{missing} cannot be imported" in output
    assert output.endswith('pip install "nature-callback[spiking]"')


@pytest.mark.slow
def test_lightning_is_imported_only_for_the_callback() -> None:
    assert import_without("spiking", "lightning", "pytorch_lightning") == "imported"
