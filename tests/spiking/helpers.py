"""Helpers shared by the spiking and crossbar tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

OUTPUT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
"""For outputs of the same weights computed by different kernels (a crossbar layer against the
original layer, one batch size against another): BLAS and oneDNN sum in an order that depends on
the CPU and the shapes (an AMD EPYC machine differed by up to 1.9e-6 on outputs of magnitude
~10, float32). 1e-5 leaves a 5× margin over that and is far below what one wrong weight or one
missing spike changes (~1e-2)."""


def decided(expected: torch.Tensor) -> torch.Tensor:
    """Samples whose two largest outputs are further apart than ``OUTPUT_TOLERANCE`` allows on
    both: their predicted class cannot depend on the kernel."""
    top = expected.topk(2, dim=1).values
    slack = OUTPUT_TOLERANCE["atol"] + OUTPUT_TOLERANCE["rtol"] * top[:, 0].abs()
    return top[:, 0] - top[:, 1] > 2 * slack


def assert_same_outputs(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Outputs within ``OUTPUT_TOLERANCE`` and the same predicted class for every decided sample."""
    torch.testing.assert_close(actual, expected, **OUTPUT_TOLERANCE)
    mask = decided(expected)
    assert torch.equal(actual.argmax(1)[mask], expected.argmax(1)[mask])


_IMPORT_WITHOUT = """
import sys
for name in sys.argv[2:]:
    sys.modules[name] = None  # `import name` now raises ImportError, as if it were not installed
try:
    __import__(sys.argv[1])
except ImportError as err:
    print(f"ImportError: {err}")
else:
    print("imported")
"""


def import_without(package: str, *missing: str) -> str:
    """What ``import package`` gives in a fresh interpreter where ``missing`` are not installed:
    ``ImportError: ...`` or ``imported``."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT, package, *missing],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()
