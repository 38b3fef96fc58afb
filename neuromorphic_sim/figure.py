"""The side-by-side figure: energy per inference of the ANN on conventional hardware, the ANN on
the crossbar and the SNN on the crossbar (totals on a log axis, each with its accuracy and Wilson
interval), their energy breakdown by component as linear shares, what sets the SNN/ANN ratio,
and the accuracy–energy trade-off of a sweep (mean ± sd over hardware seeds)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter, PercentFormatter

from nature_callback.files import atomic_write
from neuromorphic_sim.reference import DigitalReference
from neuromorphic_sim.report import ReplayReport, accuracy_interval, format_energy
from neuromorphic_sim.sweep import SweepResult

COMPONENT_LABELS = {
    "adc": "ADC",
    "column_mux": "column mux",
    "cell_read": "cell read",
    "input_driver": "input drivers/DACs",
    "neuron": "neurons",
    "accumulate": "shift-and-add",
    "buffer": "buffers (SRAM)",
    "interconnect": "interconnect",
    "tile_buffer": "tile buffer",
    "htree": "H-tree",
    "mem_fetch": "memory fetch",
    "crossbar": "crossbar read",
    "mux": "column mux",
    "temp_buffer": "temp buffer",
    "sub": "subtractors",
}
"""Legend names of the energy components (both accountings); others show their own name."""
_COMPONENT_ORDER = tuple(COMPONENT_LABELS)
"""Fixed colour order, so a component keeps its colour from figure to figure."""
MIN_SHARE = 0.01
"""Components below this share of every configuration are drawn together as "other"."""
_OTHER = "other"
_BAR_COLOURS = ("0.6", "tab:orange", "tab:blue")
"""Digital reference, ANN on the crossbar, SNN on the crossbar."""


@dataclass(frozen=True)
class FigurePaths:
    """Where the figure was written."""

    png: Path
    """Raster version."""
    svg: Path
    """Vector version."""
    logged_to_tensorboard: bool
    """True when the figure was also logged as a TensorBoard image."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (paths as strings)."""
        return {
            key: str(value) if isinstance(value, Path) else value
            for key, value in asdict(self).items()
        }


def _find_summary_writer(target: Any) -> Any | None:
    """A TensorBoard ``SummaryWriter`` from a writer, a Lightning logger or a Trainer."""
    if target is None:
        return None
    if hasattr(target, "add_figure"):
        return target
    experiment = getattr(target, "experiment", None)
    if hasattr(experiment, "add_figure"):
        return experiment
    for logger in getattr(target, "loggers", None) or []:
        writer = _find_summary_writer(logger)
        if writer is not None:
            return writer
    return None


def _label(component: str) -> str:
    return COMPONENT_LABELS.get(component, component.replace("_", " "))


def _colour(component: str) -> Any:
    if component == _OTHER:
        return "0.85"
    index = _COMPONENT_ORDER.index(component) if component in _COMPONENT_ORDER else 0
    return matplotlib.colormaps["tab20"](index % 20)


def _percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def _shares(report: ReplayReport) -> dict[str, float]:
    """Component → share of the report's energy per inference."""
    total = report.energy_per_inference_j
    return {name: joules / total for name, joules in report.breakdown.items() if total > 0}


def _drawn_components(reports: list[ReplayReport]) -> list[str]:
    """Components with at least ``MIN_SHARE`` of some report's energy, largest first, then
    ``other`` if anything is left over."""
    shares = [_shares(report) for report in reports]
    names = {name for share in shares for name, value in share.items() if value >= MIN_SHARE}
    drawn = sorted(names, key=lambda name: -max(share.get(name, 0.0) for share in shares))
    leftover = any(
        value > 0 and name not in names for share in shares for name, value in share.items()
    )
    return [*drawn, _OTHER] if leftover else drawn


def _grouped_shares(report: ReplayReport, drawn: list[str]) -> dict[str, float]:
    """The report's shares of the drawn components, the rest summed into ``other``."""
    shares = _shares(report)
    grouped = {name: shares.get(name, 0.0) for name in drawn if name != _OTHER}
    if _OTHER in drawn:
        grouped[_OTHER] = sum(value for name, value in shares.items() if name not in grouped)
    return grouped


