"""``replay``: run a spiking or conventional network on simulated crossbars over a data set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from spiking.steps import module_device
from torch import fx, nn
from tqdm.auto import tqdm

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.data import count_batches, labelled_batches
from neuromorphic_sim.energy import LayerEvents, layer_energy_j
from neuromorphic_sim.exceptions import ReplayInputError
from neuromorphic_sim.network import CrossbarNetwork, build_crossbar_network, is_spiking
from neuromorphic_sim.presets import RERAM
from neuromorphic_sim.report import (
    LayerEnergy,
    format_duration,
    LayerMapping,
    MappingReport,
    ModelKind,
    ReplayReport,
)


@dataclass(frozen=True)
class ResolvedModel:
    """The network to map, what it is, and how many steps it runs."""

    network: nn.Module
    """The spiking GraphModule or the ANN."""
    kind: ModelKind
    """``snn`` or ``ann``."""
    timesteps: int
    """T (1 for an ANN)."""


def resolve_model(model: Any, timesteps: int | None) -> ResolvedModel:
    """Accept a ``SpikingModel`` (anything with ``.snn`` and ``.timesteps``), a converted
    spiking GraphModule, or a plain torch model (the ANN on the crossbar)."""
    if timesteps is not None and (
        isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1
    ):
        raise ReplayInputError(f"timesteps={timesteps!r} is invalid: it must be an integer >= 1.")
    if hasattr(model, "snn") and hasattr(model, "timesteps"):
        return ResolvedModel(model.snn, "snn", timesteps or int(model.timesteps))
    if not isinstance(model, nn.Module):
        raise ReplayInputError(
            f"model of type {type(model).__name__} cannot be replayed: pass a SpikingModel, "
            "a spikingjelly-converted GraphModule, or a torch.nn.Module (the ANN)."
        )
    if is_spiking(model):
        if not isinstance(model, fx.GraphModule):
            raise ReplayInputError(
                "a spiking model must be spikingjelly's converted torch.fx.GraphModule."
            )
        if timesteps is None:
            raise ReplayInputError(
                "timesteps is required for a spiking GraphModule (how many steps T to run)."
            )
        return ResolvedModel(model, "snn", timesteps)
    return ResolvedModel(model, "ann", 1)


def mapping_report(network: CrossbarNetwork, hw: HardwareConfig) -> MappingReport:
    """Crossbars and utilisation per layer of a built crossbar network."""
    layers = []
    for name, layer in network.layers.items():
        mapped = layer.mapped
        capacity = mapped.crossbars * hw.crossbar.rows * hw.crossbar.columns
        layers.append(
            LayerMapping(
                name=name,
                kind="conv" if layer.is_conv else "linear",
                input_rows=mapped.input_rows,
                output_features=layer.out_features,
                weight_slices=mapped.code.n_slices,
                physical_columns=mapped.physical_columns,
                row_groups=layer.groups,
                crossbars=mapped.crossbars,
                utilisation=mapped.programmed_cells / capacity,
                input_encoding=layer.encoding.description,
                drift_compensation_gain=mapped.drift_compensation_gain,
            )
        )
    return MappingReport(hw.name, hw.crossbar.rows, hw.crossbar.columns, tuple(layers))


def map_model(model: Any, config: HardwareConfig = RERAM) -> MappingReport:
    """The mapping report of ``model`` on ``config`` without running any data."""
    resolved = resolve_model(model, 1)  # T does not change the mapping
    return mapping_report(build_crossbar_network(resolved.network, config), config)


_SPIKESIM_MODES = {
    "dense": "every PE cycle charged, spikes or not",
    "event": "every PE cycle with input charged in full",
    "spikingjelly_event": "spikingjelly 2.0.0's event formula (crossbar per driven row, neuron "
    "per output position with input)",
}
"""What each SpikeSim activity mode charges, for the report's notes."""


