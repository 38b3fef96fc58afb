"""Per-layer spike statistics from a run of a ``SpikingModel`` over a data set."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from spiking.counting import ann_macs_per_layer
from spiking.data import DataSource, iter_batches
from spiking.energy import EnergyEstimate, estimate_energy
from spiking.exceptions import InvalidInputError
from spiking.neurobench_convention import NeuroBenchCounter, NeuroBenchStatistics
from spiking.steps import SteppedModel, validate_timesteps

Convention = Literal["events", "neurobench", "both"]
"""How ``SpikingModel.statistics`` counts: ``events`` at the spiking neurons (this package,
``spiking.counting``), ``neurobench`` at each layer's input as NeuroBench does
(``spiking.neurobench_convention``), or ``both`` from one run."""


@dataclass(frozen=True)
class NeuronLayerStatistics:
    """Activity of one layer of spiking neurons (one converted ReLU)."""

    name: str
    """Module path of the neuron layer in the converted graph, e.g. ``spiking_0``."""
    neurons: int
    """Neurons per sample."""
    spikes: int
    """Spikes over the whole run (all samples, all T steps)."""
    spikes_per_sample: float
    """Spikes per sample over T steps."""
    firing_rate: float
    """Spikes per neuron per time step, in [0, 1]."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class SynapticLayerStatistics:
    """Work of one Conv/Linear layer: synaptic operations (spike input) or MACs (analog input)."""

    name: str
    """Module path, the same in the ANN and the SNN."""
    kind: str
    """Conv1d, Conv2d, Conv3d or Linear."""
    spiking_input: bool
    """True when the layer receives spikes; False for an analog layer (usually the first)."""
    basis: str
    """``spikes`` (counted from neuron outputs), ``nonzero`` (an unknown operation sits between
    neurons and layer: its non-zero outputs were counted, a lower bound) or ``analog``."""
    sources: tuple[str, ...]
    """Neuron layers whose spikes reach this layer."""
    input_events: int
    """Events (spikes, pooled spike counts) reaching the layer over the run."""
    synops: int
    """Synaptic operations over the run: sum of events x fan-out."""
    synops_per_sample: float
    """Synaptic operations per sample over T steps."""
    macs_per_sample: float
    """MACs per sample over T steps (analog layers only; 0 for spiking input): x T, or x 1 when
    the layer holds a constant current."""
    ann_macs_per_sample: int
    """MACs of the same layer in the ANN, per sample."""
    constant_current: bool = False
    """An analog layer computed once per input and injected at every step (``convert(...,
    constant_current=True)``)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class SpikeStatistics:
    """What a run of the SNN over a data set did, per layer and in total."""

    timesteps: int
    """T of the run."""
    samples: int
    """Number of samples run."""
    neurons: tuple[NeuronLayerStatistics, ...]
    """Spiking-neuron layers, in graph order."""
    synapses: tuple[SynapticLayerStatistics, ...]
    """Conv/Linear layers, in graph order."""
    accuracy: float | None
    """Top-1 accuracy of the SNN on this run, when the data is labelled."""
    neurobench: NeuroBenchStatistics | None = None
    """The same run counted in NeuroBench's convention (``convention="both"``), else ``None``."""

    @property
    def spikes_per_sample(self) -> float:
        """All spikes per sample over T steps."""
        return sum(layer.spikes_per_sample for layer in self.neurons)

    @property
    def mean_firing_rate(self) -> float:
        """Spikes per neuron per time step over all neuron layers."""
        neurons = sum(layer.neurons for layer in self.neurons)
        return self.spikes_per_sample / (neurons * self.timesteps) if neurons else 0.0

    @property
    def synops_per_sample(self) -> float:
        """All synaptic operations per sample over T steps."""
        return sum(layer.synops_per_sample for layer in self.synapses)

    @property
    def snn_macs_per_sample(self) -> float:
        """MACs per sample over T steps of the analog layers."""
        return sum(layer.macs_per_sample for layer in self.synapses)

    @property
    def ann_macs_per_sample(self) -> int:
        """MACs per sample of the ANN (Conv/Linear layers)."""
        return sum(layer.ann_macs_per_sample for layer in self.synapses)

    @property
    def constant_current(self) -> bool:
        """Whether the analog layers held a constant current in this run."""
        return any(layer.constant_current for layer in self.synapses if not layer.spiking_input)

    @property
    def analog_macs_per_step(self) -> float:
        """MACs per sample of the analog layers for one evaluation (one step)."""
        return sum(
            layer.macs_per_sample / (1 if layer.constant_current else self.timesteps)
            for layer in self.synapses
            if not layer.spiking_input
        )

    def energy(self, precision: str = "fp32", *, constant_current: bool | None = None) -> EnergyEstimate:
        """Digital compute-energy estimate per sample (Horowitz 45 nm; see ``spiking.energy``).

        ``constant_current``: count the analog first layer's MACs once (True) or x T (False); by
        default as this run did it (``convert(..., constant_current=...)``).
        """
        return estimate_energy(
            ann_macs=self.ann_macs_per_sample,
            analog_macs_per_step=self.analog_macs_per_step,
            synops=self.synops_per_sample,
            spiking_layer_macs=sum(layer.ann_macs_per_sample for layer in self.synapses if layer.spiking_input),
            timesteps=self.timesteps,
            precision=precision,
            constant_current=self.constant_current if constant_current is None else constant_current,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view, with totals."""
        return {
            "timesteps": self.timesteps,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "neurons": [layer.to_dict() for layer in self.neurons],
            "synapses": [layer.to_dict() for layer in self.synapses],
            "spikes_per_sample": self.spikes_per_sample,
            "mean_firing_rate": self.mean_firing_rate,
            "synops_per_sample": self.synops_per_sample,
            "snn_macs_per_sample": self.snn_macs_per_sample,
            "ann_macs_per_sample": self.ann_macs_per_sample,
            **({"neurobench": self.neurobench.to_dict()} if self.neurobench is not None else {}),
        }

    def to_table(self) -> str:
        """Plain-text tables: neuron layers, then synaptic layers (per sample, over T steps)."""
        lines = [f"Spiking run: T = {self.timesteps}, {self.samples} samples (counts per sample)"]
        lines.append(f"{'neuron layer':<24}{'neurons':>10}{'spikes':>12}{'rate':>8}")
        for n in self.neurons:
            lines.append(f"{n.name:<24}{n.neurons:>10,}{n.spikes_per_sample:>12,.1f}{n.firing_rate:>8.3f}")
        lines.append(f"{'synaptic layer':<24}{'input':>8}{'SynOps':>14}{'SNN MACs':>12}{'ANN MACs':>12}")
        for s in self.synapses:
            source = "spikes" if s.spiking_input else "analog"
            if s.basis == "nonzero":
                source = "nonzero*"
            lines.append(
                f"{s.name + ' (' + s.kind + ')':<24}{source:>8}{s.synops_per_sample:>14,.0f}"
                f"{s.macs_per_sample:>12,.0f}{s.ann_macs_per_sample:>12,}"
            )
        lines.append(
            f"{'total':<24}{'':>8}{self.synops_per_sample:>14,.0f}{self.snn_macs_per_sample:>12,.0f}"
            f"{self.ann_macs_per_sample:>12,}"
        )
        if any(s.basis == "nonzero" for s in self.synapses):
            lines.append("* counted as non-zero inputs behind an operation the counter does not know (lower bound)")
        if self.neurobench is not None:
            lines.append(self.neurobench.to_table())
        return "\n".join(lines)


def _run(
    model: SteppedModel, data: DataSource, steps: int, network: torch.nn.Module | None, progress: bool
) -> tuple[int, float | None]:
    """Run ``model`` (or ``network`` in its place) over ``data`` for ``steps`` steps per batch;
    returns the number of samples and the accuracy (``None`` for unlabelled data)."""
    samples = correct = 0
    labelled = True
    for batch in tqdm(iter_batches(data, name="data"), desc=f"statistics T={steps}", disable=not progress, leave=False):
        total: torch.Tensor | None = None
        for output in model.iter_steps(batch.inputs, steps, network=network):
            total = output.clone() if total is None else total.add_(output)
        samples += len(batch.inputs)
        if batch.targets is None or total is None:
            labelled = False
        else:
            correct += int((total.argmax(dim=1).cpu() == batch.targets.cpu()).sum().item())
    return samples, (correct / samples if labelled else None)


def collect_neurobench_statistics(
    model: SteppedModel, data: DataSource, timesteps: int | None = None, *, progress: bool = False
) -> NeuroBenchStatistics:
    """Run ``model`` over ``data`` for T steps per batch, counted as NeuroBench counts
    (``spiking.neurobench_convention``)."""
    steps = model.timesteps if timesteps is None else validate_timesteps(timesteps)
    with NeuroBenchCounter(model.snn) as counter:
        samples, accuracy = _run(model, data, steps, None, progress)
    return counter.result(steps, samples, accuracy)


def collect_statistics(
    model: SteppedModel,
    data: DataSource,
    timesteps: int | None = None,
    *,
    progress: bool = False,
    neurobench: bool = False,
) -> SpikeStatistics:
    """Run ``model`` over ``data`` for T steps per batch and count spikes, SynOps and MACs; with
    ``neurobench=True`` the same run is also counted in NeuroBench's convention."""
    steps = model.timesteps if timesteps is None else validate_timesteps(timesteps)
    network = model.counting_network
    network.clear()
    counter = NeuroBenchCounter(model.snn) if neurobench else None
    with counter if counter is not None else nullcontext():
        samples, accuracy = _run(model, data, steps, network.schedule(steps), progress)
    ann_macs = ann_macs_per_layer(model.ann, model.input_shape, model.device)
    neurons = tuple(
        NeuronLayerStatistics(
            name=tap.name,
            neurons=tap.neurons_per_sample,
            spikes=round(tap.spikes),
            spikes_per_sample=tap.spikes / samples,
            firing_rate=tap.spikes / (samples * steps * tap.neurons_per_sample)
            if tap.neurons_per_sample
            else 0.0,
        )
        for tap in network.spike_taps
    )
    synapses = tuple(
        SynapticLayerStatistics(
            name=info.name,
            kind=info.kind,
            spiking_input=info.spiking,
            basis=info.basis,
            sources=info.sources,
            input_events=round(tap.events),
            synops=round(tap.synops),
            synops_per_sample=tap.synops / samples,
            macs_per_sample=float(tap.connections * (1 if info.constant_current else steps)),
            ann_macs_per_sample=ann_macs.get(info.name, 0),
            constant_current=info.constant_current,
        )
        for info, tap in zip(network.synapses, network.synapse_taps)
    )
    return SpikeStatistics(
        timesteps=steps,
        samples=samples,
        neurons=neurons,
        synapses=synapses,
        accuracy=accuracy,
        neurobench=counter.result(steps, samples, accuracy) if counter is not None else None,
    )


def check_convention(convention: object) -> Convention:
    """``convention`` if it names one, else ``InvalidInputError``."""
    if convention not in ("events", "neurobench", "both"):
        raise InvalidInputError(f"convention={convention!r} is unknown: use 'events', 'neurobench' or 'both'.")
    return convention  # type: ignore[return-value]
