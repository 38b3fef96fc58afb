"""A framework-agnostic tracker: energy windows over time, A, totals and the NATURE metric.

Plain PyTorch::

    with NatureTracker(pue=1.2, carbon="DE", planned_epochs=10) as tracker:
        for epoch in range(10):
            with tracker.epoch():
                train_one_epoch()
            print(tracker.last_epoch.metrics())

The Lightning callback drives the same object from its hooks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from nature_callback.background import LatestValueWriter, ProcessWorker
from nature_callback.carbon import CarbonMonitor, CarbonProvider, grid_loss_for, resolve_provider
from nature_callback.carbon.base import CarbonIntensity
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import ConfigurationError, NatureError, NatureWarning
from nature_callback.files import atomic_write_text, readable_json
from nature_callback.ledger import RunLedger
from nature_callback.meters._validate import check_gpus
from nature_callback.meters.base import DeviceEnergy, EnergyMeter
from nature_callback.metric import (
    JOULES_PER_KWH,
    EpochTerms,
    co2e_g,
    epoch_terms,
    forecast_co2e_kg,
    wall_to_plant_factor,
)
from nature_callback.records import KINDS, EpochRecord, RunSummary

log = logging.getLogger(__name__)

SUMMARY_FILENAME = "nature_summary.json"

RECORD_PERIOD_S = 1.0
"""While a run goes on, its JSON record is rewritten after every epoch but at most once a
second (epochs shorter than that are batched into one write); the end of a run, a crash or an
interruption is always written at once."""

RECORD_FIRST_AFTER_S = 5.0
"""The first running record is written this long into the run: a shorter run writes only its
final record (a crash or an interruption still writes its partial one at once)."""

RECORD_MAX_BUSY_FRACTION = 0.005
"""The record writer rests at least 200 times as long as its last write took: a record that
grows with a long run of short epochs never takes more than 0.5 % of the time from training."""

LEDGER_PERIOD_S = 60.0
"""While a run goes on, its ledger row is refreshed at most this often (an SQLite commit
syncs to disk)."""

LEDGER_WORKER = ProcessWorker("nature-ledger")
"""Writes every run's final ledger row off the training thread (one thread per process)."""

Reducer = Callable[[list[float]], list[float]]
"""Sums a vector of floats over every process of a distributed run (identity when alone)."""

Status = Literal["running", "completed", "crashed", "interrupted"]


def _identity(values: list[float]) -> list[float]:
    return values


def _check_gpus(gpus: str | list[int] | None) -> str | list[int] | None:
    """Validate ``gpus`` at construction: its form, and that each index is a visible GPU."""
    normalised = check_gpus(gpus, allow_none=True)
    if isinstance(normalised, tuple):
        import torch

        visible = torch.cuda.device_count()
        missing = [index for index in normalised if index >= visible]
        if missing:
            raise ConfigurationError(
                f"gpus={gpus!r} is invalid: this process sees {visible} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}), so "
                f"{missing} do not exist. Pass visible indices, \"visible\" or None."
            )
        return list(normalised)
    return normalised


