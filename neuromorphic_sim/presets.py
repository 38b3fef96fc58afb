"""Ready-made hardware: a ReRAM crossbar, a PCM crossbar and a SpikeSim-compatible one.

Every constant carries its source next to it (also kept in ``HardwareConfig.sources``);
``docs/neuromorphic_sim.md`` gathers them. Figures marked *assumption* have no
verified source and are there to be overridden.
"""

from __future__ import annotations

from neuromorphic_sim.config import (
    CrossbarConfig,
    DeviceConfig,
    HardwareConfig,
    PCMNoiseModel,
    PeripheryConfig,
    SpikeSimConstants,
)

PJ = 1e-12
"""One picojoule in joules."""

HOROWITZ_INT32_ADD_J = 0.1 * PJ
"""32-bit integer add, 45 nm: 0.1 pJ (Horowitz, ISSCC 2014)."""
HOROWITZ_SRAM_BIT_J = 10.0 * PJ / 64
"""8 KB SRAM, one 64-bit access: 10 pJ, i.e. 0.156 pJ per bit (Horowitz, ISSCC 2014)."""
INTERCONNECT_BIT_J = 0.1 * PJ
"""Moving one bit across a tile: 0.1 pJ. Assumption (order of magnitude of on-die wires at
45 nm, ~0.1 pJ/bit/mm); no verified source."""
ISAAC_ADC_8BIT_J = 2e-3 / 1.28e9
"""8-bit ADC, 32 nm: 2 mW at 1.28 GS/s = 1.56 pJ per conversion
(ISAAC, Shafiee et al., ISCA 2016)."""
ISAAC_DRIVER_PULSE_J = 3.9e-6 * 100e-9
"""1-bit word-line driver: 3.9 µW over ISAAC's 100 ns crossbar cycle = 0.39 pJ per pulse
(ISAAC via MNSIM)."""
SPIKESIM_MUX_J = 0.094245 * PJ
"""Column multiplexer per conversion, 65 nm (SpikeSim ela_spikesim.py; spikingjelly 2.0.0)."""

_COMMON_SOURCES = {
    "bits_per_cell": "1–2 bits per cell (SpikeSim, NeuroSim)",
    "weight_bits": "8-bit weights (DNN+NeuroSim default wl_weight=8)",
    "input_bits": "8-bit activations, bit-serial (DNN+NeuroSim wl_activate=8; ISAAC)",
    "columns_per_adc": "8 columns per ADC (NeuroSim numColMuxed)",
    "adc_energy_per_conversion_j": "8-bit ADC 1.56 pJ at 32 nm (ISAAC); "
    "other bits scale as 2**bits (Walden FOM)",
    "mux_energy_per_conversion_j": "0.094 pJ per conversion (SpikeSim, 65 nm)",
    "driver_energy_per_row_pulse_j": "1-bit driver 3.9 µW × 100 ns (ISAAC via MNSIM)",
    "dac_energy_per_conversion_j": "assumption: an 8-bit DAC costs 8 one-bit drivers",
    "neuron_update_energy_j": "INT32 add + compare, 2 × 0.1 pJ (Horowitz ISSCC 2014, 45 nm)",
    "accumulate_energy_j": "INT32 add 0.1 pJ (Horowitz ISSCC 2014, 45 nm)",
    "buffer_energy_per_bit_j": "8 KB SRAM 64-bit access 10 pJ → 0.156 pJ/bit (Horowitz ISSCC 2014)",
    "interconnect_energy_per_bit_j": "assumption: 0.1 pJ/bit (on-die wires, order of magnitude)",
    "output_bits": "16-bit fixed-point outputs (ISAAC)",
    "drift_compensation": "global drift compensation on (aihwkit GlobalDriftCompensation, "
    "its inference default); no effect where nothing drifts",
}


def _periphery(adc_bits: int | None) -> PeripheryConfig:
    return PeripheryConfig(
        adc_bits=adc_bits,
        adc_energy_per_conversion_j=ISAAC_ADC_8BIT_J,  # ISAAC, 8 bit, 32 nm
        adc_reference_bits=8,  # ISAAC's figure is for an 8-bit ADC
        columns_per_adc=8,  # NeuroSim numColMuxed
        mux_energy_per_conversion_j=SPIKESIM_MUX_J,  # SpikeSim, 65 nm
        adc_full_scale_fraction=1.0,  # worst case: every row at g_max (no clipping)
        input_driver="bit_serial",  # ISAAC, NeuroSim
        input_bits=8,  # DNN+NeuroSim wl_activate=8
        driver_energy_per_row_pulse_j=ISAAC_DRIVER_PULSE_J,  # ISAAC via MNSIM
        dac_energy_per_conversion_j=8 * ISAAC_DRIVER_PULSE_J,  # assumption (8 one-bit drivers)
        neuron_update_energy_j=2 * HOROWITZ_INT32_ADD_J,  # Horowitz 45 nm: add + compare
        accumulate_energy_j=HOROWITZ_INT32_ADD_J,  # Horowitz 45 nm
        buffer_energy_per_bit_j=HOROWITZ_SRAM_BIT_J,  # Horowitz 45 nm, 8 KB SRAM
        interconnect_energy_per_bit_j=INTERCONNECT_BIT_J,  # assumption
        output_bits=16,  # ISAAC 16-bit fixed point
        drift_compensation=True,  # aihwkit GlobalDriftCompensation (its inference default)
    )


