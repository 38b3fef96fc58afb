"""A run's or a project's cost at a glance: what ``nature report``, ``nature ledger`` and
``nature export`` print and write (docs/report.md).

* ``RunReport``: one run's record files → totals with units, the meters, the carbon sources,
  N_exp and where it came from, the forecast against the actual, the per-epoch table, and
  ``plot_run`` (matplotlib, imported only there).
* ``ProjectReport``: a project's rows of the run ledger → the real sum over its runs beside
  N_exp × the latest run, and the runs grouped by their hyperparameters.
* ``ledger_table`` / ``ledger_csv``: the ledger's rows; ``codecarbon_csv``: runs as rows of
  CodeCarbon's ``emissions.csv``.

Nothing here imports torch or Lightning.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nature_callback.exceptions import NatureError
from nature_callback.ledger import LedgerRun
from nature_callback.ledger.schema import params_json
from nature_callback.metric import JOULES_PER_KWH
from nature_callback.run_files import RunRecord, read_run

PLOT_SUFFIXES = (".png", ".svg")
PLOT_INSTALL_HINT = 'pip install "nature-callback[crossbar]" (or "nature-callback[demo]")'

N_EXP_SOURCES = {
    "parameter": "set with n_exp=",
    "ledger": "counted from the run ledger: the runs recorded for the project, this one included",
    "fallback": "the ledger could not be counted (or was disabled): 1 used",
}
"""What each ``n_exp_source`` means."""


# ------------------------------------------------------------------ formatting helpers


def energy_text(energy_j: float) -> str:
    """``16,080.7 J (0.004467 kWh)``."""
    return f"{energy_j:,.1f} J ({energy_j / JOULES_PER_KWH:.4g} kWh)"


def co2e_text(co2e_kg: float) -> str:
    """``0.00134 kg CO2e``."""
    return f"{co2e_kg:.4g} kg CO2e"


def table(header: Sequence[str], rows: Iterable[Sequence[object]],
          left: Sequence[int] = ()) -> list[str]:
    """Lines of a plain-text table: columns as wide as their widest cell, numbers to the
    right, the columns listed in ``left`` (and the last one) to the left."""
    cells = [[str(cell) for cell in header]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    last = len(header) - 1

    def line(row: list[str]) -> str:
        parts = [cell if column == last else
                 cell.ljust(widths[column]) if column in left else cell.rjust(widths[column])
                 for column, cell in enumerate(row)]
        return "  ".join(parts).rstrip()

    return [line(row) for row in cells]


def _optional(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _time(text: str | None) -> datetime | None:
    """An ISO 8601 time with its zone (UTC assumed without one), or None."""
    try:
        moment = datetime.fromisoformat(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------ one run


@dataclass(frozen=True)
class RunReport:
    """One run read back from its files (``nature_summary.json`` and/or
    ``nature_epochs.jsonl``)."""

    record: RunRecord

    @classmethod
    def read(cls, path: str | Path) -> RunReport:
        return cls(read_run(path))

    # -- the figures
    @property
    def header(self) -> dict[str, Any]:
        return self.record.header or {}

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return self.record.epochs

    @property
    def windows(self) -> list[dict[str, Any]]:
        """Named windows (validation, evaluation, ...), in the order they ended."""
        return self.record.windows

    def facts(self) -> dict[str, Any]:
        """Run id, status, N_exp, totals and scaling: from the summary, else from the
        header and the last epoch (a run killed before its summary was first written)."""
        if self.record.summary is not None:
            return dict(self.record.summary)
        header, last = self.header, (self.epochs[-1] if self.epochs else {})
        config = header.get("config") or {}
        return {
            "run_id": header.get("run_id", "?"), "project": header.get("project", "?"),
            "status": "unknown (no summary file)", "started_at": header.get("started_at"),
            "n_exp": header.get("n_exp", 1), "n_exp_source": header.get("n_exp_source", ""),
            "epochs": len(self.epochs), "energy_j": last.get("energy_j", 0.0),
            "windows_energy_j": sum(window["energy_j"] for window in self.windows),
            "co2e_kg": last.get("co2e_kg", 0.0),
            "nature_energy_j": last.get("nature_energy_j", 0.0),
            "nature_co2e_kg": last.get("nature_co2e_kg", 0.0), "pue": config.get("pue"),
            "grid_loss": header.get("grid_loss"), "grid_loss_source": header.get(
                "grid_loss_source", ""),
            "carbon_source": (header.get("carbon") or {}).get("source", ""),
            "carbon_zone": (header.get("carbon") or {}).get("zone", ""),
            "meters": header.get("meters", []),
            "estimated": any(epoch.get("estimated") for epoch in self.epochs),
        }

    def meters(self) -> list[dict[str, Any]]:
        return list(self.facts().get("meters") or self.header.get("meters") or [])

    def carbon(self) -> dict[str, Any]:
        """The run's carbon source and zone, and how many epochs used each source, a stale
        value or a value the provider calls estimated."""
        facts = self.facts()
        return {
            "source": facts.get("carbon_source", ""), "zone": facts.get("carbon_zone", ""),
            "epochs_by_source": dict(Counter(epoch.get("carbon_source", "")
                                             for epoch in self.epochs)),
            "stale_epochs": sum(bool(epoch.get("carbon_is_stale")) for epoch in self.epochs),
            "estimated_epochs": sum(bool(epoch.get("carbon_is_estimated"))
                                    for epoch in self.epochs),
        }

    def forecast(self) -> dict[str, Any] | None:
        """The NATURE forecast (kg CO2e at the planned epochs) after the first and the last
        epoch, against the actual NATURE; None when no epoch carries a forecast."""
        forecasts = [(epoch["terms"]["epoch"], epoch["forecast_co2e_kg"]) for epoch in
                     self.epochs if epoch.get("forecast_co2e_kg") is not None]
        if not forecasts:
            return None
        actual_kg = float(self.facts()["nature_co2e_kg"])
        (first_epoch, first_kg), (last_epoch, last_kg) = forecasts[0], forecasts[-1]
        return {
            "planned_epochs": (self.header.get("config") or {}).get("planned_epochs"),
            "epochs_run": len(self.epochs),
            "first": {"epoch": first_epoch, "forecast_co2e_kg": first_kg},
            "last": {"epoch": last_epoch, "forecast_co2e_kg": last_kg},
            "actual_nature_co2e_kg": actual_kg,
            "last_error_pct": (last_kg - actual_kg) / actual_kg * 100 if actual_kg else None,
        }

    def energy_by_kind(self) -> dict[str, dict[str, float]]:
        """Hardware energy (J, without PUE or grid loss) of each device kind in the epochs and
        in the named windows: their mean power × time. A is not split by kind."""
        timed = [("epochs_j", epoch, epoch["terms"]["epoch_time_s"]) for epoch in self.epochs]
        timed += [("windows_j", window, window["window_time_s"]) for window in self.windows]
        split: dict[str, dict[str, float]] = {}
        for part, span, time_s in timed:
            for kind, power_w in span.get("power_by_kind_w", {}).items():
                totals = split.setdefault(kind, {"epochs_j": 0.0, "windows_j": 0.0})
                totals[part] += power_w * time_s
        return split

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (``nature report --json``)."""
        facts = self.facts()
        return {
            "run": facts,
            "energy_kwh": facts["energy_j"] / JOULES_PER_KWH,
            "nature_energy_kwh": facts["nature_energy_j"] / JOULES_PER_KWH,
            "n_exp_meaning": N_EXP_SOURCES.get(facts.get("n_exp_source", ""), ""),
            "meters": self.meters(), "energy_by_kind": self.energy_by_kind(),
            "carbon": self.carbon(), "forecast": self.forecast(),
            "epochs": self.epochs, "windows": self.windows, "steps": self.record.steps,
            "skipped_lines": self.record.skipped_lines,
        }

    # -- the text
    def text(self) -> str:
        """The readable report."""
        return "\n".join([*self._headline(), "", *self._totals(), "", *self._forecast_lines(),
                          *self._meter_lines(), "", *self._kind_lines(), *self._carbon_lines(), "",
                          *self._epoch_lines(), "", *self._window_lines()]).rstrip()

    def _headline(self) -> list[str]:
        facts = self.facts()
        lines = [f"run {facts['run_id']} ({facts['project']}): {facts['status']}, "
                 f"{facts['epochs']} epochs, started {facts.get('started_at') or '?'}"
                 + (f" on {self.header['host']}" if self.header.get("host") else "")]
        command = (facts.get("params") or {}).get("command")
        if command:  # a run of `nature run`
            lines.append(f"command: {command}")
        if self.record.skipped_lines:
            lines.append(f"({self.record.skipped_lines} unreadable line(s) skipped, e.g. a "
                         "torn last line after a kill)")
        return lines

    def _totals(self) -> list[str]:
        facts = self.facts()
        rows = [("this run", energy_text(facts["energy_j"]), co2e_text(facts["co2e_kg"]))]
        if facts.get("windows_energy_j"):
            rows.append(("  of which named windows", energy_text(facts["windows_energy_j"]),
                         ""))
        if facts.get("a_energy_j") is not None:
            rows.append(("  of which A (outside epochs and windows)",
                         energy_text(facts["a_energy_j"]), ""))
        rows.append((f"NATURE = N_exp × run (N_exp = {facts['n_exp']})",
                     energy_text(facts["nature_energy_j"]), co2e_text(facts["nature_co2e_kg"])))
        source = facts.get("n_exp_source", "")
        lines = ["Totals", *("  " + line for line in table(("", "energy", "CO2e"), rows,
                                                            left=(0,))[1:])]
        lines.append(f"  N_exp from {source or '?'}: {N_EXP_SOURCES.get(source, 'unknown')}")
        grid_loss = facts.get("grid_loss")
        lines.append(f"  scaling: PUE {facts.get('pue')}, grid loss "
                     f"{_optional(grid_loss, '.2%') or '?'} ({facts.get('grid_loss_source')})")
        if facts.get("estimated"):
            lines.append("  E is partly ESTIMATED (see the meters)")
        return lines

    def _forecast_lines(self) -> list[str]:
        forecast = self.forecast()
        if forecast is None:
            return ["Forecast: none (no planned number of epochs)", ""]
        first, last = forecast["first"], forecast["last"]
        error = forecast["last_error_pct"]
        return [
            f"Forecast vs actual (NATURE at {forecast['planned_epochs'] or '?'} planned epochs; "
            f"{forecast['epochs_run']} run)",
            f"  after epoch {first['epoch']}: {co2e_text(first['forecast_co2e_kg'])}",
            f"  after epoch {last['epoch']} (last): {co2e_text(last['forecast_co2e_kg'])}",
            f"  actual NATURE: {co2e_text(forecast['actual_nature_co2e_kg'])}"
            + ("" if error is None else
               f"; the last forecast is off by {round(error, 1) + 0.0:+.1f} %"),
            "",
        ]

    def _meter_lines(self) -> list[str]:
        meters = self.meters()
        if not meters:
            return ["Meters: none recorded"]
        rows = [(meter.get("device", "?"), meter.get("kind", "?"),
                 meter.get("source", "?").upper() if meter.get("source") == "estimated"
                 else meter.get("source", "?"), "ok" if meter.get("ok", True) else "FAILED",
                 meter.get("description", "")) for meter in meters]
        return ["Meters", *("  " + line for line in table(
            ("device", "kind", "source", "state", "description"), rows, left=(0, 1, 2, 3)))]

    def _kind_lines(self) -> list[str]:
        split = self.energy_by_kind()
        total_j = sum(sum(parts.values()) for parts in split.values())
        if not total_j:
            return []
        estimated = {meter.get("kind") for meter in self.meters()
                     if meter.get("source") == "estimated"}
        rows = [(kind, f"{parts['epochs_j']:,.1f}", f"{parts['windows_j']:,.1f}",
                 f"{sum(parts.values()) / total_j:.0%}",
                 "ESTIMATED" if kind in estimated else "")
                for kind, parts in sorted(split.items(), key=lambda item: -sum(item[1].values()))]
        return ["Hardware energy by device kind (without PUE or grid loss; A not split)",
                *("  " + line for line in table(
                    ("kind", "epochs (J)", "windows (J)", "share", "source"), rows, left=(0,))),
                ""]

    def _carbon_lines(self) -> list[str]:
        carbon = self.carbon()
        lines = [f"Carbon intensity: {carbon['source'] or '?'} [zone {carbon['zone'] or '?'}]"]
        if len(carbon["epochs_by_source"]) > 1:
            lines += [f"  {count} epoch(s) from {source}"
                      for source, count in carbon["epochs_by_source"].items()]
        for key, meaning in (("stale_epochs", "an older value kept after a failed lookup"),
                             ("estimated_epochs", "a value the provider calls estimated")):
            if carbon[key]:
                lines.append(f"  {carbon[key]} epoch(s) used {meaning}")
        return lines

    def _epoch_lines(self) -> list[str]:
        if not self.epochs:
            return ["Epochs: none recorded"]
        rows = []
        for epoch in self.epochs:
            terms = epoch["terms"]
            flags = [flag for flag, on in (("E estimated", epoch.get("estimated")),
                                           ("carbon stale", epoch.get("carbon_is_stale")),
                                           ("carbon estimated", epoch.get("carbon_is_estimated")))
                     if on]
            rows.append((
                terms["epoch"], f"{terms['epoch_time_s']:.3f}", f"{terms['power_w']:.2f}",
                f"{terms['facility_w']:.2f}", f"{terms['grid_loss_w']:.2f}",
                f"{terms['epoch_energy_j']:,.1f}", f"{terms['carbon_intensity_g_per_kwh']:.0f}",
                f"{terms['epoch_co2e_g']:.3e}", f"{epoch['nature_co2e_kg']:.3e}",
                _optional(epoch.get("forecast_co2e_kg"), ".3e"), ", ".join(flags)))
        return ["Epochs (E: hardware power; U: facility; R: grid loss)", *table(
            ("epoch", "T (s)", "E (W)", "U (W)", "R (W)", "energy (J)", "g/kWh", "CO2e (g)",
             "NATURE (kg)", "forecast (kg)", "flags"), rows)]


    def _window_lines(self) -> list[str]:
        if not self.windows:
            return []
        rows = [(window["name"], window["index"], f"{window['window_time_s']:.3f}",
                 f"{window['power_w']:.2f}", f"{window['energy_j']:,.1f}",
                 f"{window['carbon_intensity_g_per_kwh']:.0f}", f"{window['co2e_g']:.3e}",
                 "E estimated" if window.get("estimated") else "") for window in self.windows]
        return ["Named windows (energy with PUE and grid loss)", *table(
            ("window", "#", "T (s)", "E (W)", "energy (J)", "g/kWh", "CO2e (g)", "flags"),
            rows, left=(0,))]