def _accuracy_text(accuracy: float, samples: int) -> str:
    low, high = accuracy_interval(accuracy, samples)
    return f"acc {100 * accuracy:.1f} %\n[{100 * low:.1f}, {100 * high:.1f}]"


def _layer_energies(report: ReplayReport) -> dict[str, float]:
    return {layer.name: layer.total_j for layer in report.layers}


def ratio_drivers(snn: ReplayReport, ann: ReplayReport) -> list[str]:
    """What sets the SNN/ANN energy ratio on the same crossbar, from the two breakdowns: the
    SNN's most expensive layer (its share, its input, and its cost against the same layer in
    the ANN) and its most expensive component."""
    ratio = snn.energy_per_inference_j / ann.energy_per_inference_j
    lines = [f"SNN / ANN on the same crossbar: {ratio:.3g}×"]
    snn_layers, ann_layers = _layer_energies(snn), _layer_energies(ann)
    if snn_layers:
        name = max(snn_layers, key=lambda layer: snn_layers[layer])
        share = snn_layers[name] / snn.energy_per_inference_j
        encoding = next(
            (layer.input_encoding for layer in snn.mapping.layers if layer.name == name), ""
        )
        versus = (
            f", {snn_layers[name] / ann_layers[name]:.3g}× the ANN's layer {name} "
            f"(T = {snn.timesteps})"
            if ann_layers.get(name, 0.0) > 0
            else ""
        )
        lines.append(f"• layer {name} ({encoding}): {_percent(share)} of the SNN's energy{versus}")
    snn_shares, ann_shares = _shares(snn), _shares(ann)
    if snn_shares:
        component = max(snn_shares, key=lambda name: snn_shares[name])
        lines.append(
            f"• {_label(component)}: {_percent(snn_shares[component])} of the SNN's energy "
            f"({_percent(ann_shares.get(component, 0.0))} of the ANN's)"
        )
    return lines


def _comparison_note(digital: DigitalReference) -> str:
    """What the conventional bar counts, against the crossbar bars."""
    if digital.source == "measured":
        return (
            "ANN on GPU: whole-GPU energy measured with NVML (idle share included); the crossbar "
            "bars are modelled and count arrays, converters, buffers and wires."
        )
    return (
        "ANN digital estimate: FP32 multiply-accumulates only (Horowitz 45 nm), no memory "
        "access or data movement; the crossbar bars also count ADCs, drivers, buffers and "
        "interconnect. Not like for like: the estimate is a lower bound for digital hardware."
    )


def _caption(
    digital: DigitalReference, snn: ReplayReport, nature_summary: Mapping[str, Any] | None
) -> str:
    lines = [
        f"Crossbar energies are modelled ({snn.hardware}, {snn.accounting} accounting); "
        f"the conventional bar is {digital.source}: {digital.method}.",
        f"Accuracy over {snn.samples} test samples; brackets: Wilson 95 % interval.",
    ]
    if nature_summary:
        energy = nature_summary.get("nature_energy_j")
        co2e = nature_summary.get("nature_co2e_kg")
        parts = []
        if co2e is not None:
            parts.append(f"{co2e:.4e} kg CO2e")
        if energy is not None:
            parts.append(f"{energy:.1f} J ({energy / 3.6e6:.3e} kWh)")
        if parts:
            lines.append("Training run NATURE = " + ", ".join(parts) + ".")
    return "\n".join(lines)


