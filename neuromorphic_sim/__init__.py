"""Replay spiking and conventional networks on a memristor-crossbar energy model.

import neuromorphic_sim as ns
snn_report = ns.replay(spiking_model, test_loader, config=ns.presets.RERAM)
ann_report = ns.replay(spiking_model.ann, test_loader, config=ns.presets.RERAM)
digital = ns.digital_reference(spiking_model.ann, test_loader)
trade_off = ns.sweep(spiking_model, test_loader, "d2d_variation", [0.0, 0.05, 0.1, 0.2])
paths = ns.side_by_side(snn_report, ann_report, digital, trade_off, "figures/")
"""

import importlib

_REQUIRED = ("matplotlib", "tqdm", "torch", "spikingjelly")
"""The ``crossbar`` extra; a missing one raises one ImportError that names the fix."""
for _module in _REQUIRED:
    try:
        importlib.import_module(_module)
    except ImportError as err:
        raise ImportError(
            f"neuromorphic_sim needs torch, spikingjelly and matplotlib, and {_module} is not "
            f'importable ({err}). Install them with: pip install "nature-callback[crossbar]"'
        ) from err

from neuromorphic_sim import presets
from neuromorphic_sim.config import (
    CrossbarConfig,
    DeviceConfig,
    HardwareConfig,
    PCMNoiseModel,
    PeripheryConfig,
    SpikeSimConstants,
)
from neuromorphic_sim.demo import CrossbarStageResult, crossbar_stage
from neuromorphic_sim.device import drift_factor
from neuromorphic_sim.energy import LayerEvents, device_energy_j, spikesim_pe_cycle_pj
from neuromorphic_sim.exceptions import (
    ConfigurationError,
    NeuromorphicSimError,
    ReplayInputError,
    UnsupportedLayerError,
)
from neuromorphic_sim.figure import FigurePaths, draw_side_by_side, side_by_side
from neuromorphic_sim.frontier import Frontier, FrontierPoint, frontier
from neuromorphic_sim.folding import fold_batch_norm, fold_batch_norms
from neuromorphic_sim.mapping import MappedMatrix, WeightCode, map_matrix, weight_code
from neuromorphic_sim.network import CrossbarNetwork, build_crossbar_network
from neuromorphic_sim.reference import DigitalReference, count_macs, digital_reference
from neuromorphic_sim.replay import map_model, replay
from neuromorphic_sim.report import LayerEnergy, LayerMapping, MappingReport, ReplayReport
from neuromorphic_sim.spikesim import (
    VGG9_CIFAR10_SPIKESIM,
    ClosedFormEnergy,
    ComparisonTerm,
    ConvShape,
    SpikeSimComparison,
    compare_with_spikingjelly,
    spikesim_closed_form,
)
from neuromorphic_sim.sweep import SweepPoint, SweepResult, sweep

__all__ = [
    "VGG9_CIFAR10_SPIKESIM",
    "ClosedFormEnergy",
    "ComparisonTerm",
    "ConfigurationError",
    "ConvShape",
    "CrossbarConfig",
    "CrossbarNetwork",
    "CrossbarStageResult",
    "DeviceConfig",
    "DigitalReference",
    "FigurePaths",
    "Frontier",
    "FrontierPoint",
    "HardwareConfig",
    "LayerEnergy",
    "LayerEvents",
    "LayerMapping",
    "MappedMatrix",
    "MappingReport",
    "NeuromorphicSimError",
    "PCMNoiseModel",
    "PeripheryConfig",
    "ReplayInputError",
    "ReplayReport",
    "SpikeSimComparison",
    "SpikeSimConstants",
    "SweepPoint",
    "SweepResult",
    "UnsupportedLayerError",
    "WeightCode",
    "build_crossbar_network",
    "compare_with_spikingjelly",
    "count_macs",
    "crossbar_stage",
    "device_energy_j",
    "digital_reference",
    "draw_side_by_side",
    "drift_factor",
    "fold_batch_norm",
    "fold_batch_norms",
    "frontier",
    "map_matrix",
    "map_model",
    "presets",
    "replay",
    "side_by_side",
    "spikesim_closed_form",
    "spikesim_pe_cycle_pj",
    "sweep",
    "weight_code",
]