def plot_run(report: RunReport, path: str | Path) -> Path:
    """Draw power, energy and CO2e over the run's epochs to a ``.png`` or ``.svg`` file
    (written atomically); needs matplotlib."""
    target = Path(path)
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise NatureError(f"--plot {target}: give a .png or .svg file name.")
    if not report.epochs:
        raise NatureError("the run has no epochs to plot.")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NatureError(f"--plot needs matplotlib: {PLOT_INSTALL_HINT}") from None
    from nature_callback.files import atomic_write

    ends_s, elapsed_s = [], 0.0
    for epoch in report.epochs:
        elapsed_s += epoch["terms"]["epoch_time_s"]
        ends_s.append(elapsed_s)
    edges_s = [0.0, *ends_s]  # each epoch's power holds from its start to its end

    def held(values: list[float]) -> list[float]:
        return [*values, values[-1]]

    figure = Figure(figsize=(7.0, 7.5), layout="constrained")
    power, energy, carbon = figure.subplots(3, 1, sharex=True)
    power.step(edges_s, held([e["terms"]["power_w"] for e in report.epochs]), where="post",
               label="E (hardware)", color="black")
    for kind in sorted({kind for e in report.epochs for kind in e.get("power_by_kind_w", {})}):
        power.step(edges_s, held([e.get("power_by_kind_w", {}).get(kind, 0.0)
                                  for e in report.epochs]), where="post", label=kind, alpha=0.7)
    power.set_ylabel("power (W)")
    power.legend(loc="best", fontsize="small")
    energy.plot(ends_s, [e["energy_j"] / JOULES_PER_KWH for e in report.epochs], marker="o")
    energy.set_ylabel("run energy (kWh)")
    carbon.plot(ends_s, [e["co2e_kg"] for e in report.epochs], marker="o", label="run")
    carbon.plot(ends_s, [e["nature_co2e_kg"] for e in report.epochs], marker="s",
                label="NATURE (× N_exp)")
    forecasts = [(end_s, e["forecast_co2e_kg"]) for end_s, e in
                 zip(ends_s, report.epochs, strict=True) if e.get("forecast_co2e_kg") is not None]
    if forecasts:
        forecast_ends_s, forecast_kg = zip(*forecasts, strict=True)
        carbon.plot(forecast_ends_s, forecast_kg, linestyle="--",
                    label="forecast at planned epochs")
    carbon.set_ylabel("CO2e (kg)")
    carbon.set_xlabel("training time in epochs (s)")
    carbon.legend(loc="best", fontsize="small")
    for axes in (power, energy, carbon):
        axes.set_xlim(left=0.0)
        axes.set_ylim(bottom=0.0)
    facts = report.facts()
    figure.suptitle(f"run {facts['run_id']} ({facts['project']}), {facts['status']}")
    return atomic_write(target, lambda temporary: figure.savefig(temporary))