def _draw_totals(
    axes: Axes, snn: ReplayReport, ann: ReplayReport, digital: DigitalReference
) -> None:
    """Energy per inference of the three configurations (log axis), accuracy above each."""
    reference = (
        "ANN on GPU\n(measured)"
        if digital.source == "measured"
        else "ANN digital\nestimate (FP32\narithmetic only)"
    )
    labels = [reference, "ANN on\ncrossbar", f"SNN (T={snn.timesteps})\non crossbar"]
    totals = [
        digital.energy_per_inference_j,
        ann.energy_per_inference_j,
        snn.energy_per_inference_j,
    ]
    accuracies = [
        (digital.accuracy, digital.samples),
        (ann.accuracy, ann.samples),
        (snn.accuracy, snn.samples),
    ]
    bars = axes.bar(range(3), totals, width=0.6, color=_BAR_COLOURS, edgecolor="0.3")
    if digital.source == "estimated":
        bars[0].set_hatch("//")
    axes.set_yscale("log")
    axes.set_ylim(min(totals) / 3, max(totals) * 30)
    for position, (total, (accuracy, samples)) in enumerate(zip(totals, accuracies, strict=True)):
        axes.text(
            position,
            total * 1.3,
            f"{format_energy(total)}\n{_accuracy_text(accuracy, samples)}",
            ha="center",
            va="bottom",
            fontsize=8.5,
        )
    axes.set_xticks(range(3), labels, fontsize=8.5)
    axes.yaxis.set_major_formatter(EngFormatter(unit="J"))
    axes.set_ylabel("energy per inference (log scale)")
    axes.set_title("Energy per inference", fontsize=11)


def _draw_breakdown(axes: Axes, snn: ReplayReport, ann: ReplayReport, drivers: list[str]) -> None:
    """Each crossbar configuration as a 100 % bar of its components (linear shares), and above
    them what sets the SNN/ANN ratio (``drivers``)."""
    reports = [snn, ann]  # SNN at the bottom, ANN above it
    drawn = _drawn_components(reports)
    for row, report in enumerate(reports):
        left = 0.0
        for component, share in _grouped_shares(report, drawn).items():
            legend = (
                _label(component)
                if component != _OTHER
                else f"other (each < {_percent(MIN_SHARE)})"
            )
            axes.barh(
                row,
                share,
                left=left,
                height=0.55,
                color=_colour(component),
                edgecolor="white",
                linewidth=0.5,
                label=legend if row == 0 else None,
            )
            if share >= 0.045:
                axes.text(
                    left + share / 2, row, _percent(share), ha="center", va="center", fontsize=7.5
                )
            left += share
    names = [
        f"{report.label.split(' on ')[0]}\n{format_energy(report.energy_per_inference_j)}"
        for report in reports
    ]
    axes.set_yticks(range(len(reports)), names, fontsize=8.5)
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.5, len(reports) + 0.6)  # room above the bars for the drivers
    axes.text(
        0.015,
        0.97,
        "\n".join(textwrap.fill(line, 78, subsequent_indent="   ") for line in drivers),
        transform=axes.transAxes,
        va="top",
        fontsize=8.5,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"},
    )
    axes.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.set_xlabel("share of the configuration's energy per inference (linear)")
    axes.set_title("Energy by component, on the crossbar", fontsize=11)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)


