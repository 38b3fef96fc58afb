"""The side-by-side figure: energy per inference of the ANN on a GPU, the ANN on the crossbar
and the SNN on the crossbar (stacked by component, log axis, accuracy beside each bar), and
the accuracy–energy trade-off of a sweep."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

from nature_callback.files import atomic_write
from neuromorphic_sim.reference import DigitalReference
from neuromorphic_sim.report import ReplayReport, format_energy
from neuromorphic_sim.sweep import SweepResult


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


def _components(reports: list[ReplayReport]) -> list[str]:
    totals: dict[str, float] = {}
    for report in reports:
        for name, joules in report.breakdown.items():
            totals[name] = totals.get(name, 0.0) + joules
    return sorted(totals, key=lambda name: -totals[name])


def _caption(
    digital: DigitalReference, snn: ReplayReport, nature_summary: Mapping[str, Any] | None
) -> str:
    lines = [
        f"Crossbar energies are modelled ({snn.hardware}, {snn.accounting} accounting); "
        f"the conventional bar is {digital.source}: {digital.method}.",
        f"Accuracy over {snn.samples} test samples.",
    ]
    if nature_summary:
        energy = nature_summary.get("nature_energy_j")
        co2e = nature_summary.get("nature_co2e_kg")
        parts = []
        if energy is not None:
            parts.append(f"{energy / 3.6e6:.3g} kWh ({format_energy(energy)})")
        if co2e is not None:
            parts.append(f"{co2e * 1000:.3g} g CO2e")
        if parts:
            lines.append("Training run NATURE: " + ", ".join(parts) + ".")
    return "\n".join(lines)


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
    figure = Figure(figsize=(13, 5.6))
    energy_axis, sweep_axis = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    components = _components([ann, snn])
    colours = {
        name: matplotlib.colormaps["tab10"](index % 10) for index, name in enumerate(components)
    }
    labels = [
        digital.label.replace(" (", "\n("),
        f"ANN on crossbar\n{ann.hardware}",
        f"SNN (T={snn.timesteps}) on crossbar\n{snn.hardware}",
    ]
    totals = [
        digital.energy_per_inference_j,
        ann.energy_per_inference_j,
        snn.energy_per_inference_j,
    ]
    accuracies = [digital.accuracy, ann.accuracy, snn.accuracy]

    energy_axis.bar(
        0,
        digital.energy_per_inference_j,
        width=0.6,
        color="0.6",
        hatch="//" if digital.source == "estimated" else None,
        edgecolor="0.3",
        label=f"digital ({digital.source})",
    )
    for position, report in ((1, ann), (2, snn)):
        bottom = 0.0
        for name in components:
            joules = report.breakdown.get(name, 0.0)
            if joules <= 0:
                continue
            energy_axis.bar(
                position,
                joules,
                width=0.6,
                bottom=bottom,
                color=colours[name],
                label=name if position == 1 or name not in ann.breakdown else None,
            )
            bottom += joules
    energy_axis.set_yscale("log")
    energy_axis.set_ylim(min(totals) / 100, max(totals) * 60)
    for position, (total, accuracy) in enumerate(zip(totals, accuracies, strict=True)):
        energy_axis.text(
            position,
            total * 1.4,
            f"{format_energy(total)}\nacc {accuracy:.1%}",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
    for position, report in ((1, ann), (2, snn)):
        shares = sorted(report.breakdown.items(), key=lambda item: -item[1])[:3]
        text = "\n".join(
            f"{name} {joules / report.energy_per_inference_j:.0%}" for name, joules in shares
        )
        energy_axis.text(
            position,
            min(totals) / 60,
            text,
            ha="center",
            va="bottom",
            fontsize=7.5,
            color="white",
            bbox={"boxstyle": "round", "facecolor": "0.25", "alpha": 0.6, "edgecolor": "none"},
        )
    energy_axis.set_xticks(range(3), labels, fontsize=8.5)
    energy_axis.yaxis.set_major_formatter(EngFormatter(unit="J"))
    energy_axis.set_ylabel("energy per inference (log scale)")
    ratio_crossbar = snn.energy_per_inference_j / ann.energy_per_inference_j
    ratio_digital = snn.energy_per_inference_j / digital.energy_per_inference_j
    reference = "ANN on GPU (measured)" if digital.source == "measured" else "ANN digital estimate"
    energy_axis.text(
        0.02,
        0.98,
        f"SNN on crossbar = {ratio_crossbar:.3g}× the ANN on the same crossbar\n"
        f"SNN on crossbar = {ratio_digital:.3g}× the {reference}",
        transform=energy_axis.transAxes,
        va="top",
        fontsize=9.5,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"},
    )
    energy_axis.legend(
        fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5, frameon=False
    )
    energy_axis.set_title("Energy per inference, stacked by component")

    if sweep is not None and sweep.points:
        energies = [point.energy_per_inference_j for point in sweep.points]
        accuracy = [100 * point.accuracy for point in sweep.points]
        sweep_axis.plot(
            energies,
            accuracy,
            "o-",
            color="tab:blue",
            label=f"{sweep.model_kind.upper()} on {sweep.hardware}",
        )
        for point, x, y in zip(sweep.points, energies, accuracy, strict=True):
            sweep_axis.annotate(
                f"{point.value:g}" if isinstance(point.value, float) else str(point.value),
                (x, y),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=8,
            )
        references = (
            (ann.energy_per_inference_j, ann.accuracy, "s", "tab:orange", f"ANN on {ann.hardware}"),
            (digital.energy_per_inference_j, digital.accuracy, "D", "0.4", digital.label),
        )
        for energy, correct, marker, colour, label in references:
            sweep_axis.plot(energy, 100 * correct, marker, color=colour, markersize=7, label=label)
        sweep_axis.set_xscale("log")
        sweep_axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        sweep_axis.xaxis.set_major_formatter(EngFormatter(unit="J"))
        sweep_axis.xaxis.set_minor_formatter(NullFormatter())
        sweep_axis.set_xlabel("energy per inference (log scale)")
        sweep_axis.set_ylabel("accuracy (%)")
        sweep_axis.set_title(f"Accuracy–energy trade-off over {sweep.label}")
        sweep_axis.grid(True, which="both", alpha=0.3)
        sweep_axis.legend(
            fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False
        )
    else:
        sweep_axis.axis("off")
        sweep_axis.text(0.5, 0.5, "no sweep given", ha="center", va="center")

    figure.suptitle(
        title or "ANN vs SNN: conventional hardware and memristor crossbar", fontsize=13
    )
    caption = "\n".join(
        textwrap.fill(line, 190) for line in _caption(digital, snn, nature_summary).splitlines()
    )
    figure.text(0.01, -0.02, caption, fontsize=8.5, va="top")
    figure.tight_layout()
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
        atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=150, bbox_inches="tight"))
    writer = _find_summary_writer(tensorboard)
    if writer is not None:
        writer.add_figure("neuromorphic_sim/side_by_side", figure, global_step=step, close=False)
    return FigurePaths(png=png, svg=svg, logged_to_tensorboard=writer is not None)
