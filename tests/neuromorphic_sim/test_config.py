"""Configuration: validation naming the field, presets and their sources."""

from __future__ import annotations

import dataclasses

import pytest
from spikingjelly.activation_based.op_counter.spikesim import SpikeSimEnergyConfig

from nature_callback.exceptions import ConfigurationError as NatureConfigurationError
from neuromorphic_sim import (
    ConfigurationError,
    CrossbarConfig,
    DeviceConfig,
    PeripheryConfig,
    SpikeSimConstants,
    presets,
)

RERAM = presets.RERAM


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("device", "g_min_s", -1e-6),  # negative conductance
        ("device", "g_max_s", -5e-5),
        ("device", "g_min_s", 60e-6),  # G_min >= G_max
        ("device", "bits_per_cell", 0),
        ("device", "d2d_variation", -0.1),
        ("device", "stuck_at_hrs_fraction", 1.5),
        ("device", "stuck_at_lrs_fraction", -0.01),
        ("device", "read_pulse_s", 0.0),
        ("device", "drift_t0_s", 0.0),
        ("crossbar", "rows", 0),
        ("crossbar", "columns", 0),
        ("crossbar", "weight_bits", 1),
        ("crossbar", "signed_encoding", "mirror"),
        ("periphery", "adc_bits", 0),
        ("periphery", "input_bits", 0),
        ("periphery", "adc_full_scale_fraction", 1.2),
        ("periphery", "adc_energy_per_conversion_j", float("nan")),
        ("periphery", "columns_per_adc", 0),
    ],
)
def test_invalid_field_raises_naming_it(section: str, field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=field):
        dataclasses.replace(getattr(RERAM, section), **{field: value})


def test_configuration_error_is_the_projects() -> None:
    with pytest.raises(NatureConfigurationError):
        CrossbarConfig(rows=0, columns=64)
    with pytest.raises(ValueError):
        CrossbarConfig(rows=0, columns=64)


def test_stuck_fractions_may_not_exceed_one_together() -> None:
    with pytest.raises(ConfigurationError, match="stuck_at"):
        dataclasses.replace(RERAM.device, stuck_at_hrs_fraction=0.6, stuck_at_lrs_fraction=0.5)


def test_spikesim_accounting_needs_matching_crossbars() -> None:
    with pytest.raises(ConfigurationError, match="crossbar"):
        dataclasses.replace(presets.SPIKESIM, crossbar=RERAM.crossbar)
    with pytest.raises(ConfigurationError, match="spikesim"):
        dataclasses.replace(presets.SPIKESIM, spikesim=None)


def test_with_parameter_finds_the_section_and_rejects_unknown_names() -> None:
    changed = RERAM.with_parameter("adc_bits", 5).with_parameter("d2d_variation", 0.2)
    assert changed.periphery.adc_bits == 5 and changed.device.d2d_variation == 0.2
    assert RERAM.periphery.adc_bits == 8  # the preset itself is untouched
    with pytest.raises(ConfigurationError, match="parameter='adc_resolution'"):
        RERAM.with_parameter("adc_resolution", 5)


def test_with_parameter_reaches_the_pcm_model_and_drift_compensation() -> None:
    pcm = presets.PCM.with_parameter("drift_scale", 0.5).with_parameter("drift_compensation", False)
    assert pcm.device.pcm is not None and pcm.device.pcm.drift_scale == 0.5
    assert not pcm.periphery.drift_compensation and RERAM.periphery.drift_compensation
    with pytest.raises(ConfigurationError, match="drift_scale"):
        RERAM.with_parameter("drift_scale", 0.5)  # the generic device has no PCM model


def test_from_resistance_inverts_both_ends() -> None:
    device = DeviceConfig.from_resistance(
        "x", r_on_ohm=20e3, r_off_ohm=200e3, bits_per_cell=2, read_voltage_v=0.1, read_pulse_s=1e-8
    )
    assert device.g_max_s == pytest.approx(50e-6) and device.g_min_s == pytest.approx(5e-6)
    assert device.levels == 4


def test_spikesim_preset_equals_spikingjellys_config() -> None:
    theirs = SpikeSimEnergyConfig()
    ours = presets.SPIKESIM.spikesim
    assert ours is not None
    for field in dataclasses.fields(SpikeSimConstants):
        assert getattr(ours, field.name) == getattr(theirs, field.name), field.name
    assert (presets.SPIKESIM.crossbar.rows, presets.SPIKESIM.crossbar.columns) == (
        theirs.xbar_size,
    ) * 2


def test_adc_energy_scales_with_resolution_as_walden() -> None:
    periphery = RERAM.periphery
    four_bits = dataclasses.replace(periphery, adc_bits=4)
    assert four_bits.adc_energy_j == pytest.approx(periphery.adc_energy_per_conversion_j / 16)
    assert (
        dataclasses.replace(periphery, adc_bits=None).adc_energy_j
        == periphery.adc_energy_per_conversion_j
    )


def test_ideal_turns_every_non_ideality_off() -> None:
    ideal = presets.PCM.with_parameter("drift_time_s", 3600.0).ideal()
    device = ideal.device
    assert (
        device.d2d_variation,
        device.c2c_read_noise,
        device.drift_time_s,
        device.bits_per_cell,
        device.pcm,
        device.drifts,
    ) == (0.0, 0.0, 0.0, None, None, False)
    assert (
        ideal.periphery.adc_bits is None
        and ideal.periphery.dac_ideal
        and ideal.crossbar.weight_bits is None
    )
    assert isinstance(ideal.periphery, PeripheryConfig)