class NatureTracker:
    """Meters energy in epoch windows and between them, and computes NATURE's terms."""

    def __init__(
        self,
        pue: float = DEFAULT_PUE,
        grid_loss: float | None = None,
        n_exp: int | Literal["ledger"] = 1,
        extra_energy_j: float = 0.0,
        carbon: CarbonProvider | float | str | None = None,
        *,
        planned_epochs: int | None = None,
        project: str = "default",
        output_dir: str | Path | None = None,
        ledger_path: str | Path | Literal[False] | None = None,
        cpu_tdp_w: float | None = None,
        sample_interval_s: float = 0.1,
        meter: EnergyMeter | None = None,
        gpus: str | list[int] | None = "visible",
        node_level: bool = True,
    ) -> None:
        self.config = NatureConfig(
            pue=pue,
            grid_loss=grid_loss,
            n_exp=n_exp,
            extra_energy_j=extra_energy_j,
            planned_epochs=planned_epochs,
            project=project,
            output_dir=output_dir,  # type: ignore[arg-type]
            ledger_path=ledger_path,  # type: ignore[arg-type]
            cpu_tdp_w=cpu_tdp_w,
            sample_interval_s=sample_interval_s,
        )
        self.provider = resolve_provider(carbon)
        self.run_id = uuid.uuid4().hex[:12]
        self.reduce: Reducer = _identity
        """Set by the Lightning callback under DDP to sum across ranks."""
        self.is_distributed = False
        self.is_writer = True
        """Whether this process writes the summary and the ledger (rank zero)."""
        self.rank = 0
        """Global rank of this process (0 outside distributed runs)."""
        self._meter_override = meter
        self._gpus = _check_gpus(gpus)
        self._node_level = node_level
        self._meter: EnergyMeter | None = None
        self._monitor: CarbonMonitor | None = None
        self._ledger: RunLedger | None = None
        self.n_exp = 1 if n_exp == "ledger" else int(n_exp)
        self.grid_loss = 0.0
        self.grid_loss_source = ""
        self._first_intensity: CarbonIntensity | None = None
        self._last_intensity: CarbonIntensity | None = None
        # history (what a checkpoint carries)
        self.records: list[EpochRecord] = []
        self._epochs_energy_j = 0.0
        """Σ epoch_energy_j over ``records`` (kept as records are added: O(1) per epoch)."""
        self._epochs_co2e_g = 0.0
        """Σ epoch_co2e_g over ``records``."""
        self._any_estimated = False
        """Whether any record has an estimated part."""
        self._writer: LatestValueWriter[_State] = LatestValueWriter(
            self._persist_state, min_interval_s=RECORD_PERIOD_S,
            first_after_s=RECORD_FIRST_AFTER_S, max_busy_fraction=RECORD_MAX_BUSY_FRACTION)
        self._ledger_written_s = -float("inf")
        self._final_ledger_row: Future[None] | None = None
        """The final ledger row, written by the process's ledger worker (``wait_for_ledger``)."""
        self._started_at = ""
        """ISO time (UTC) at which start() ran: the ledger row's start."""
        self.a_hw_j = 0.0
        """Hardware energy metered outside epoch windows (before PUE and grid loss)."""
        self.a_hw_g = 0.0
        """Carbon of that hardware energy at the intensity of its time (before scaling)."""
        # live windows
        self._last_reading: dict[str, DeviceEnergy] = {}
        """The latest reading of every device: the boundary of the open window."""
        self._pending_gap_j = 0.0
        self._pending_gap_g = 0.0
        self._epoch_start_s: float | None = None
        self._epoch_start_wall_s = 0.0
        self._boundary_wall_s = 0.0
        """time.time() of the last window boundary (carbon intensity is time resolved)."""
        self._epoch_index = 0
        self._started = False
        self._stopped = False
        self.status: Status = "running"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "NatureTracker":
        """Start meters and the carbon monitor; the window outside epochs opens now."""
        if self._started:
            return self
        self._meter = self._meter_override or self._build_meter()
        self._meter.start()
        self._monitor = CarbonMonitor(self.provider)
        self._monitor.start()
        self._first_intensity = self._monitor.current()
        self._last_intensity = self._first_intensity
        self._resolve_grid_loss(self._first_intensity)
        self._open_ledger()
        self._last_reading = {reading.device: reading for reading in self._meter.read()}
        self._boundary_wall_s = time.time()
        self._started = True
        self._stopped = False
        self.status = "running"
        return self

    def _build_meter(self) -> EnergyMeter:
        from nature_callback.meters.factory import build_meters

        return build_meters(
            gpus=self._gpus,
            node_level=self._node_level,
            cpu_tdp_w=self.config.cpu_tdp_w,
            sample_interval_s=self.config.sample_interval_s,
        )

    def _resolve_grid_loss(self, intensity: CarbonIntensity) -> None:
        if self.config.grid_loss is not None:
            self.grid_loss = self.config.grid_loss
            self.grid_loss_source = "user parameter grid_loss"
            return
        loss = grid_loss_for(intensity)
        self.grid_loss = loss.fraction
        self.grid_loss_source = loss.source

    def _open_ledger(self) -> None:
        if self.config.ledger_path is False or not self.is_writer:
            return
        self._started_at = datetime.now(timezone.utc).isoformat()
        # The file is opened by the first write: off the training thread, unless counting
        # needs this run's row now. A ledger that cannot be opened is then reported there.
        self._ledger = RunLedger(self.config.ledger_path or None)
        try:
            if self.config.n_exp == "ledger":
                self._ledger.record(self.run_id, self.config.project, self._started_at,
                                    status="running", epochs=0, energy_j=0.0, co2e_kg=0.0)
                self.n_exp = max(self._ledger.count(self.config.project), 1)
        except NatureError as err:
            self._ledger = None
            warnings.warn(f"run ledger disabled: {err}", NatureWarning, stacklevel=3)

    @property
    def factor(self) -> float:
        """Hardware energy → energy at the plant: PUE / (1 − λ)."""
        return wall_to_plant_factor(self.config.pue, self.grid_loss)

    # ------------------------------------------------------------------ windows
    def _take_delta(self) -> dict[str, float]:
        """Energy per device since the previous boundary; moves the boundary to now."""
        assert self._meter is not None
        deltas: dict[str, float] = {}
        for reading in self._meter.read():
            previous = self._last_reading.get(reading.device)
            before_j = previous.energy_j if previous else 0.0
            deltas[reading.device] = max(reading.energy_j - before_j, 0.0)
            self._last_reading[reading.device] = reading
        return deltas

    def _intensity_between(self, start_wall_s: float, end_wall_s: float) -> CarbonIntensity:
        """The intensity in effect over a window (time-weighted when it changed)."""
        assert self._monitor is not None
        try:
            self._last_intensity = self._monitor.mean_between(start_wall_s, end_wall_s)
        except Exception as err:  # noqa: BLE001 - a carbon lookup must never break training
            warnings.warn(f"carbon intensity unavailable, keeping the last value: {err}",
                          NatureWarning, stacklevel=3)
        assert self._last_intensity is not None
        return self._last_intensity

    def _add_gap(self, deltas: dict[str, float]) -> None:
        """Add the energy metered since the last boundary to A (pending the DDP reduction)."""
        now_wall_s = time.time()
        gap_j = sum(deltas.values())
        intensity = self._intensity_between(self._boundary_wall_s, now_wall_s)
        self._boundary_wall_s = now_wall_s
        self._pending_gap_j += gap_j
        self._pending_gap_g += co2e_g(gap_j, intensity.g_per_kwh)

    def start_epoch(self) -> None:
        """Close the window outside epochs and open an epoch window."""
        if not self._started:
            self.start()
        if self._epoch_start_s is not None:
            raise NatureError("start_epoch() called twice without end_epoch() in between")
        gap = self._take_delta()
        self._epoch_start_s = time.perf_counter()  # the energy and time windows open together
        self._add_gap(gap)
        self._epoch_start_wall_s = self._boundary_wall_s

    def end_epoch(self) -> EpochRecord:
        """Close the epoch window, compute its terms and the run's totals, write the summary."""
        if self._epoch_start_s is None:
            raise NatureError("end_epoch() called without start_epoch()")
        epoch_time_s = time.perf_counter() - self._epoch_start_s
        self._epoch_start_s = None
        deltas = self._take_delta()
        self._boundary_wall_s = time.time()
        by_kind = self._sum_by_kind(deltas)
        estimated_devices = sum(1 for d in self._last_reading.values() if d.source == "estimated")
        vector = [*(by_kind[k] for k in KINDS), self._pending_gap_j, self._pending_gap_g,
                  float(estimated_devices)]
        reduced = self.reduce(vector)
        kind_j = dict(zip(KINDS, reduced[: len(KINDS)]))
        gap_j, gap_g, estimated_count = reduced[len(KINDS):]
        self._pending_gap_j = self._pending_gap_g = 0.0
        self.a_hw_j += gap_j
        self.a_hw_g += gap_g
        intensity = self._intensity_between(self._epoch_start_wall_s, self._boundary_wall_s)
        terms = epoch_terms(
            epoch=self._epoch_index,
            hardware_energy_j=sum(kind_j.values()),
            epoch_time_s=epoch_time_s,
            pue=self.config.pue,
            grid_loss=self.grid_loss,
            carbon_intensity_g_per_kwh=intensity.g_per_kwh,
        )
        record = self._record(
            terms,
            power_by_kind_w={k: j / epoch_time_s for k, j in kind_j.items() if epoch_time_s > 0
                             and (j > 0 or self._has_kind(k))},
            power_by_device_w={} if self.is_distributed else {
                device: j / epoch_time_s for device, j in deltas.items() if epoch_time_s > 0},
            estimated=estimated_count > 0,
            carbon_source=intensity.source,
            carbon_is_stale=intensity.is_stale,
            carbon_is_estimated=intensity.is_estimated,
        )
        self._add_record(record)
        self._epoch_index += 1
        self._submit_running()
        return record

    def _add_record(self, record: EpochRecord) -> None:
        """Append a record and keep the running sums in step."""
        self.records.append(record)
        self._epochs_energy_j += record.terms.epoch_energy_j
        self._epochs_co2e_g += record.terms.epoch_co2e_g
        self._any_estimated = self._any_estimated or record.estimated

    @contextlib.contextmanager
    def epoch(self) -> Iterator["NatureTracker"]:
        """Context manager around one epoch; the epoch is recorded even if its body raises."""
        self.start_epoch()
        try:
            yield self
        finally:
            self.end_epoch()

    def _has_kind(self, kind: str) -> bool:
        return any(d.kind == kind for d in self._last_reading.values())

    def _sum_by_kind(self, deltas: dict[str, float]) -> dict[str, float]:
        by_kind = {kind: 0.0 for kind in KINDS}
        for device, energy_j in deltas.items():
            kind = self._last_reading[device].kind if device in self._last_reading else "other"
            by_kind[kind if kind in by_kind else "other"] += energy_j
        return by_kind

    def _record(self, terms: EpochTerms, **extra: Any) -> EpochRecord:
        """An epoch's record: its terms and the run's totals once it is added."""
        energy_j = self.energy_j + terms.epoch_energy_j
        co2e_kg = self.co2e_kg + terms.epoch_co2e_g / 1000.0
        forecast = None
        if self.config.planned_epochs is not None:
            forecast = forecast_co2e_kg(
                co2e_kg_so_far=co2e_kg,
                epochs_done=len(self.records) + 1,
                epoch_co2e_g_sum=self._epochs_co2e_g + terms.epoch_co2e_g,
                planned_epochs=self.config.planned_epochs,
                n_exp=self.n_exp,
            )
        return EpochRecord(
            terms=terms,
            energy_j=energy_j,
            co2e_kg=co2e_kg,
            nature_energy_j=self.n_exp * energy_j,
            nature_co2e_kg=self.n_exp * co2e_kg,
            forecast_co2e_kg=forecast,
            **extra,
        )

    # ------------------------------------------------------------------ totals
    @property
    def a_energy_j(self) -> float:
        """A: energy outside epochs, scaled by PUE and grid loss, plus extra_energy_j."""
        return self.a_hw_j * self.factor + self.config.extra_energy_j

    @property
    def a_co2e_g(self) -> float:
        """Carbon of A; extra_energy_j is charged at the intensity of the run's start."""
        start_g_per_kwh = self._first_intensity.g_per_kwh if self._first_intensity else 0.0
        return self.a_hw_g * self.factor + co2e_g(self.config.extra_energy_j, start_g_per_kwh)

    @property
    def energy_j(self) -> float:
        """The run's bracket so far: A + Σ epoch energy (J)."""
        return self.a_energy_j + self._epochs_energy_j

    @property
    def co2e_kg(self) -> float:
        """The run's carbon so far (kg CO2e), A included."""
        return (self.a_co2e_g + self._epochs_co2e_g) / 1000.0

    @property
    def last_epoch(self) -> EpochRecord | None:
        """The most recent epoch record."""
        return self.records[-1] if self.records else None

    def summary(self, status: Status | None = None, rank_local: bool = False) -> RunSummary:
        """The run so far as a summary object."""
        return self._summary_of(self._capture(status or self.status, rank_local))

    def _capture(self, status: Status, rank_local: bool) -> _State:
        """What a summary is built from, taken now on the training thread (O(1))."""
        return _State(
            status=status, rank_local=rank_local, records=self.records,
            epochs=len(self.records), energy_j=self.energy_j, co2e_kg=self.co2e_kg,
            a_energy_j=self.a_energy_j, any_estimated=self._any_estimated,
            readings=tuple(self._last_reading.values()), intensity=self._last_intensity,
        )

    def _summary_of(self, state: _State) -> RunSummary:
        """The summary of a captured state (also called from the record writer's thread:
        it reads only the state and what does not change once the run has started)."""
        intensity = state.intensity
        return RunSummary(
            run_id=self.run_id,
            project=self.config.project,
            status=state.status,
            n_exp=self.n_exp,
            epochs=state.epochs,
            a_energy_j=state.a_energy_j,
            energy_j=state.energy_j,
            co2e_kg=state.co2e_kg,
            nature_energy_j=self.n_exp * state.energy_j,
            nature_co2e_kg=self.n_exp * state.co2e_kg,
            nature_energy_kwh=self.n_exp * state.energy_j / JOULES_PER_KWH,
            pue=self.config.pue,
            grid_loss=self.grid_loss,
            grid_loss_source=self.grid_loss_source,
            carbon_source=intensity.source if intensity else "",
            carbon_zone=intensity.zone if intensity else "",
            meters=[
                {"device": d.device, "kind": d.kind, "description": d.description,
                 "source": d.source, "ok": d.ok}
                for d in state.readings
            ],
            estimated=any(d.source == "estimated" for d in state.readings)
            or state.any_estimated,
            rank_local=state.rank_local,
            epoch_records=[record.shared_dict for record in state.records[: state.epochs]],
        )

    def hyperparameters(self) -> dict[str, Any]:
        """What a logger records once per run: PUE, grid loss, sources of every figure."""
        intensity = self._last_intensity
        params: dict[str, Any] = {
            "nature/pue": self.config.pue,
            "nature/grid_loss": self.grid_loss,
            "nature/grid_loss_source": self.grid_loss_source,
            "nature/n_exp": self.n_exp,
            "nature/extra_energy_j": self.config.extra_energy_j,
            "nature/carbon_source": intensity.source if intensity else "",
            "nature/carbon_zone": intensity.zone if intensity else "",
            "nature/run_id": self.run_id,
        }
        for key, value in self.provider.describe().items():
            params[f"nature/carbon/{key}"] = value if value is not None else ""
        for device in self._last_reading.values():
            params[f"nature/meter/{device.device}"] = f"{device.source}: {device.description}"
        return params

    @property
    def summary_path(self) -> Path:
        """Where the JSON summary is written."""
        return (self.config.output_dir or Path.cwd()) / SUMMARY_FILENAME

    def _submit_running(self) -> None:
        """Hand the running record to the background writer: it builds the summary and writes
        it there, at most once a second (the newest state wins). Nothing is captured before the
        first write is due: it would only be superseded."""
        if self.is_writer and self._writer.wants_snapshots():
            self._writer.submit(self._capture("running", rank_local=False))

    def _write_final(self, status: Status, rank_local: bool = False) -> RunSummary:
        """Write the record of a run that ended (or stopped), synchronously; returns it."""
        summary = self.summary(status, rank_local=rank_local)
        if self.is_writer or rank_local:
            # the final record supersedes any snapshot still queued, and must not be overtaken
            self._writer.close(write_pending=False)
            self._persist(summary, self.records)
        return summary

    def _persist_state(self, state: _State) -> None:
        """The record writer's job: build the summary of ``state`` and write it."""
        self._persist(self._summary_of(state), state.records[: state.epochs])

    def _persist(self, summary: RunSummary, records: list[EpochRecord]) -> None:
        """Write the JSON record (atomically) and, at the end or every minute, the ledger row.
        ``records`` are the summary's epoch records, whose JSON each record keeps."""
        path = self.summary_path
        if summary.rank_local and self.is_distributed:
            path = path.with_name(f"nature_summary.rank{self.rank}.json")
        running = summary.status == "running"
        text = readable_json(summary.to_dict(),
                             {"epoch_records": [record.json_text for record in records]})
        atomic_write_text(path, text)
        if self._ledger is None or (
            running and time.monotonic() - self._ledger_written_s < LEDGER_PERIOD_S
        ):
            return
        if running:  # already off the training thread (the background writer)
            self._record_in_ledger(summary)
            return
        # A synced SQLite commit takes milliseconds: the final row is written by the process's
        # ledger thread, which the interpreter waits for at exit, so it is never lost.
        self._final_ledger_row = LEDGER_WORKER.submit(
            functools.partial(self._record_in_ledger, summary))

    def _record_in_ledger(self, summary: RunSummary) -> None:
        """Insert or update this run's ledger row (it appears with the first running record,
        or the final one); a ledger that fails is reported once and left off."""
        ledger = self._ledger
        if ledger is None:
            return
        try:
            ledger.record(
                self.run_id, self.config.project, self._started_at, status=summary.status,
                epochs=summary.epochs, energy_j=summary.energy_j, co2e_kg=summary.co2e_kg,
                ended=summary.status != "running",
            )
            self._ledger_written_s = time.monotonic()
        except NatureError as err:  # reported once: the ledger stays off for this run
            self._ledger = None
            log.warning("run ledger not updated, and off for the rest of this run: %s", err)

    def wait_for_ledger(self, timeout_s: float | None = None) -> None:
        """Block until the final ledger row is written (``stop``/``abort`` hand it to a thread)."""
        if self._final_ledger_row is not None:
            wait([self._final_ledger_row], timeout=timeout_s)

    # ------------------------------------------------------------------ stop
    def stop(self) -> RunSummary:
        """Close the last window outside epochs, write the final summary, stop the meters."""
        if self._stopped or not self._started:
            return self.summary()
        try:
            if self._epoch_start_s is not None:
                self.end_epoch()
            self._close_gap(self.reduce)
            self.status = "completed"
            return self._write_final("completed")
        finally:
            self._shutdown()

    def abort(self, error: BaseException | None = None) -> RunSummary:
        """Record the run as crashed or interrupted without any collective call; never raises."""
        status: Status = "interrupted" if isinstance(error, KeyboardInterrupt) else "crashed"
        try:
            if self._started and not self._stopped:
                if self._epoch_start_s is not None:
                    self._abort_open_epoch()
                self._close_gap(_identity)
            self.status = status
            return self._write_final(status, rank_local=self.is_distributed)
        except Exception as err:  # noqa: BLE001 - the original error must propagate, not ours
            log.error("could not write the partial energy record: %s", err)
            return self.summary(status)
        finally:
            self._shutdown()

    def _close_gap(self, reduce: Reducer) -> None:
        """Add the energy since the last boundary to A, summed over ranks by ``reduce``."""
        self._add_gap(self._take_delta())
        gap_j, gap_g = reduce([self._pending_gap_j, self._pending_gap_g])
        self._pending_gap_j = self._pending_gap_g = 0.0
        self.a_hw_j += gap_j
        self.a_hw_g += gap_g

    def _abort_open_epoch(self) -> None:
        """Record the interrupted epoch with local figures (no collective call)."""
        saved_reduce = self.reduce
        self.reduce = _identity
        try:
            self.end_epoch()
        finally:
            self.reduce = saved_reduce

    def _shutdown(self) -> None:
        self._stopped = True
        self._writer.close()
        if self._meter is not None:
            try:
                self._meter.stop()
            except Exception as err:  # noqa: BLE001 - stopping must not mask the run's outcome
                log.warning("energy meter did not stop cleanly: %s", err)
        if self._monitor is not None:
            self._monitor.close()

    def __enter__(self) -> "NatureTracker":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop()
        else:
            self.abort(exc)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """History to carry in a checkpoint: completed epochs, A, and an epoch cut short."""
        state: dict[str, Any] = {
            "version": 1,
            "run_id": self.run_id,
            "records": [record.shared_dict for record in self.records],
            "a_hw_j": self.a_hw_j + self._pending_gap_j,
            "a_hw_g": self.a_hw_g + self._pending_gap_g,
            "open_epoch": None,
        }
        if self._epoch_start_s is not None and self._meter is not None:
            energy_j = sum(
                max(r.energy_j - (self._last_reading[r.device].energy_j
                                  if r.device in self._last_reading else 0.0), 0.0)
                for r in self._meter.read()
            )
            state["open_epoch"] = {
                "epoch": self._epoch_index,
                "epoch_time_s": time.perf_counter() - self._epoch_start_s,
                "hardware_energy_j": energy_j,
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the totals of a checkpointed run; an epoch cut by the checkpoint is closed."""
        self.records = []
        self._epochs_energy_j = self._epochs_co2e_g = 0.0
        self._any_estimated = False
        for data in state.get("records", []):
            self._add_record(EpochRecord.from_dict(data))
        self.a_hw_j = float(state.get("a_hw_j", 0.0))
        self.a_hw_g = float(state.get("a_hw_g", 0.0))
        self._pending_gap_j = self._pending_gap_g = 0.0
        self._epoch_index = len(self.records)
        open_epoch = state.get("open_epoch")
        if open_epoch:
            intensity = self._last_intensity or resolve_provider(self.provider).intensity()
            if not self.grid_loss_source:
                self._resolve_grid_loss(intensity)
            terms = epoch_terms(
                epoch=int(open_epoch["epoch"]),
                hardware_energy_j=float(open_epoch["hardware_energy_j"]),
                epoch_time_s=float(open_epoch["epoch_time_s"]),
                pue=self.config.pue,
                grid_loss=self.grid_loss,
                carbon_intensity_g_per_kwh=intensity.g_per_kwh,
            )
            self._add_record(self._record(terms, carbon_source=intensity.source))
            self._epoch_index += 1


@dataclass(frozen=True)
class _State:
    """A run's figures at one moment, enough to build its summary later on another thread.

    ``records`` is the tracker's list itself (only ever appended to, or replaced whole), so
    its first ``epochs`` entries are the records of that moment.
    """

    status: Status
    rank_local: bool
    records: list[EpochRecord]
    epochs: int
    energy_j: float
    co2e_kg: float
    a_energy_j: float
    any_estimated: bool
    readings: tuple[DeviceEnergy, ...]
    intensity: CarbonIntensity | None
