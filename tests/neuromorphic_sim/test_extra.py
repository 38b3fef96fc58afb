"""Without the `crossbar` extra, `import neuromorphic_sim` fails with one error naming the fix."""

from __future__ import annotations

import pytest

from tests.spiking.helpers import import_without


@pytest.mark.parametrize(
    "missing", ["matplotlib", "torch", pytest.param("spikingjelly", marks=pytest.mark.slow)]
)
def test_import_without_the_extra_names_the_install_command(missing: str) -> None:
    output = import_without("neuromorphic_sim", missing)
    assert output.startswith("ImportError: neuromorphic_sim needs torch, spikingjelly and matplotlib")
    assert f"{missing} is not importable" in output
    assert output.endswith('pip install "nature-callback[crossbar]"')