# ------------------------------------------------------------------ a project


class _RunTotals:
    """Sums over ``runs``."""

    runs: list[LedgerRun]

    @property
    def energy_j(self) -> float:
        return sum(run.energy_j for run in self.runs)

    @property
    def co2e_kg(self) -> float:
        return sum(run.co2e_kg for run in self.runs)


@dataclass(frozen=True)
class ParamGroup(_RunTotals):
    """Runs recorded with identical hyperparameters."""

    params: dict[str, Any] | None
    runs: list[LedgerRun]


def _param_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted(params.items()))


@dataclass(frozen=True)
class ProjectReport(_RunTotals):
    """A project's recorded runs: the real sum of their energy and CO2e, the estimate
    N_exp × the latest run, and the runs grouped by hyperparameters."""

    project: str
    ledger: str
    """Where the runs were read (a URL redacted)."""
    runs: list[LedgerRun]

    def __post_init__(self) -> None:
        if not self.runs:
            raise NatureError(f"no runs of project {self.project!r} in the run ledger at "
                              f"{self.ledger}.")

    @property
    def latest_run(self) -> LedgerRun:
        """The latest run that has ended (its totals are final), else the latest."""
        ended = [run for run in self.runs if run.status != "running"]
        return (ended or self.runs)[-1]

    def groups(self) -> list[ParamGroup]:
        """Runs by identical hyperparameters, in the order each set first appears."""
        grouped: dict[str | None, list[LedgerRun]] = {}
        for run in self.runs:
            grouped.setdefault(params_json(run.params), []).append(run)
        return [ParamGroup(runs[0].params, runs) for runs in grouped.values()]

    def shared_params(self) -> dict[str, Any]:
        """Hyperparameters every group with params has, with the same value."""
        logged = [group.params for group in self.groups() if group.params is not None]
        if len(logged) < 2:
            return {}
        return {key: value for key, value in logged[0].items()
                if all(key in params and params[key] == value for params in logged[1:])}

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest_run
        return {
            "project": self.project, "ledger": self.ledger, "runs": len(self.runs),
            "by_status": dict(Counter(run.status for run in self.runs)),
            "energy_j": self.energy_j, "energy_kwh": self.energy_j / JOULES_PER_KWH,
            "co2e_kg": self.co2e_kg,
            "estimate": {"n_exp": len(self.runs), "latest_run_id": latest.run_id,
                         "energy_j": len(self.runs) * latest.energy_j,
                         "co2e_kg": len(self.runs) * latest.co2e_kg},
            "groups": [{"params": group.params, "runs": len(group.runs),
                        "energy_j": group.energy_j, "co2e_kg": group.co2e_kg,
                        "run_ids": [run.run_id for run in group.runs]}
                       for group in self.groups()],
        }

    def text(self) -> str:
        summary = self.to_dict()
        estimate = summary["estimate"]
        statuses = ", ".join(f"{status} {count}" for status, count in
                             sorted(summary["by_status"].items()))
        ratio = self.co2e_kg / estimate["co2e_kg"] if estimate["co2e_kg"] else None
        lines = [
            f"project {self.project}: {len(self.runs)} runs in {self.ledger} ({statuses})",
            *("  " + line for line in table(("", "energy", "CO2e"), [
                ("sum over the recorded runs", energy_text(self.energy_j),
                 co2e_text(self.co2e_kg)),
                (f"N_exp × latest run ({estimate['n_exp']} × {estimate['latest_run_id']})",
                 energy_text(estimate["energy_j"]), co2e_text(estimate["co2e_kg"]))],
                left=(0,))[1:]),
        ]
        if ratio is not None:
            lines.append(f"  the sum is {ratio:.3g} × the estimate")
        return "\n".join([*lines, "", *self._group_lines()])

    def _group_lines(self) -> list[str]:
        shared = self.shared_params()
        total_kg = self.co2e_kg
        rows = []
        for number, group in enumerate(self.groups(), start=1):
            varying = ({key: value for key, value in group.params.items() if key not in shared}
                       if group.params is not None else None)
            rows.append((number, len(group.runs), f"{group.energy_j:,.1f}",
                         f"{group.energy_j / JOULES_PER_KWH:.4g}", f"{group.co2e_kg:.3e}",
                         f"{group.co2e_kg / total_kg:.1%}" if total_kg else "",
                         "(no hyperparameters logged)" if varying is None
                         else _param_text(varying) or "(the shared ones)"))
        title = "Runs by hyperparameters" + (f" (shared: {_param_text(shared)})" if shared
                                             else "")
        return [title, *table(("group", "runs", "energy (J)", "kWh", "CO2e (kg)", "CO2e share",
                               "params"), rows)]


