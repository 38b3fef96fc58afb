"""Hardware configuration: the memristive device, the crossbar and its periphery.

Every class is a frozen dataclass validated in ``__post_init__``; an invalid value
raises :class:`~neuromorphic_sim.exceptions.ConfigurationError` naming the field.
Units are SI and carried in the field names (``_s`` siemens or seconds as the
docstring says, ``_v`` volts, ``_j`` joules; the SpikeSim constants keep
SpikeSim's picojoules, ``_pj``). The presets with their sources live in
:mod:`neuromorphic_sim.presets`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from neuromorphic_sim.exceptions import ConfigurationError

SignedEncoding = Literal["differential", "offset"]
ConvMapping = Literal["unrolled", "kernel_split"]
InputDriver = Literal["bit_serial", "dac"]
Accounting = Literal["device", "spikesim"]
ActivityMode = Literal["dense", "event", "spikingjelly_event"]
ACTIVITY_MODES: tuple[str, ...] = ("dense", "event", "spikingjelly_event")


# ------------------------------------------------------------------------------ validation
def _fail(owner: str, name: str, value: object, rule: str) -> ConfigurationError:
    return ConfigurationError(f"{owner}.{name}={value!r} is invalid: {rule}")


def _check_number(owner: str, name: str, value: object, *, positive: bool = False) -> None:
    """A finite real number, >= 0 (or > 0 when ``positive``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):  # type: ignore[operator]
        bound = "> 0" if positive else ">= 0"
        raise _fail(owner, name, value, f"it must be a finite number {bound}.")