def _drift_notes(network: CrossbarNetwork, hw: HardwareConfig) -> list[str]:
    """What the device model did over time, and the drift compensation applied."""
    device = hw.device
    if not device.drifts:
        return []
    when = f"read {format_duration(device.drift_time_s)} after programming"
    notes = []
    if device.pcm is not None:
        notes.append(
            "PCM statistical model (Nandakumar et al., ICECS 2019, aihwkit's constants): "
            f"programming noise, drift exponent and 1/f noise per device, {when}"
        )
    if not hw.periphery.drift_compensation:
        notes.append(f"drift compensation off: {when}, outputs uncompensated")
        return notes
    gains = [layer.mapped.drift_compensation_gain for layer in network.layers.values()]
    notes.append(
        f"global drift compensation: layer outputs scaled by ×{min(gains):.4g}–×{max(gains):.4g} "
        f"({when})"
    )
    return notes


def _notes(
    network: CrossbarNetwork, hw: HardwareConfig, resolved: ResolvedModel
) -> tuple[str, ...]:
    notes = ["energies are modelled (crossbar energy model), not measured"]
    if hw.accounting == "spikesim":
        assert hw.spikesim is not None
        mode = hw.spikesim.activity_mode
        notes.append(f"SpikeSim per-PE-cycle constants, {mode} mode: {_SPIKESIM_MODES[mode]}")
    notes.extend(_drift_notes(network, hw))
    if hw.periphery.adc_bits is None:
        notes.append("ideal ADC (no quantisation); ADC energy charged at the reference resolution")
    multibit = [
        name for name, layer in network.layers.items() if "multi-bit" in layer.encoding.description
    ]
    if multibit and resolved.kind == "snn":
        notes.append(
            f"layer(s) {', '.join(multibit)} take multi-bit input "
            f"({hw.periphery.input_driver}) at every step"
        )
    return tuple(notes)


def replay(
    model: Any,
    data: Any,
    config: HardwareConfig = RERAM,
    timesteps: int | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    max_samples: int | None = None,
) -> ReplayReport:
    """Replay ``model`` on the crossbars of ``config`` over ``data``; accuracy and energy.

    ``model`` is a ``SpikingModel`` (or a converted spiking GraphModule with ``timesteps``),
    run for T steps per batch, or a plain torch model (the ANN, one pass with multi-bit
    inputs). ``data`` yields (inputs, labels) batches. ``max_samples`` stops early (a
    subsample: say so when reporting). Energies are per inference and modelled.
    """
    resolved = resolve_model(model, timesteps)
    target = torch.device(device) if device is not None else module_device(resolved.network)
    network = build_crossbar_network(resolved.network, config).to(target)
    correct = samples = 0
    batches = labelled_batches(data, max_samples=max_samples)
    total = count_batches(data) if max_samples is None else None
    for inputs, labels in tqdm(
        batches,
        total=total,
        disable=not progress,
        desc=f"replay {resolved.kind} on {config.name}",
        leave=False,
    ):
        inputs = inputs.to(target, torch.float32)
        outputs = network.run(inputs, resolved.timesteps)
        correct += int((outputs.argmax(dim=1).cpu() == labels.cpu()).sum())
        samples += len(labels)
    if samples == 0:
        raise ReplayInputError("data yielded no samples.")

    layers = []
    breakdown: dict[str, float] = {}
    for name, layer in network.layers.items():
        events: LayerEvents = layer.events().scaled(1.0 / samples)
        energy = layer_energy_j(events, layer.geometry, config)
        layers.append(LayerEnergy(name, energy, events, layer.geometry))
        for component, joules in energy.items():
            breakdown[component] = breakdown.get(component, 0.0) + joules
    accounting = (
        config.accounting
        if config.spikesim is None or config.accounting != "spikesim"
        else f"spikesim/{config.spikesim.activity_mode}"
    )
    return ReplayReport(
        model_kind=resolved.kind,
        hardware=config.name,
        accounting=accounting,
        timesteps=resolved.timesteps,
        samples=samples,
        accuracy=correct / samples,
        energy_per_inference_j=sum(breakdown.values()),
        breakdown=breakdown,
        layers=tuple(layers),
        mapping=mapping_report(network, config),
        notes=_notes(network, config, resolved),
    )