# ------------------------------------------------------------------ the ledger's rows

LEDGER_CSV_COLUMNS = ("run_id", "project", "started_at", "ended_at", "status", "epochs",
                      "energy_j", "co2e_kg", "host", "params")


def ledger_table(runs: Sequence[LedgerRun]) -> str:
    """The runs under a header, oldest first."""
    rows = [(run.started_at, run.project, run.status, run.epochs, f"{run.energy_j:.1f}",
             f"{run.co2e_kg:.3e}", run.host or "", run.run_id) for run in runs]
    return "\n".join(table(("started (UTC)", "project", "status", "epochs", "energy (J)",
                            "CO2e (kg)", "host", "run id"), rows, left=(0, 1, 2, 6)))


def _csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def ledger_csv(runs: Sequence[LedgerRun]) -> str:
    """The runs as CSV (params as JSON)."""
    return _csv_text(LEDGER_CSV_COLUMNS, (
        {**run.to_dict(), "params": params_json(run.params) or ""} for run in runs))


# ------------------------------------------------------------------ CodeCarbon's emissions.csv

CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code",
    "region", "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version",
    "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)
"""The columns of CodeCarbon 3.3.2's ``emissions.csv`` (``EmissionsData``), in its order."""

CODECARBON_KINDS = {"cpu": "cpu", "gpu": "gpu", "ram": "dram"}
"""CodeCarbon's device names → our meter kinds."""


