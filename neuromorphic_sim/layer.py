"""``CrossbarLayer``: a Conv2d or Linear replayed on crossbars, counting what it does.

A linear layer is treated as a 1×1 convolution of a 1×1 input, so both share one path.
Per forward pass (one time step of a batch) the layer

1. encodes its input into word-line planes (:mod:`neuromorphic_sim.encoding`);
2. counts, per row group and output position, the active rows and the conductance they
   drive (one small convolution with the group masks and the row conductance sums), and from
   them the fraction of each group's rows driven and the positions with any input;
3. computes its output. With an ideal ADC the column currents need not be resolved: the
   output is the convolution with the *effective* weights decoded from the non-ideal
   conductances, and read noise, Gaussian per cell and read and decoded linearly, is
   exactly one Gaussian per output with variance c2c²·Σ_rows x²·Σ_columns G²·D² (a second
   convolution, see :meth:`CrossbarLayer._output_noise_kernel`). With an ADC every column
   current of every group is read, noise added, quantised and decoded digitally
   (:mod:`neuromorphic_sim.column_read`); repeated reads of a constant input reuse the
   noise-free output and add to it the few codes noise changes, drawing noise only where it
   can change a code (:mod:`neuromorphic_sim.adc_sampling`).

Counters stay on the layer's device until :meth:`CrossbarLayer.events` reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuromorphic_sim.column_decode import OutputLayout
from neuromorphic_sim.column_read import ColumnReader, RepeatedRead
from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.encoding import InputEncoding
from neuromorphic_sim.energy import LayerEvents, LayerGeometry
from neuromorphic_sim.exceptions import UnsupportedLayerError
from neuromorphic_sim.mapping import MappedMatrix, map_matrix


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_padding(name: str, module: nn.Conv2d) -> tuple[int, int]:
    padding = module.padding
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        total = [
            d * (k - 1)
            for d, k in zip(_pair(module.dilation), _pair(module.kernel_size), strict=True)
        ]
        if any(t % 2 for t in total):
            raise UnsupportedLayerError(
                f"layer {name!r} (Conv2d, padding='same' with an even kernel) pads asymmetrically; "
                "give explicit integer padding."
            )
        return (total[0] // 2, total[1] // 2)
    return _pair(padding)  # type: ignore[arg-type]


def check_mappable(name: str, module: nn.Module) -> None:
    """Raise :class:`UnsupportedLayerError` unless ``module`` is a mappable Conv2d or Linear."""
    if isinstance(module, nn.Linear):
        return
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise UnsupportedLayerError(
                f"layer {name!r} (Conv2d, groups={module.groups}): grouped and depthwise "
                "convolutions are not mapped; use groups=1."
            )
        if module.padding_mode != "zeros":
            raise UnsupportedLayerError(
                f"layer {name!r} (Conv2d, padding_mode={module.padding_mode!r}): "
                "only zero padding is mapped."
            )
        return
    if isinstance(module, _BatchNorm):
        raise UnsupportedLayerError(
            f"layer {name!r} ({type(module).__name__}) cannot be folded: BatchNorm is folded into "
            "a Conv2d (BatchNorm2d) or Linear (BatchNorm1d) that feeds it and nothing else; "
            "move it after one or fold it by hand."
        )
    raise UnsupportedLayerError(
        f"layer {name!r} ({type(module).__name__}) cannot be mapped onto crossbars: only "
        "nn.Conv2d and nn.Linear are; replace other weighted layers."
    )


class CrossbarLayer(nn.Module):
    """A Conv2d or Linear whose multiply-accumulates run on simulated crossbars."""

    weight_fast: torch.Tensor
    bias: torch.Tensor | None
    stats_weight: torch.Tensor
    rows_per_group: torch.Tensor
    noise_kernel: torch.Tensor | None
    _counts: torch.Tensor

    def __init__(
        self,
        name: str,
        module: nn.Conv2d | nn.Linear,
        encoding: InputEncoding,
        hw: HardwareConfig,
        *,
        row_unit: torch.Tensor | None,
        seed: int,
    ) -> None:
        super().__init__()
        check_mappable(name, module)
        self.name = name
        self.encoding = encoding
        self.hw = hw
        self.seed = seed
        self.is_conv = isinstance(module, nn.Conv2d)
        weight = module.weight.detach().to("cpu", torch.float64)
        out_features = weight.shape[0]
        if self.is_conv:
            assert isinstance(module, nn.Conv2d)
            self.kernel_size = _pair(module.kernel_size)
            self.stride = _pair(module.stride)
            self.padding = _conv_padding(name, module)
            self.dilation = _pair(module.dilation)
        else:
            self.kernel_size = self.stride = self.dilation = (1, 1)
            self.padding = (0, 0)
        kernel_area = self.kernel_size[0] * self.kernel_size[1]
        matrix = weight.reshape(out_features, -1)
        unit = (
            torch.ones(matrix.shape[1], dtype=torch.float64)
            if row_unit is None
            else row_unit.to(torch.float64)
        )
        generator = torch.Generator().manual_seed(seed)
        self.mapped: MappedMatrix = map_matrix(
            matrix * unit, hw, kernel_area=kernel_area, generator=generator
        )
        groups = self.mapped.conductance_s.shape[0]
        self.groups = groups
        self.in_channels = matrix.shape[1] // kernel_area
        self.out_features = out_features
        self.geometry = LayerGeometry(
            physical_columns=self.mapped.physical_columns,
            output_tiles=math.ceil(out_features / hw.crossbar.columns),
            kernel_area=kernel_area,
            row_groups=groups,
        )

        effective = (self.mapped.effective_weight() / unit).to(torch.float32)
        kernel_shape = (out_features, self.in_channels, *self.kernel_size)
        self.register_buffer("weight_fast", effective.reshape(kernel_shape))
        bias = (
            None if module.bias is None else module.bias.detach().to("cpu", torch.float32).clone()
        )
        self.register_buffer("bias", bias)
        self.reader = ColumnReader(self.mapped, hw, seed + 1)
        rows = matrix.shape[1]
        group_of_row = torch.arange(rows) // self.mapped.group_rows
        masks = F.one_hot(group_of_row, groups).T.to(torch.float32)  # (groups, K)
        row_conductance = self.mapped.conductance_s.sum(dim=2).reshape(-1)[:rows].to(torch.float32)
        stats = torch.cat([masks, row_conductance.unsqueeze(0)])
        self.register_buffer(
            "stats_weight", stats.reshape(groups + 1, self.in_channels, *self.kernel_size)
        )
        self.register_buffer(
            "rows_per_group", torch.bincount(group_of_row, minlength=groups).view(1, -1, 1, 1)
        )

        self.hold_constant_inputs = hw.periphery.hold_constant_inputs
        self.resolve_columns = hw.periphery.adc_bits is not None
        """Columns are read one by one only where an ADC quantises each of them."""
        self.output_noise = not self.resolve_columns and self.reader.read_noise > 0
        """Ideal ADC with read noise: one exact Gaussian per output instead of per column."""
        self.register_buffer(
            "noise_kernel", self._output_noise_kernel(kernel_shape) if self.output_noise else None
        )
        self._cache: _Prepared | None = None
        self.register_buffer("_counts", torch.zeros(6, dtype=torch.float64), persistent=False)
        self._host_counts = [0.0, 0.0, 0.0]

    def _output_noise_kernel(self, kernel_shape: tuple[int, ...]) -> torch.Tensor:
        """Output variance per unit input² of each row: c2c²·Σ_columns G²·D², as a kernel.

        Every cell read is G·(1 + c2c·Z), independently, and the decode is linear, so an
        output's noise is Gaussian with variance Σ_columns D²·c2c²·Σ_rows (x·G)² =
        Σ_rows x²·(c2c²·Σ_columns G²·D²): exact, and one convolution of x² with this kernel.
        """
        groups, rows, _ = self.mapped.conductance_s.shape
        squares = self.mapped.conductance_s.square().reshape(groups * rows, -1)
        per_row = (squares @ self.mapped.decode.square())[: self.mapped.input_rows]
        kernel = self.reader.read_noise**2 * per_row.T  # (C_out, K)
        return kernel.reshape(kernel_shape).to(torch.float32)

    # --------------------------------------------------------------------------- counters
    def reset_events(self) -> None:
        """Zero the counters."""
        self._counts.zero_()
        self._host_counts = [0.0, 0.0, 0.0]

    def events(self) -> LayerEvents:
        """Counters so far (not per inference: divide by the number of samples)."""
        active_rows, active_groups, conductance, multibit_rows, occupancy, active_sites = (
            self._counts.tolist()
        )
        dense_groups, output_updates, input_bits = self._host_counts
        dac = self.hw.periphery.input_driver == "dac"
        return LayerEvents(
            active_row_reads=active_rows,
            active_group_reads=active_groups,
            conductance_read_s=conductance,
            driver_pulses=0.0 if dac else multibit_rows,
            dac_conversions=multibit_rows if dac else 0.0,
            dense_group_reads=dense_groups,
            output_updates=output_updates,
            input_bits=input_bits,
            row_occupancy_reads=occupancy,
            active_output_sites=active_sites,
        )

    # ---------------------------------------------------------------------------- compute
    def clear_cache(self) -> None:
        """Forget the cached read of the last input (call between batches)."""
        self._cache = None

    def _conv(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation)

    def _combine_planes(self, decoded: torch.Tensor, prepared: _Prepared) -> torch.Tensor:
        """Decoded outputs of every plane (P·B·L, C_out) → the layer output (B, C_out, H, W):
        planes weighted and summed (one pass per plane), bias added."""
        n_planes, batch = prepared.plane_weight.shape
        per_plane = decoded.view(n_planes, batch, -1)  # (P, B, L·C_out)
        weight = prepared.plane_weight.unsqueeze(2)
        output = per_plane[0] * weight[0]
        for plane in range(1, n_planes):
            output.addcmul_(per_plane[plane], weight[plane])
        output = output.view(batch, -1, self.out_features)  # (B, L, C_out)
        if self.bias is not None:
            output += self.bias
        return output.transpose(1, 2).contiguous().view(prepared.out_shape)

    def _output_layout(self, prepared: _Prepared) -> OutputLayout:
        """Where each read row (plane, sample, position) lands in the layer output
        (B, C_out, H, W), weighted by its plane as :meth:`_combine_planes` weights it."""
        n_planes, batch = prepared.plane_weight.shape
        _, features, height, width = prepared.out_shape
        positions = height * width
        device = prepared.plane_weight.device
        sample_start = torch.arange(batch, device=device) * (features * positions)
        start = sample_start.view(1, batch, 1) + torch.arange(positions, device=device)
        weight = prepared.plane_weight.unsqueeze(2)
        shape = (n_planes, batch, positions)
        return OutputLayout(
            start.expand(shape).reshape(-1), positions, weight.expand(shape).reshape(-1)
        )

    def _prepare(self, x: torch.Tensor) -> _Prepared:
        """Encode ``x``, count its events and do the deterministic part of the read."""
        batch = x.shape[0]
        spatial = x if self.is_conv else x.reshape(batch, -1, 1, 1)
        encoded = self.encoding.encode(spatial)
        n_planes = encoded.planes.shape[0]
        planes = encoded.planes.reshape(n_planes * batch, *spatial.shape[1:])

        active = (planes != 0).to(planes.dtype)
        stats = self._conv(active, self.stats_weight)
        row_counts = stats[:, : self.groups].double()  # integers: exact in float64
        if encoded.amplitude:
            conductance = self._conv(planes * planes, self.stats_weight[self.groups :]).sum()
        else:
            conductance = stats[:, self.groups].sum()
        active_rows = row_counts.sum()
        multibit_rows = active_rows if encoded.multibit else torch.zeros_like(active_rows)
        counts = torch.stack(
            [
                active_rows,
                (row_counts > 0).sum().double(),
                conductance.double(),
                multibit_rows,
                (row_counts / self.rows_per_group).sum(),  # fraction of each group's rows driven
                (row_counts.sum(dim=1) > 0).sum().double(),  # positions with any input
            ]
        )
        out_shape = (batch, self.out_features, stats.shape[2], stats.shape[3])
        positions = stats.shape[2] * stats.shape[3]
        host = (
            float(n_planes * batch * self.groups * positions),  # dense group reads
            float(batch * self.out_features * positions),  # output updates
            float(planes.numel()),  # input bits: one per value per plane
        )
        prepared = _Prepared(x, x._version, counts, host, encoded.plane_weight, out_shape)
        if self.resolve_columns:
            unfolded = F.unfold(planes, self.kernel_size, self.dilation, self.padding, self.stride)
            prepared.rows = unfolded.transpose(1, 2).reshape(-1, unfolded.shape[1])
            if self.reader.read_noise == 0:  # deterministic: read once, reuse
                prepared.output = self._combine_planes(
                    self.reader.read_once(prepared.rows), prepared
                )
        elif self.is_conv:
            prepared.output = self._conv(encoded.reconstructed, self.weight_fast, self.bias)
        else:  # the same kernel as nn.Linear, so an ideal array reproduces it bit for bit
            prepared.output = F.linear(
                encoded.reconstructed.flatten(1), self.weight_fast.flatten(1), self.bias
            ).reshape(out_shape)
        if self.output_noise:  # the noise-free output above is the mean of every read
            assert self.noise_kernel is not None
            variance = self._conv(planes * planes, self.noise_kernel)
            variance = torch.einsum(
                "pbohw,pb->bohw",
                variance.view(n_planes, batch, *variance.shape[1:]),
                encoded.plane_weight.square(),
            )
            prepared.mean, prepared.noise_std = prepared.output, variance.sqrt_()
            prepared.output = None
        return prepared

    def _draw_output(self, prepared: _Prepared) -> torch.Tensor:
        """One read with fresh read noise, drawn per output (ideal ADC)."""
        assert prepared.mean is not None and prepared.noise_std is not None
        noise = torch.randn(
            prepared.mean.shape,
            generator=self.reader.noise_source(prepared.mean.device),
            device=prepared.mean.device,
            dtype=prepared.mean.dtype,
        )
        return torch.addcmul(prepared.mean, prepared.noise_std, noise)

    def _noisy_read(self, prepared: _Prepared, repeated: bool) -> torch.Tensor:
        """The layer output of one read with fresh read noise. The first read of an input draws
        noise per conversion; repeats of it with an ADC split the conversions once and then
        draw only where noise can change a code, adding the changed codes to the noise-free
        output."""
        assert prepared.rows is not None
        if not repeated or self.reader.adc_levels is None:
            return self._combine_planes(self.reader.read_once(prepared.rows), prepared)
        if prepared.repeated is None:
            prepared.repeated = self.reader.split(prepared.rows, self._output_layout(prepared))
            prepared.mean = self._combine_planes(prepared.repeated.decoded, prepared)
        assert prepared.mean is not None
        output = prepared.mean.clone()
        self.reader.read_again(prepared.repeated, output)
        return output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One read of the arrays for the batch ``x``; counts events and returns the output.

        When ``x`` is the very tensor of the previous call (a constant input over time
        steps), its encoding, counts and noise-free reads are reused; read noise is drawn
        afresh on every read, unless ``hold_constant_inputs`` holds the first read's output
        (and charges it once).
        """
        prepared = self._cache
        repeated = prepared is not None and prepared.source is x and prepared.version == x._version
        if not repeated:
            prepared = self._prepare(x)
            self._cache = prepared
        assert prepared is not None
        if not (repeated and self.hold_constant_inputs and prepared.output is not None):
            self._counts += prepared.counts
            for index, value in enumerate(prepared.host):
                self._host_counts[index] += value
        output = prepared.output
        if output is None:
            output = (
                self._draw_output(prepared)
                if self.output_noise
                else self._noisy_read(prepared, repeated)
            )
            if self.hold_constant_inputs:  # a repeat holds this read
                prepared.output = output
        return output if self.is_conv else output.reshape(x.shape[0], self.out_features)


@dataclass
class _Prepared:
    """The part of one read that depends only on the input (reused over constant inputs)."""

    source: torch.Tensor
    version: int
    counts: torch.Tensor
    host: tuple[float, float, float]
    plane_weight: torch.Tensor
    out_shape: tuple[int, int, int, int]
    rows: torch.Tensor | None = None
    """Unfolded word-line inputs of every plane, (P·B·L, K), where columns are resolved."""
    repeated: RepeatedRead | None = None
    """Split conversions for repeated noisy reads (built at the first repeat)."""
    output: torch.Tensor | None = None
    """The layer output, where it is deterministic (or held)."""
    mean: torch.Tensor | None = None
    """The noise-free output (B, C_out, H, W), where read noise is drawn on top of it (ideal
    ADC; repeated reads with an ADC)."""
    noise_std: torch.Tensor | None = None
    """Ideal ADC with read noise: σ of each output's read noise."""