RERAM = HardwareConfig(
    name="ReRAM 128×128",
    device=DeviceConfig.from_resistance(
        "ReRAM",
        r_on_ohm=20e3,  # SpikeSim: R_on ≈ 20 kΩ
        r_off_ohm=200e3,  # SpikeSim: R_off ≈ 200 kΩ
        bits_per_cell=2,  # SpikeSim, NeuroSim: 1–2 bits per cell
        read_voltage_v=0.1,  # SpikeSim: 0.1 V
        read_pulse_s=10e-9,  # NeuroSim: 10 ns read pulse
        d2d_variation=0.05,  # MNSIM, NeuroSim: σ 5–10 % of G
        c2c_read_noise=0.003,  # DNN+NeuroSim V2.0 default c2cVari = 0.003
        stuck_at_hrs_fraction=0.0,  # faults off by default; MNSIM's default is 0.09
        stuck_at_lrs_fraction=0.0,  # faults off by default; MNSIM's default is 0.01
    ),
    crossbar=CrossbarConfig(
        rows=128,  # NeuroSim, MNSIM, ISAAC: 128×128
        columns=128,
        weight_bits=8,  # DNN+NeuroSim wl_weight=8
        signed_encoding="differential",
        conv_mapping="unrolled",
    ),
    periphery=_periphery(adc_bits=8),  # ISAAC: 8-bit ADC
    sources={
        "g_min_s, g_max_s": "R_off 200 kΩ / R_on 20 kΩ (SpikeSim)",
        "read_voltage_v": "0.1 V (SpikeSim)",
        "read_pulse_s": "10 ns (NeuroSim)",
        "d2d_variation": "σ 5 % (MNSIM, NeuroSim: 5–10 %)",
        "c2c_read_noise": "0.003 (DNN+NeuroSim V2.0 default c2cVari; "
        "a write-cycle figure, used per read)",
        "stuck_at_*": "0 by default; MNSIM's default is 9 % HRS, 1 % LRS (see MNSIM_STUCK_AT)",
        "rows, columns": "128×128 (NeuroSim, MNSIM, ISAAC)",
        "adc_bits": "8 bits (ISAAC)",
        **_COMMON_SOURCES,
    },
)
"""A ReRAM crossbar after ISAAC/NeuroSim: 128×128, 2-bit cells, 8-bit weights, 8-bit ADC."""

MNSIM_STUCK_AT = {"stuck_at_hrs_fraction": 0.09, "stuck_at_lrs_fraction": 0.01}
"""MNSIM's default stuck-at fractions: 9 % of cells at high resistance, 1 % at low."""

PCM = HardwareConfig(
    name="PCM 128×128",
    device=DeviceConfig(
        name="PCM",
        g_min_s=25e-6 / 100,  # on/off ratio ≈ 100 (aihwkit, CrossSim)
        g_max_s=25e-6,  # aihwkit PCMLikeNoiseModel: g_max 25 µS
        bits_per_cell=None,  # analog cell (aihwkit models PCM conductance as continuous)
        read_voltage_v=0.1,  # assumption: same as the ReRAM preset; no PCM figure verified
        read_pulse_s=250e-9,  # aihwkit PCMLikeNoiseModel t_read = 250 ns
        c2c_read_noise=0.0,  # aihwkit's PCM model has no per-read noise beyond its 1/f term
        drift_t0_s=20.0,  # aihwkit t_0 = 20 s
        drift_time_s=0.0,  # freshly programmed; set the read time to see drift
        pcm=PCMNoiseModel(),  # Nandakumar et al. ICECS 2019, aihwkit's constants
    ),
    crossbar=CrossbarConfig(rows=128, columns=128, weight_bits=8, signed_encoding="differential"),
    periphery=_periphery(adc_bits=8),
    sources={
        "g_max_s": "25 µS (aihwkit PCMLikeNoiseModel)",
        "g_min_s": "on/off ≈ 100 (aihwkit, CrossSim)",
        "bits_per_cell": "analog (continuous) cell, as in aihwkit",
        "read_voltage_v": "assumption: 0.1 V as for ReRAM",
        "read_pulse_s": "250 ns (aihwkit t_read)",
        "pcm": "statistical PCM model of Nandakumar et al. (ICECS 2019) with the constants of "
        "aihwkit PCMLikeNoiseModel: programming noise σ_prog(g), drift exponent ν per device, "
        "accumulated 1/f noise (see PCMNoiseModel)",
        "c2c_read_noise": "0: aihwkit's PCM model represents read noise by its accumulated "
        "1/f term, drawn once for the read time",
        "drift_t0_s": "t0 20 s (aihwkit PCMLikeNoiseModel)",
        **_COMMON_SOURCES,
    },
)
"""A PCM crossbar after IBM aihwkit's PCMLikeNoiseModel (Nandakumar et al., ICECS 2019)."""

SPIKESIM = HardwareConfig(
    name="SpikeSim 64×64 RRAM",
    device=RERAM.device,
    crossbar=CrossbarConfig(
        rows=64,  # SpikeSim: 64×64 crossbars
        columns=64,
        weight_bits=8,
        signed_encoding="differential",
        conv_mapping="kernel_split",  # SpikeSim: k² crossbars of C_in rows per PE
    ),
    periphery=_periphery(adc_bits=8),  # used for accuracy only; energy from `spikesim`
    accounting="spikesim",
    spikesim=SpikeSimConstants(),  # equal to spikingjelly 2.0.0 SpikeSimEnergyConfig()
    sources={
        "spikesim": "SpikeSim ela_spikesim.py (Moitra et al., TCAD 2023), as in spikingjelly "
        "2.0.0 op_counter.spikesim.SpikeSimEnergyConfig",
        "rows, columns": "64×64 (SpikeSim)",
        "conv_mapping": "k² crossbars of C_in rows (SpikeSim)",
    },
)
"""SpikeSim's closed-form energy (per PE cycle) on 64×64 RRAM crossbars; accuracy simulated
with the ReRAM device."""

__all__ = ["MNSIM_STUCK_AT", "PCM", "RERAM", "SPIKESIM"]
