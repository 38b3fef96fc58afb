"""Convert a trained network into a spiking one (spikingjelly 2.x), evaluate it, count its work.

    import spiking
    snn = spiking.convert(model, calibration_loader, method="rate", mode="99.9%")
    print(snn.evaluate(test_loader, timesteps=[8, 16, 32, 64]).to_table())
    stats = snn.statistics(test_loader, timesteps=32)
    print(stats.to_table()); print(stats.energy("fp32").statement())
    snn.save("digits_snn.pt"); snn = spiking.load("digits_snn.pt")
"""

from spiking.checks import UnsupportedPart, check_convertible, find_unsupported_parts
from spiking.config import ConversionConfig
from spiking.convert import convert
from spiking.energy import HOROWITZ_45NM, EnergyEstimate, OperationEnergy, estimate_energy
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
from spiking.lightning import SpikingConversionCallback
from spiking.model import SpikingModel
from spiking.persistence import load
from spiking.report import ConversionReport, build_report
from spiking.statistics import (
    NeuronLayerStatistics,
    SpikeStatistics,
    SynapticLayerStatistics,
    collect_statistics,
)

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
    "NeuronLayerStatistics",
    "OperationEnergy",
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
    "collect_statistics",
    "convert",
    "estimate_energy",
    "evaluate",
    "find_unsupported_parts",
    "load",
]
