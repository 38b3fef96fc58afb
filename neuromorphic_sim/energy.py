"""Energy from counted events, as pure functions.

The replay counts events per layer (:class:`LayerEvents`); two accountings turn them into
joules per component:

* ``device``: each component charged per event with the periphery's constants, the cells
  with V²·t·ΣG over the rows each read drives;
* ``spikesim``: SpikeSim's energy per processing-element (PE) cycle, a PE cycle being one
  output position of one (input-channel tile × output-channel tile) pair, charged for every PE
  cycle (``dense``), for every PE cycle with input (``event``), or by spikingjelly's event
  formula (``spikingjelly_event``: crossbar per driven row, neuron per output position with
  input).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from neuromorphic_sim.config import ActivityMode, HardwareConfig, SpikeSimConstants

PJ = 1e-12
"""One picojoule in joules."""


@dataclass(frozen=True)
class LayerEvents:
    """What one layer did, per inference (summed over time steps and input planes)."""

    active_row_reads: float
    """Word lines driven: (row, position, plane) with a non-zero input."""
    active_group_reads: float
    """Row groups read with at least one active row (each read converts every column)."""
    conductance_read_s: float
    """Σ over driven rows of the row's total conductance (DAC reads weighted by amplitude²), S."""
    driver_pulses: float
    """Bit-serial word-line pulses for multi-bit inputs (0 for binary spikes)."""
    dac_conversions: float
    """DAC conversions for multi-bit inputs driven through a DAC."""
    dense_group_reads: float
    """Row-group reads if every group were read at every position, plane and step."""
    output_updates: float
    """Output values computed (neuron updates)."""
    input_bits: float
    """Input bits fetched from the buffer (one per input value per plane)."""
    row_occupancy_reads: float = 0.0
    """Σ over group reads of the fraction of the group's rows driven (a read with every row of
    its group driven counts 1; the dense count is ``dense_group_reads``)."""
    active_output_sites: float = 0.0
    """Output positions (per plane, sample and step) whose input holds a non-zero value in any
    row group."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)

    def __add__(self, other: "LayerEvents") -> "LayerEvents":
        return LayerEvents(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scaled(self, factor: float) -> "LayerEvents":
        """Every counter multiplied by ``factor``."""
        return LayerEvents(*(getattr(self, f.name) * factor for f in fields(self)))


@dataclass(frozen=True)
class LayerGeometry:
    """What the energy model needs to know of a mapped layer."""

    physical_columns: int
    """Columns converted per group read (data and reference columns)."""
    output_tiles: int
    """ceil(C_out / X): SpikeSim's output-channel tiles (one column per output channel)."""
    kernel_area: int
    """k·k (1 for a linear layer)."""
    row_groups: int = 1
    """Row groups (SpikeSim's input-channel tiles, ceil(C_in / X) under ``kernel_split``)."""


def device_energy_j(
    events: LayerEvents, geometry: LayerGeometry, hw: HardwareConfig
) -> dict[str, float]:
    """Joules per component under the ``device`` accounting."""
    device, periphery = hw.device, hw.periphery
    conversions = events.active_group_reads * geometry.physical_columns
    moved_bits = events.input_bits + events.output_updates * periphery.output_bits
    return {
        "cell_read": device.read_voltage_v**2 * device.read_pulse_s * events.conductance_read_s,
        "adc": conversions * periphery.adc_energy_j,
        "column_mux": conversions * periphery.mux_energy_per_conversion_j,
        "input_driver": events.driver_pulses * periphery.driver_energy_per_row_pulse_j
        + events.dac_conversions * periphery.dac_energy_per_conversion_j,
        "neuron": events.output_updates * periphery.neuron_update_energy_j,
        "accumulate": conversions * periphery.accumulate_energy_j,
        "buffer": moved_bits * periphery.buffer_energy_per_bit_j,
        "interconnect": moved_bits * periphery.interconnect_energy_per_bit_j,
    }


SPIKESIM_COMPONENTS = (
    "tile_buffer",
    "htree",
    "mem_fetch",
    "neuron",
    "crossbar",
    "adc",
    "mux",
    "temp_buffer",
    "sub",
)
"""The components of SpikeSim's PE-cycle energy (:func:`spikesim_pe_cycle_pj`)."""


def spikesim_pe_cycle_pj(constants: SpikeSimConstants, kernel_area: int) -> dict[str, float]:
    """SpikeSim's energy of one PE cycle by component, pJ (X/8 ADC groups of X/8 columns).

    E = tile buffer + H-tree + memory fetch + neuron + (X/8)·k²·E_xbar
        + (X/8)²·(E_ADC + E_MUX) + (X/8)·E_temp + 16·(X/8)·E_sub.
    """
    groups = constants.xbar_size / 8.0
    return {
        "tile_buffer": constants.tile_buffer_pj,
        "htree": constants.htree_pj,
        "mem_fetch": constants.mem_fetch_pj,
        "neuron": constants.neuron_pj,
        "crossbar": groups * kernel_area * constants.rram_xbar_pj,
        "adc": groups * groups * constants.adc_pj,
        "mux": groups * groups * constants.mux_pj,
        "temp_buffer": groups * constants.temp_buffer_pj,
        "sub": groups * 16.0 * constants.sub_pj,
    }


def spikesim_charged_cycles(
    events: LayerEvents, geometry: LayerGeometry, mode: ActivityMode
) -> dict[str, float]:
    """PE cycles each SpikeSim component is charged for (its per-PE-cycle energy applies).

    ``dense``: every PE cycle; ``event``: every PE cycle whose input tile holds a non-zero input;
    ``spikingjelly_event``: those for the periphery, but the crossbar by the fraction of rows
    driven (a full PE cycle's read scaled by occupancy: spikingjelly's E_xbar/8 × X/C_tile per
    active row) and the neuron module for every input tile at each output position with any
    input (spikingjelly's ceil(C_in/X) × active output sites).
    """
    tiles = geometry.output_tiles
    if mode == "dense":
        return dict.fromkeys(SPIKESIM_COMPONENTS, events.dense_group_reads * tiles)
    charged = dict.fromkeys(SPIKESIM_COMPONENTS, events.active_group_reads * tiles)
    if mode == "spikingjelly_event":
        charged["crossbar"] = events.row_occupancy_reads * tiles
        charged["neuron"] = events.active_output_sites * geometry.row_groups * tiles
    return charged


def spikesim_energy_j(
    events: LayerEvents,
    geometry: LayerGeometry,
    constants: SpikeSimConstants,
    mode: ActivityMode | None = None,
) -> dict[str, float]:
    """Joules per component under the ``spikesim`` accounting, in ``mode`` (default: the
    constants' ``activity_mode``)."""
    charged = spikesim_charged_cycles(events, geometry, mode or constants.activity_mode)
    per_cycle = spikesim_pe_cycle_pj(constants, geometry.kernel_area)
    return {name: charged[name] * pj * PJ for name, pj in per_cycle.items()}


def layer_energy_j(
    events: LayerEvents, geometry: LayerGeometry, hw: HardwareConfig
) -> dict[str, float]:
    """Joules per component with the accounting ``hw`` asks for."""
    if hw.accounting == "spikesim":
        assert hw.spikesim is not None  # HardwareConfig validates this
        return spikesim_energy_j(events, geometry, hw.spikesim)
    return device_energy_j(events, geometry, hw)
