"""Drawing of a ``Frontier``: accuracy against energy per inference, log energy axis."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neuromorphic_sim.report import format_energy

if TYPE_CHECKING:
    from neuromorphic_sim.frontier import Frontier, FrontierPoint

_METHOD_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:brown", "tab:pink")
"""One colour per conversion method, in the order the methods were asked for."""
_QANN_COLOUR = "tab:purple"
_ANN_COLOUR = "black"


def _series(points: tuple[FrontierPoint, ...]) -> dict[tuple[str, str], list[FrontierPoint]]:
    """Points drawn as one line: (kind, method or hardware) → points ordered by T."""
    groups: dict[tuple[str, str], list[FrontierPoint]] = defaultdict(list)
    for point in points:
        groups[(point.kind, point.method or point.hardware)].append(point)
    return {key: sorted(group, key=lambda p: p.timesteps or 0) for key, group in groups.items()}


def _style(kind: str, name: str, methods: list[str], digital: bool) -> tuple[str, str, str]:
    """(colour, marker, legend label) of a series."""
    if kind == "snn":
        return _METHOD_COLOURS[methods.index(name) % len(_METHOD_COLOURS)], "o", f"SNN {name}"
    if kind == "qann":
        return _QANN_COLOUR, "D", "quantised ANN, ⌈log2(T+1)⌉ bits"
    return (_ANN_COLOUR, "*", name) if digital else (_ANN_COLOUR, "s", "ANN on the crossbar")


def _label_timesteps(axes: Axes, snn: list[FrontierPoint]) -> None:
    """One ``T=…`` label above each cluster of SNN points sharing T (their energies are close)."""
    by_steps: dict[int, list[FrontierPoint]] = defaultdict(list)
    for point in snn:
        by_steps[point.timesteps or 0].append(point)
    for steps, cluster in by_steps.items():
        top = max(100 * point.interval[1] for point in cluster)
        axes.annotate(
            f"T={steps}",
            (min(point.energy_j for point in cluster), top),
            textcoords="offset points",
            xytext=(0, 6),
            fontsize=8,
            color="0.3",
        )


def draw_frontier(figure: Figure, frontier: Frontier) -> None:
    """Draw ``frontier`` on ``figure``: one series per method, interval bars, the Pareto front."""
    axes = figure.add_subplot()
    methods = list(dict.fromkeys(point.method for point in frontier.points if point.method))
    for (kind, name), points in _series(frontier.points).items():
        colour, marker, label = _style(kind, name, methods, points[0].energy_source != "modelled")
        energies = [point.energy_j for point in points]
        accuracies = [100 * point.accuracy for point in points]
        bars = [
            [100 * (p.accuracy - p.interval[0]) for p in points],
            [100 * (p.interval[1] - p.accuracy) for p in points],
        ]
        axes.errorbar(
            energies,
            accuracies,
            yerr=bars,
            color=colour,
            marker=marker,
            markersize=7,
            linestyle="-" if len(points) > 1 else "none",
            linewidth=1,
            capsize=3,
            elinewidth=0.8,
            label=label,
            alpha=0.9,
        )
        if kind == "qann":
            for point, energy, accuracy in zip(points, energies, accuracies, strict=True):
                axes.annotate(
                    f"{point.activation_bits} b",
                    (energy, accuracy),
                    textcoords="offset points",
                    xytext=(5, -10),
                    fontsize=7,
                    color=colour,
                )
    _label_timesteps(axes, [point for point in frontier.points if point.kind == "snn"])
    front = frontier.pareto("modelled")
    axes.step(
        [p.energy_j for p in front],
        [100 * p.accuracy for p in front],
        where="post",
        color="0.35",
        linestyle="--",
        linewidth=1.2,
        label="Pareto front (crossbar points)",
    )
    axes.scatter(
        [p.energy_j for p in front],
        [100 * p.accuracy for p in front],
        s=160,
        facecolors="none",
        edgecolors="0.35",
        linewidths=1.0,
    )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda joules, _: format_energy(joules)))
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("energy per inference (log scale)")
    axes.set_ylabel("top-1 accuracy (%), bars: Wilson 95 % interval")
    axes.set_title(
        f"Accuracy vs energy per inference on {frontier.hardware} "
        f"({frontier.samples} test samples)",
        fontsize=10,
    )
    axes.grid(True, which="both", alpha=0.25)
    axes.legend(fontsize=8, loc="lower right")
    figure.supxlabel(
        "Crossbar energies are modelled (cells, ADCs, drivers, buffers); the digital ANN point "
        "counts FP32 arithmetic only (Horowitz 45 nm) unless measured.\nQuantised ANN: the "
        "iso-information baseline of a T-step rate SNN (Yan et al., arXiv 2409.08290), clipped "
        "at the conversion's threshold.",
        fontsize=7,
    )
