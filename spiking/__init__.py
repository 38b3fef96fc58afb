"""Convert a trained network into a spiking one (spikingjelly 2.x), evaluate it, count its work.

    import spiking
    snn = spiking.convert(model, calibration_loader, method="rate", mode="99.9%")
    print(snn.evaluate(test_loader, timesteps=[8, 16, 32, 64]).to_table())
    stats = snn.statistics(test_loader, timesteps=32)
    print(stats.to_table()); print(stats.energy("int32").statement())
    print(snn.statistics(test_loader, timesteps=32, convention="neurobench").to_table())
    snn.save("digits_snn.pt"); snn = spiking.load("digits_snn.pt")  # no code runs from the file
"""

import importlib
from typing import TYPE_CHECKING, Any

for _name in ("tqdm", "torch", "spikingjelly"):  # the `spiking` extra: one clear error
    try:
        importlib.import_module(_name)
    except ImportError as err:
        raise ImportError(
            f"the spiking package needs torch and spikingjelly; {_name} cannot be imported "
            f'({err}). Install them with: pip install "nature-callback[spiking]"'
        ) from err

from spiking.checks import UnsupportedPart, check_convertible, find_unsupported_parts
from spiking.config import ConversionConfig
from spiking.convert import convert
from spiking.energy import (
    HOROWITZ_45NM,
    PUBLISHED_CLAIMS,
    EnergyEstimate,
    OperationEnergy,
    PublishedClaim,
    estimate_energy,
)
from spiking.evaluation import EvaluationResult, evaluate
from spiking.exceptions import (
    CalibrationDataError,
    ConversionError,
    InvalidInputError,
    ModelFileError,
    SpikePoolingWarning,
    SpikingError,
    SpikingWarning,
    UnsupportedModelError,
)
from spiking.model import SpikingModel, load
from spiking.neurobench_convention import NeuroBenchActivationCounts, NeuroBenchLayerCounts, NeuroBenchStatistics
from spiking.report import ConversionReport, build_report
from spiking.statistics import (
    NeuronLayerStatistics,
    SpikeStatistics,
    SynapticLayerStatistics,
    collect_neurobench_statistics,
    collect_statistics,
)

if TYPE_CHECKING:
    from spiking.lightning import SpikingConversionCallback


def __getattr__(name: str) -> Any:
    """``SpikingConversionCallback`` is imported on first use: it needs Lightning, which the
    ``spiking`` extra does not install."""
    if name == "SpikingConversionCallback":
        from spiking.lightning import SpikingConversionCallback

        return SpikingConversionCallback
    raise AttributeError(f"module 'spiking' has no attribute {name!r}")


__all__ = [
    "HOROWITZ_45NM",
    "CalibrationDataError",
    "ConversionConfig",
    "ConversionError",
    "ConversionReport",
    "EnergyEstimate",
    "EvaluationResult",
    "InvalidInputError",
    "ModelFileError",
    "NeuroBenchActivationCounts",
    "NeuroBenchLayerCounts",
    "NeuroBenchStatistics",
    "NeuronLayerStatistics",
    "OperationEnergy",
    "PUBLISHED_CLAIMS",
    "PublishedClaim",
    "SpikePoolingWarning",
    "SpikingConversionCallback",
    "SpikeStatistics",
    "SpikingError",
    "SpikingModel",
    "SpikingWarning",
    "SynapticLayerStatistics",
    "UnsupportedModelError",
    "UnsupportedPart",
    "build_report",
    "check_convertible",
    "collect_neurobench_statistics",
    "collect_statistics",
    "convert",
    "estimate_energy",
    "evaluate",
    "find_unsupported_parts",
    "load",
]