def _check_fraction(owner: str, name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise _fail(owner, name, value, "it is a fraction and must lie in [0, 1].")


def _check_int(
    owner: str, name: str, value: object, *, minimum: int = 1, optional: bool = False
) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        none = " or None" if optional else ""
        raise _fail(owner, name, value, f"it must be an integer >= {minimum}{none}.")


def _check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(owner, name, value, f"choose one of {', '.join(map(repr, choices))}.")


class _Config:
    """Shared helpers of the configuration dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return asdict(self)  # type: ignore[call-overload]

    def field_names(self) -> tuple[str, ...]:
        """Names of this dataclass's fields."""
        return tuple(f.name for f in fields(self))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ PCM model
@dataclass(frozen=True)
class PCMNoiseModel(_Config):
    """The statistical PCM model of Nandakumar et al. (ICECS 2019), measured on about a million
    IBM PCM devices, with the constants of IBM aihwkit's ``PCMLikeNoiseModel``
    (``src/aihwkit/inference/noise/pcm.py``).

    Every effect is per device (per cell). With g_r = |g| / g_max (``DeviceConfig.g_max_s``):

    * programming noise, additive, at the end of programming:
      g_prog = max(0, g_target + σ_prog·N(0, 1)), σ_prog = (c0 + c1·g_r + c2·g_r²) µS scaled by
      g_max / 25 µS;
    * a drift exponent per device, ν = |μ_ν + σ_ν·N(0, 1)|, μ_ν and σ_ν linear in ln g_r and
      clipped;
    * drift, g_drift = g_prog·((t + t0)/t0)^−ν (``DeviceConfig.drift_t0_s``);
    * accumulated 1/f read noise, drawn once for the read time t:
      g = max(0, g_drift + |g_drift|·σ_1f·N(0, 1)), σ_1f = Q_s·√ln((t + t0 + t_read)/(2·t_read)),
      Q_s = min(Q_max, Q_coefficient / max(floor, (|g_prog|/g_max)^exponent)). As in aihwkit, t
      in σ_1f counts from the first read t0 after programming (t + t0), so σ_1f > 0 at t = 0.

    The ``*_scale`` fields are aihwkit's scales (1: the measured model; 0 switches an effect off).
    """

    programming_coefficients_us: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
    """(c0, c1, c2) of σ_prog = c0 + c1·g_r + c2·g_r², µS at g_max = 25 µS (aihwkit
    ``PCMLikeNoiseModel.prog_coeff`` default): 1.055 µS at g_max, 0.448 µS at 0.1·g_max."""
    programming_reference_g_max_s: float = 25e-6
    """g_max the programming polynomial was fitted at, siemens (aihwkit
    ``prog_coeff_g_max_reference`` = 25 µS); σ_prog scales by g_max_s / this."""
    drift_mean_coefficients: tuple[float, float] = (-0.0155, 0.0244)
    """(a, b) of μ_ν = a·ln g_r + b (aihwkit ``generate_drift_coefficients``)."""
    drift_mean_bounds: tuple[float, float] = (0.049, 0.1)
    """μ_ν clipped to [low, high] (aihwkit)."""
    drift_std_coefficients: tuple[float, float] = (-0.0125, -0.0059)
    """(a, b) of σ_ν = a·ln g_r + b (aihwkit)."""
    drift_std_bounds: tuple[float, float] = (0.008, 0.045)
    """σ_ν clipped to [low, high] (aihwkit)."""
    g_relative_floor: float = 1e-7
    """g_r is clipped at this floor before its logarithm (aihwkit ``_ZERO_CLIP``)."""
    read_noise_coefficient: float = 0.0088
    """Q_s at g_max, the 1/f noise coefficient (aihwkit ``apply_drift_noise_to_conductance``)."""
    read_noise_exponent: float = 0.65
    """Q_s grows as g_r^−exponent below g_max (aihwkit)."""
    read_noise_floor: float = 1e-3
    """g_r^exponent is clipped at this floor (aihwkit)."""
    read_noise_max: float = 0.2
    """Q_s is clipped at this maximum (aihwkit)."""
    read_time_s: float = 250e-9
    """t_read of the 1/f fit, seconds (aihwkit ``t_read`` = 250 ns)."""
    programming_noise_scale: float = 1.0
    """Multiplies σ_prog (aihwkit ``prog_noise_scale``)."""
    drift_scale: float = 1.0
    """Multiplies every ν (aihwkit ``drift_scale``)."""
    read_noise_scale: float = 1.0
    """Multiplies σ_1f (aihwkit ``read_noise_scale``)."""

    def __post_init__(self) -> None:
        owner = "PCMNoiseModel"
        for name in ("drift_mean_bounds", "drift_std_bounds"):
            low, high = getattr(self, name)
            _check_number(owner, name, low)
            if not high >= low:
                raise _fail(owner, name, (low, high), "it must be (low, high) with low <= high.")
        for name in (
            "programming_reference_g_max_s",
            "g_relative_floor",
            "read_noise_floor",
            "read_time_s",
        ):
            _check_number(owner, name, getattr(self, name), positive=True)
        for name in (
            "read_noise_coefficient",
            "read_noise_exponent",
            "read_noise_max",
            "programming_noise_scale",
            "drift_scale",
            "read_noise_scale",
        ):
            _check_number(owner, name, getattr(self, name))


# ---------------------------------------------------------------------------------- device
@dataclass(frozen=True)
class DeviceConfig(_Config):
    """One memristive cell: conductance range, levels, read conditions and non-idealities."""

    name: str
    """Label shown in reports (``ReRAM``, ``PCM``, ...)."""
    g_min_s: float
    """Lowest programmable conductance, siemens (1 / R_off)."""
    g_max_s: float
    """Highest programmable conductance, siemens (1 / R_on)."""
    bits_per_cell: int | None
    """Bits one cell stores (2**bits levels); None: a continuous (analog) conductance."""
    read_voltage_v: float
    """Read voltage on an active word line, volts."""
    read_pulse_s: float
    """Width of one read pulse, seconds."""
    d2d_variation: float = 0.0
    """Device-to-device variation: σ of the programmed conductance relative to its target
    (Gaussian, drawn once per programming)."""
    c2c_read_noise: float = 0.0
    """Cycle-to-cycle read noise: σ of each read relative to the conductance (Gaussian,
    drawn for every read)."""
    stuck_at_hrs_fraction: float = 0.0
    """Fraction of cells stuck in the high-resistance state (conductance g_min_s)."""
    stuck_at_lrs_fraction: float = 0.0
    """Fraction of cells stuck in the low-resistance state (conductance g_max_s)."""
    drift_nu: float = 0.0
    """One drift exponent ν for every cell, G(t) = G0·((t + t0)/t0)^−ν (0: no drift). The PCM
    model (``pcm``) draws ν per device instead."""
    drift_t0_s: float = 20.0
    """Drift reference time t0 (the first read after programming), seconds."""
    drift_time_s: float = 0.0
    """Time since programming t at which the network is read, seconds."""
    pcm: PCMNoiseModel | None = None
    """The statistical PCM model (per-device programming noise, drift exponents and accumulated
    1/f noise); None: the generic model (``d2d_variation``, one ``drift_nu``)."""

    def __post_init__(self) -> None:
        owner = "DeviceConfig"
        _check_number(owner, "g_min_s", self.g_min_s)
        _check_number(owner, "g_max_s", self.g_max_s, positive=True)
        if self.g_min_s >= self.g_max_s:
            raise _fail(
                owner,
                "g_min_s",
                self.g_min_s,
                f"it must be below g_max_s={self.g_max_s!r} (R_off > R_on).",
            )
        _check_int(owner, "bits_per_cell", self.bits_per_cell, optional=True)
        _check_number(owner, "read_voltage_v", self.read_voltage_v, positive=True)
        _check_number(owner, "read_pulse_s", self.read_pulse_s, positive=True)
        _check_number(owner, "d2d_variation", self.d2d_variation)
        _check_number(owner, "c2c_read_noise", self.c2c_read_noise)
        _check_fraction(owner, "stuck_at_hrs_fraction", self.stuck_at_hrs_fraction)
        _check_fraction(owner, "stuck_at_lrs_fraction", self.stuck_at_lrs_fraction)
        if self.stuck_at_hrs_fraction + self.stuck_at_lrs_fraction > 1.0:
            raise _fail(
                owner,
                "stuck_at_lrs_fraction",
                self.stuck_at_lrs_fraction,
                "stuck_at_hrs_fraction + stuck_at_lrs_fraction must not exceed 1.",
            )
        _check_number(owner, "drift_nu", self.drift_nu)
        _check_number(owner, "drift_t0_s", self.drift_t0_s, positive=True)
        _check_number(owner, "drift_time_s", self.drift_time_s)
        if self.pcm is not None:
            for name in ("d2d_variation", "drift_nu"):
                if getattr(self, name) != 0:
                    raise _fail(
                        owner,
                        name,
                        getattr(self, name),
                        "the PCM model (pcm) draws programming noise and drift exponents per "
                        "device; set it to 0, or pcm=None for the generic model.",
                    )

    @property
    def drifts(self) -> bool:
        """True when the conductances read differ from those right after programming (drift or
        accumulated 1/f noise): what global drift compensation corrects."""
        if self.pcm is not None:
            return True  # 1/f noise accumulates from the first read t0, even at t = 0
        return self.drift_nu > 0 and self.drift_time_s > 0

    @classmethod
    def from_resistance(
        cls, name: str, r_on_ohm: float, r_off_ohm: float, **kwargs: Any
    ) -> "DeviceConfig":
        """Build from R_on (low-resistance state) and R_off (high-resistance state), ohms."""
        _check_number("DeviceConfig", "r_on_ohm", r_on_ohm, positive=True)
        _check_number("DeviceConfig", "r_off_ohm", r_off_ohm, positive=True)
        return cls(name=name, g_min_s=1.0 / r_off_ohm, g_max_s=1.0 / r_on_ohm, **kwargs)

    @property
    def levels(self) -> int | None:
        """Conductance levels per cell (None for a continuous cell)."""
        return None if self.bits_per_cell is None else 2**self.bits_per_cell


# -------------------------------------------------------------------------------- crossbar
@dataclass(frozen=True)
class CrossbarConfig(_Config):
    """The array and how weights are laid out on it."""

    rows: int
    """Word lines (inputs) per crossbar."""
    columns: int
    """Bit lines (outputs) per crossbar."""
    weight_bits: int | None = 8
    """Signed weight precision including the sign; a weight with more magnitude bits than a
    cell holds is bit-sliced over several cells. None: one cell per weight, at the cell's
    own resolution (continuous for an analog cell)."""
    signed_encoding: SignedEncoding = "differential"
    """``differential``: a G+ and a G− column per weight; ``offset``: one column per weight
    shifted by half the range, minus a shared reference column per crossbar."""
    conv_mapping: ConvMapping = "unrolled"
    """``unrolled``: im2col rows (C_in·k·k) cut into crossbars of ``rows``; ``kernel_split``:
    SpikeSim's k² crossbars of ``rows`` input channels each, summed per column before the
    ADC (one processing element per input-channel tile)."""

    def __post_init__(self) -> None:
        owner = "CrossbarConfig"
        _check_int(owner, "rows", self.rows)
        _check_int(owner, "columns", self.columns, minimum=2)
        _check_int(owner, "weight_bits", self.weight_bits, minimum=2, optional=True)
        _check_choice(owner, "signed_encoding", self.signed_encoding, ("differential", "offset"))
        _check_choice(owner, "conv_mapping", self.conv_mapping, ("unrolled", "kernel_split"))


# -------------------------------------------------------------------------------- periphery
@dataclass(frozen=True)
class PeripheryConfig(_Config):
    """Converters, drivers, neurons, buffers and wires around the arrays (energy per event)."""

    adc_bits: int | None
    """ADC resolution; None: an ideal ADC (no quantisation; energy still charged)."""
    adc_energy_per_conversion_j: float
    """Energy of one conversion at ``adc_reference_bits``, joules."""
    adc_reference_bits: int
    """Resolution at which ``adc_energy_per_conversion_j`` was reported; other resolutions
    scale as 2**bits (Walden figure of merit, energy per conversion step)."""
    columns_per_adc: int
    """Bit lines multiplexed onto one ADC (sets the ADC count and the read latency)."""
    mux_energy_per_conversion_j: float
    """Column multiplexer energy per conversion, joules."""
    adc_full_scale_fraction: float = 1.0
    """ADC full scale as a fraction of the largest possible column current
    (all rows of a crossbar active at g_max); lower values clip but resolve small currents."""
    input_driver: InputDriver = "bit_serial"
    """How multi-bit inputs (analog pixels, ANN activations, pooled spike counts) reach the
    word lines: ``bit_serial`` (one binary read per bit) or ``dac`` (one analog read).
    Binary spikes gate the word line directly and need neither."""
    input_bits: int = 8
    """Precision of multi-bit inputs that are not spike counts (bit-serial planes or DAC bits)."""
    dac_ideal: bool = False
    """With ``input_driver='dac'``: an ideal DAC (no input quantisation; energy still charged)."""
    driver_energy_per_row_pulse_j: float = 0.0
    """Word-line driver energy per active row per bit-serial pulse, joules."""
    dac_energy_per_conversion_j: float = 0.0
    """DAC energy per active row per read, joules."""
    neuron_update_energy_j: float = 0.0
    """One output update (IF integrate-and-compare, or ReLU and requantise), joules."""
    accumulate_energy_j: float = 0.0
    """One digital shift-and-add of an ADC output into its partial sum, joules."""
    buffer_energy_per_bit_j: float = 0.0
    """On-chip buffer (SRAM) access per bit read or written, joules."""
    interconnect_energy_per_bit_j: float = 0.0
    """Moving one bit between buffers and tiles, joules."""
    output_bits: int = 16
    """Bits written back per output value (partial sums, membrane inputs, activations)."""
    hold_constant_inputs: bool = False
    """Read a layer whose input repeats at every time step (the direct-encoded first layer of
    an SNN) once per inference and hold its outputs, instead of reading it at every step as
    SpikeSim does. Its energy is then charged once."""
    drift_compensation: bool = True
    """Global drift compensation (aihwkit ``GlobalDriftCompensation``, its inference default):
    each layer's outputs are scaled by mean|y(0)| / mean|y(t)|, y being the layer's outputs for
    one-hot reference inputs right after programming and at the read time t. One digital
    gain per layer; it changes nothing where the device does not drift."""

    def __post_init__(self) -> None:
        owner = "PeripheryConfig"
        _check_int(owner, "adc_bits", self.adc_bits, optional=True)
        _check_int(owner, "adc_reference_bits", self.adc_reference_bits)
        _check_int(owner, "columns_per_adc", self.columns_per_adc)
        _check_fraction(owner, "adc_full_scale_fraction", self.adc_full_scale_fraction)
        if self.adc_full_scale_fraction == 0:
            raise _fail(owner, "adc_full_scale_fraction", 0.0, "it must be > 0.")
        _check_choice(owner, "input_driver", self.input_driver, ("bit_serial", "dac"))
        _check_int(owner, "input_bits", self.input_bits)
        _check_int(owner, "output_bits", self.output_bits)
        for name in (
            "adc_energy_per_conversion_j",
            "mux_energy_per_conversion_j",
            "driver_energy_per_row_pulse_j",
            "dac_energy_per_conversion_j",
            "neuron_update_energy_j",
            "accumulate_energy_j",
            "buffer_energy_per_bit_j",
            "interconnect_energy_per_bit_j",
        ):
            _check_number(owner, name, getattr(self, name))

    @property
    def adc_energy_j(self) -> float:
        """Energy of one conversion at ``adc_bits`` (the reference figure when the ADC is ideal)."""
        if self.adc_bits is None:
            return self.adc_energy_per_conversion_j
        return self.adc_energy_per_conversion_j * 2.0 ** (self.adc_bits - self.adc_reference_bits)


# ---------------------------------------------------------------------------------- spikesim
@dataclass(frozen=True)
class SpikeSimConstants(_Config):
    """SpikeSim's per-processing-element-cycle energies (65 nm), in picojoules.

    Field names and values mirror spikingjelly 2.0.0's ``SpikeSimEnergyConfig``; a PE cycle
    is one output position of one (input-channel tile × output-channel tile) pair, its k²
    crossbars read at once.
    """

    xbar_size: int = 64
    """Crossbar rows = columns (X)."""
    activity_mode: ActivityMode = "dense"
    """``dense``: charge every PE cycle (SpikeSim's closed form); ``event``: the whole energy
    of every PE cycle whose input tile holds a non-zero input, and nothing for the others;
    ``spikingjelly_event``: spikingjelly 2.0.0's event formula (``SpikeSimEnergyConfig(
    activity_mode='event')``): the PE cycle's periphery per active PE cycle, the crossbar read
    per driven row, the neuron module per output position with any input × input tiles."""
    tile_buffer_pj: float = 397.0
    """Tile buffer access per PE cycle."""
    temp_buffer_pj: float = 0.2
    """Temporary buffer per ADC group (X/8 per PE cycle)."""
    sub_pj: float = 1.15e-6
    """Subtractor, 16 per ADC group (16·X/8 per PE cycle)."""
    adc_pj: float = 2.03084
    """One ADC conversion ((X/8)² per PE cycle)."""
    htree_pj: float = 19.64 * 8.0
    """H-tree interconnect per PE cycle."""
    mux_pj: float = 0.094245
    """Column multiplexer per conversion."""
    mem_fetch_pj: float = 4.64
    """Memory fetch per PE cycle."""
    neuron_pj: float = 1.274 * 4.0
    """Neuron module per PE cycle."""
    rram_xbar_pj: float = 1.76423
    """RRAM crossbar read per X/8 rows ((X/8)·k² per PE cycle)."""

    def __post_init__(self) -> None:
        owner = "SpikeSimConstants"
        _check_int(owner, "xbar_size", self.xbar_size)
        _check_choice(owner, "activity_mode", self.activity_mode, ACTIVITY_MODES)
        for name in self.field_names():
            if name.endswith("_pj"):
                _check_number(owner, name, getattr(self, name))


# ---------------------------------------------------------------------------------- hardware
@dataclass(frozen=True)
class HardwareConfig(_Config):
    """A complete crossbar accelerator: device, array, periphery and how energy is counted."""

    name: str
    """Label shown in reports and figures."""
    device: DeviceConfig
    """The memristive cell."""
    crossbar: CrossbarConfig
    """Array size and weight layout."""
    periphery: PeripheryConfig
    """ADC, drivers, neurons, buffers and interconnect."""
    accounting: Accounting = "device"
    """``device``: charge each component per event (V²·t·ΣG for the cells); ``spikesim``:
    charge SpikeSim's per-PE-cycle constants (``spikesim``)."""
    spikesim: SpikeSimConstants | None = None
    """The SpikeSim constants; required when ``accounting='spikesim'``."""
    seed: int = 0
    """Seed of the random draws (variation, stuck cells, read noise)."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each constant comes from (field → citation), shown in reports and docs."""

    def __post_init__(self) -> None:
        owner = "HardwareConfig"
        _check_choice(owner, "accounting", self.accounting, ("device", "spikesim"))
        _check_int(owner, "seed", self.seed, minimum=0)
        if self.accounting == "spikesim":
            if self.spikesim is None:
                raise _fail(
                    owner, "spikesim", None, "accounting='spikesim' needs SpikeSimConstants."
                )
            size = self.spikesim.xbar_size
            if (self.crossbar.rows, self.crossbar.columns) != (size, size):
                raise _fail(
                    owner,
                    "crossbar",
                    (self.crossbar.rows, self.crossbar.columns),
                    f"SpikeSim accounting needs {size}×{size} crossbars (spikesim.xbar_size).",
                )

    def with_parameter(self, name: str, value: Any) -> "HardwareConfig":
        """A copy with one field changed, looked up by name in the device, crossbar, periphery,
        SpikeSim constants or PCM model (``d2d_variation``, ``adc_bits``, ``drift_time_s``,
        ``drift_compensation``, ``drift_scale``, ...)."""
        for part in ("device", "crossbar", "periphery", "spikesim"):
            section = getattr(self, part)
            if section is not None and name in section.field_names():
                return replace(self, **{part: replace(section, **{name: value})})
        pcm = self.device.pcm
        if pcm is not None and name in pcm.field_names():
            return replace(self, device=replace(self.device, pcm=replace(pcm, **{name: value})))
        if name in ("seed", "name", "accounting"):
            return replace(self, **{name: value})
        raise ConfigurationError(
            f"parameter={name!r} is not a field of the device, crossbar, periphery or "
            "SpikeSim constants or PCM model; e.g. 'd2d_variation', 'c2c_read_noise', 'adc_bits', "
            "'drift_time_s', 'bits_per_cell', 'weight_bits'."
        )

    def ideal(self) -> "HardwareConfig":
        """The same hardware with every non-ideality off: continuous cells, full-precision
        weights, no variation, noise, stuck cells or drift (no PCM model), ideal ADC and DAC.
        Energy is still charged with this configuration's constants."""
        return replace(
            self,
            name=f"{self.name} (ideal)",
            device=replace(
                self.device,
                bits_per_cell=None,
                d2d_variation=0.0,
                c2c_read_noise=0.0,
                stuck_at_hrs_fraction=0.0,
                stuck_at_lrs_fraction=0.0,
                drift_time_s=0.0,
                pcm=None,
            ),
            crossbar=replace(self.crossbar, weight_bits=None),
            periphery=replace(self.periphery, adc_bits=None, input_driver="dac", dac_ideal=True),
        )