def _draw_sweep(
    axes: Axes,
    sweep: SweepResult | None,
    ann: ReplayReport,
    digital: DigitalReference,
) -> None:
    """Accuracy against energy over the sweep (mean ± sd over seeds), the ANN for reference."""
    if sweep is None or not sweep.points:
        axes.axis("off")
        axes.text(0.5, 0.5, "no sweep given", ha="center", va="center")
        return
    energies = [point.energy_per_inference_j for point in sweep.points]
    accuracy = [100 * point.accuracy for point in sweep.points]
    axes.errorbar(
        energies,
        accuracy,
        yerr=[100 * point.accuracy_sd for point in sweep.points],
        xerr=[point.energy_sd_j for point in sweep.points],
        fmt="o-",
        color=_BAR_COLOURS[2],
        capsize=3,
        label=f"{sweep.model_kind.upper()} on {sweep.hardware} (mean ± sd)",
    )
    for point, x, y in zip(sweep.points, energies, accuracy, strict=True):
        axes.annotate(
            f"{point.value:g}" if isinstance(point.value, float) else str(point.value),
            (x, y),
            textcoords="offset points",
            xytext=(6, -12),
            fontsize=8,
        )
    references = (
        (
            ann.energy_per_inference_j,
            ann.accuracy,
            ann.samples,
            "s",
            _BAR_COLOURS[1],
            f"ANN on {ann.hardware}",
        ),
        (
            digital.energy_per_inference_j,
            digital.accuracy,
            digital.samples,
            "D",
            "0.4",
            digital.label,
        ),
    )
    for energy, correct, samples, marker, colour, label in references:
        low, high = accuracy_interval(correct, samples)
        axes.errorbar(
            [energy],
            [100 * correct],
            yerr=[[100 * (correct - low)], [100 * (high - correct)]],
            fmt=marker,
            color=colour,
            markersize=7,
            capsize=3,
            label=f"{label} (Wilson 95 %)",
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(EngFormatter(unit="J"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("energy per inference (log scale)")
    axes.set_ylabel("accuracy (%)")
    seeds = ", ".join(map(str, sweep.seeds))
    axes.set_title(
        f"Accuracy–energy over {sweep.label}\n(hardware seeds {seeds}; bars: sd over seeds)",
        fontsize=11,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)


def draw_side_by_side(
    snn: ReplayReport,
    ann: ReplayReport,
    digital: DigitalReference,
    sweep: SweepResult | None = None,
    *,
    nature_summary: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Figure:
    """The figure as a matplotlib ``Figure`` (not saved)."""
    # A bare Figure (no pyplot): nothing global changes, no window opens, Agg renders the files.
    figure = Figure(figsize=(17, 6.4), layout="constrained")
    totals_axis, breakdown_axis, sweep_axis = figure.subplots(
        1, 3, gridspec_kw={"width_ratios": [0.9, 1.2, 1.1]}
    )
    ratio_digital = snn.energy_per_inference_j / digital.energy_per_inference_j
    reference = "ANN on GPU (measured)" if digital.source == "measured" else "ANN digital estimate"
    drivers = [*ratio_drivers(snn, ann), f"SNN on crossbar / {reference}: {ratio_digital:.3g}×"]
    _draw_totals(totals_axis, snn, ann, digital)
    _draw_breakdown(breakdown_axis, snn, ann, drivers)
    _draw_sweep(sweep_axis, sweep, ann, digital)
    figure.suptitle(
        title or "ANN vs SNN: conventional hardware and memristor crossbar", fontsize=13
    )
    notes = [_comparison_note(digital), *_caption(digital, snn, nature_summary).splitlines()]
    figure.supxlabel(
        "\n".join(textwrap.fill(line, 230) for line in notes), fontsize=8.5, x=0.01, ha="left"
    )
    return figure


def side_by_side(
    snn: ReplayReport,
    ann: ReplayReport,
    digital: DigitalReference,
    sweep: SweepResult | None = None,
    out_dir: str | os.PathLike[str] = ".",
    *,
    nature_summary: Mapping[str, Any] | None = None,
    basename: str = "crossbar_side_by_side",
    title: str | None = None,
    tensorboard: Any | None = None,
    step: int = 0,
) -> FigurePaths:
    """Draw the figure, write it as PNG and SVG into ``out_dir`` and return the paths.

    ``tensorboard`` may be a Lightning ``Trainer``, a Lightning ``TensorBoardLogger`` or a
    ``SummaryWriter``: the figure is then also logged as an image (tag
    ``neuromorphic_sim/side_by_side``) at ``step``. ``nature_summary`` (keys
    ``nature_energy_j``, ``nature_co2e_kg``) goes into the caption.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    figure = draw_side_by_side(snn, ann, digital, sweep, nature_summary=nature_summary, title=title)
    png, svg = directory / f"{basename}.png", directory / f"{basename}.svg"
    for path in (png, svg):
        atomic_write(
            path, lambda temporary: figure.savefig(temporary, dpi=150, bbox_inches="tight")
        )
    writer = _find_summary_writer(tensorboard)
    if writer is not None:
        writer.add_figure("neuromorphic_sim/side_by_side", figure, global_step=step, close=False)
    return FigurePaths(png=png, svg=svg, logged_to_tensorboard=writer is not None)