def _kind_power_and_energy(report: RunReport, kind: str) -> tuple[float, float] | None:
    """Mean hardware power (W, weighted by epoch time) and hardware energy (kWh) of one meter
    kind over the epochs; None when no meter of that kind was recorded."""
    if not any(meter.get("kind") == kind for meter in report.meters()):
        return None
    time_s = sum(epoch["terms"]["epoch_time_s"] for epoch in report.epochs)
    energy_j = report.energy_by_kind().get(kind, {}).get("epochs_j", 0.0)
    return (energy_j / time_s if time_s else 0.0), energy_j / JOULES_PER_KWH


def codecarbon_row(report: RunReport) -> dict[str, Any]:
    """One run as a row of CodeCarbon's ``emissions.csv``; what we do not know stays empty
    (the mapping: docs/report.md)."""
    from nature_callback.carbon.countries import country_of_zone, find_country

    facts = report.facts()
    row: dict[str, Any] = dict.fromkeys(CODECARBON_COLUMNS, "")
    started, updated = _time(facts.get("started_at")), _time(facts.get("updated_at"))
    duration_s = (updated - started).total_seconds() if started and updated else None
    row.update(
        timestamp=(updated.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                   if updated else ""),
        project_name=facts["project"], run_id=facts["run_id"],
        emissions=facts["co2e_kg"], energy_consumed=facts["energy_j"] / JOULES_PER_KWH,
        pue=facts.get("pue") if facts.get("pue") is not None else "",
        gpu_count=sum(meter.get("kind") == "gpu" for meter in report.meters()),
    )
    if duration_s is not None:
        row["duration"] = duration_s
        row["emissions_rate"] = facts["co2e_kg"] / duration_s if duration_s > 0 else ""
    for name, kind in CODECARBON_KINDS.items():
        measured = _kind_power_and_energy(report, kind)
        if measured is not None:
            row[f"{name}_power"], row[f"{name}_energy"] = measured
    country = find_country(country_of_zone(facts.get("carbon_zone")) or "")
    if country is not None and country.iso_alpha2 != "WORLD":
        row["country_name"], row["country_iso_code"] = country.country, country.iso_alpha3
    return row


def codecarbon_csv(reports: Iterable[RunReport]) -> str:
    """Runs as CodeCarbon's ``emissions.csv``: its header, one row per run."""
    return _csv_text(CODECARBON_COLUMNS, (codecarbon_row(report) for report in reports))
