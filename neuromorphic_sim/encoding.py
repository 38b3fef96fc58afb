"""How a layer's input reaches the word lines: binary spikes, spike counts, or multi-bit values.

An encoding turns a batch x into P *planes* (what the word lines carry in one read) and a
weight per plane and sample, so that x = Σ_p weight_p · plane_p up to the encoding's
quantisation. Planes are binary (0/1) except with a DAC, where each is an amplitude in [0, 1].

* Spikes (0/1 from an IF neuron, then scaled): one binary plane, no driver needed.
* Spike counts (spikes summed by average pooling): lossless, bit-serial over
  ceil(log2(max + 1)) planes or one DAC read.
* Multi-bit values (analog pixels, ANN activations): scaled per sample to the largest
  magnitude, quantised to ``input_bits`` (bit-serial planes or one DAC read); negative
  values go in a second pass with weight −1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorphic_sim.config import PeripheryConfig


@dataclass(frozen=True)
class EncodedInput:
    """One batch, ready for the arrays."""

    planes: torch.Tensor
    """(P, B, *features): what the word lines carry in each read."""
    plane_weight: torch.Tensor
    """(P, B): each plane's weight in the reconstruction of x."""
    reconstructed: torch.Tensor
    """Σ_p weight_p · plane_p, shape (B, *features) (x itself where the encoding is lossless)."""
    amplitude: bool
    """True when planes hold DAC amplitudes in [0, 1] rather than bits."""
    multibit: bool
    """True when the input is not plain binary spikes (a driver or DAC is charged)."""


class InputEncoding:
    """Turns a layer input into word-line planes."""

    description: str = ""

    def encode(self, x: torch.Tensor) -> EncodedInput:
        """Planes and weights for the batch ``x``."""
        raise NotImplementedError


def _bit_planes(counts: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-negative integer-valued ``counts`` below 2**bits → ((bits, *counts.shape) binary
    planes, LSB first; (bits, 1) plane values 2**p). The shifts run on the narrowest integer
    type that holds the counts (uint8 is several times faster than int64 on CPUs)."""
    dtype = torch.uint8 if bits <= 8 else torch.int32 if bits <= 31 else torch.int64
    integers = counts.to(dtype)
    shifts = torch.arange(bits, device=counts.device, dtype=dtype)
    planes = ((integers.unsqueeze(0) >> shifts.view(-1, *([1] * counts.dim()))) & 1).to(
        counts.dtype
    )
    return planes, (2.0 ** shifts.to(counts.dtype)).unsqueeze(1)


class SpikeCountEncoding(InputEncoding):
    """x = unit · count, count an integer in [0, max_count] (max_count 1: binary spikes)."""

    def __init__(self, unit: torch.Tensor, max_count: int, periphery: PeripheryConfig) -> None:
        self.unit = unit
        self.max_count = int(max_count)
        self.dac = periphery.input_driver == "dac"
        self.bits = max(1, int(self.max_count).bit_length())
        if self.max_count == 1:
            self.description = "binary spikes"
        elif self.dac:
            self.description = f"spike counts 0–{self.max_count} via DAC"
        else:
            self.description = f"spike counts 0–{self.max_count}, {self.bits} bit-serial planes"

    def encode(self, x: torch.Tensor) -> EncodedInput:
        """Recover the integer counts and split them into planes (lossless)."""
        counts = torch.round(x / self.unit.to(x.device, x.dtype)).clamp_(0, self.max_count)
        batch = x.shape[0]
        if self.max_count == 1:
            planes = counts.unsqueeze(0)
            weight = torch.ones(1, batch, device=x.device, dtype=x.dtype)
        elif self.dac:
            planes = (counts / self.max_count).unsqueeze(0)
            weight = torch.full((1, batch), float(self.max_count), device=x.device, dtype=x.dtype)
        else:
            planes, powers = _bit_planes(counts, self.bits)
            weight = powers.expand(self.bits, batch)
        return EncodedInput(
            planes,
            weight,
            x,
            amplitude=self.dac and self.max_count > 1,
            multibit=self.max_count > 1,
        )


class MultiBitEncoding(InputEncoding):
    """Real-valued inputs scaled per sample to their largest magnitude, then quantised."""

    def __init__(self, periphery: PeripheryConfig) -> None:
        self.dac = periphery.input_driver == "dac"
        self.bits = periphery.input_bits
        self.lossless = self.dac and periphery.dac_ideal
        self.levels = 2**self.bits - 1
        if self.lossless:
            self.description = "multi-bit via ideal DAC"
        elif self.dac:
            self.description = f"multi-bit via {self.bits}-bit DAC"
        else:
            self.description = f"multi-bit, {self.bits} bit-serial planes"

    def encode(self, x: torch.Tensor) -> EncodedInput:
        """Per-sample scaling, sign split, then quantisation into planes."""
        batch = x.shape[0]
        scale = (
            x.detach().abs().reshape(batch, -1).amax(dim=1).clamp_(min=torch.finfo(x.dtype).tiny)
        )
        view = scale.view(batch, *([1] * (x.dim() - 1)))
        parts = [(x.clamp(min=0), 1.0)]
        if bool((x < 0).any()):
            parts.append(((-x).clamp(min=0), -1.0))
        planes, weights, rebuilt = [], [], torch.zeros_like(x)
        for part, sign in parts:
            fraction = part / view
            if self.lossless:
                planes.append(fraction.unsqueeze(0))
                weights.append((sign * scale).unsqueeze(0))
                continue
            counts = torch.round(fraction * self.levels)
            rebuilt = rebuilt + sign * counts * view / self.levels
            if self.dac:
                planes.append((counts / self.levels).unsqueeze(0))
                weights.append((sign * scale).unsqueeze(0))
            else:
                bit_planes, powers = _bit_planes(counts, self.bits)
                planes.append(bit_planes)
                weights.append(sign * powers * (scale / self.levels).unsqueeze(0))
        reconstructed = x if self.lossless else rebuilt
        return EncodedInput(
            torch.cat(planes), torch.cat(weights), reconstructed, amplitude=self.dac, multibit=True
        )
