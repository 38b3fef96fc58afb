"""``NatureTracker``: wires the meters, the carbon monitor, the accounting and the recorder.

Plain PyTorch::

    with NatureTracker(pue=1.2, carbon="DE", planned_epochs=10) as tracker:
        for epoch in range(10):
            with tracker.epoch():
                train_one_epoch()
            print(tracker.last_epoch.metrics())

Every integration (the Lightning callback, ...) drives the same object from its hooks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from nature_callback.accounting import Accounting, OpenEpoch
from nature_callback.carbon import CarbonMonitor, CarbonProvider, grid_loss_for, resolve_provider
from nature_callback.carbon.base import CarbonIntensity
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import (
    ConfigurationError,
    LedgerError,
    NatureError,
    NatureWarning,
    TerminatedBySignal,
)
from nature_callback.ledger import TRAINING_TIMEOUT_S, RunLedger
from nature_callback.meters._validate import check_gpus
from nature_callback.meters.base import DeviceEnergy, EnergyMeter, MeterGroup
from nature_callback.metric import JOULES_PER_KWH, co2e_g
from nature_callback.recorder import Recorder
from nature_callback.records import KINDS, EpochRecord, RunSummary
from nature_callback.run_files import FORMAT_VERSION, RunFiles, read_summary

log = logging.getLogger(__name__)

Reducer = Callable[[list[float]], list[float]]
"""Sums a vector of floats over every process of a distributed run (identity when alone)."""

Status = Literal["running", "completed", "crashed", "interrupted", "terminated"]


def _identity(values: list[float]) -> list[float]:
    return values


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a distributed run (defaults: a single process)."""

    rank: int = 0
    """Global rank."""
    world_size: int = 1
    is_writer: bool = True
    """Whether this process writes the records and the ledger row (global rank zero)."""
    reduce: Reducer = field(default=_identity, compare=False)
    """Sums a float vector over every rank."""

    @property
    def is_distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1


class Clock(Protocol):
    """Time source: a monotonic clock for durations, the wall clock for carbon lookups."""

    def monotonic_s(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wall_s(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    """``time.perf_counter`` and ``time.time``."""

    def monotonic_s(self) -> float:
        """Seconds on the performance counter."""
        return time.perf_counter()

    def wall_s(self) -> float:
        """``time.time()``."""
        return time.time()


def _check_gpus(gpus: str | list[int] | None) -> str | list[int] | None:
    """Validate ``gpus`` at construction: its form, and that each index is a visible GPU."""
    if gpus == "auto":
        return "auto"
    normalised = check_gpus(gpus, allow_none=True)
    if isinstance(normalised, tuple):
        import torch

        visible = torch.cuda.device_count()
        missing = [index for index in normalised if index >= visible]
        if missing:
            raise ConfigurationError(
                f"gpus={gpus!r} is invalid: this process sees {visible} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}), so "
                f"{missing} do not exist. Pass visible indices, \"auto\", \"visible\" or None."
            )
        return list(normalised)
    return normalised


def _cuda_device_in_use() -> list[int] | None:
    """The current CUDA device if this process has initialised CUDA (through torch), else
    None: a CPU-only loop is not charged for the GPUs of its node."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    return [torch.cuda.current_device()]


def _raise_terminated(signum: int, frame: Any) -> None:
    raise TerminatedBySignal(128 + signum)


def _status_of(error: BaseException | None) -> Status:
    """How a run that ended with ``error`` is recorded."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    # Lightning turns SIGTERM into its own SIGTERMException
    if isinstance(error, TerminatedBySignal) or type(error).__name__ == "SIGTERMException":
        return "terminated"
    return "crashed"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class NatureTracker:
    """Meters energy in epoch windows and between them, and records NATURE's terms."""

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
        gpus: str | list[int] | None = "auto",
        node_level: bool = True,
        distributed: Distributed | None = None,
        clock: Clock | None = None,
    ) -> None:
        config = NatureConfig(
            pue=pue, grid_loss=grid_loss, n_exp=n_exp, extra_energy_j=extra_energy_j,
            planned_epochs=planned_epochs, project=project,
            output_dir=output_dir,  # type: ignore[arg-type]
            ledger_path=ledger_path,  # type: ignore[arg-type]
            cpu_tdp_w=cpu_tdp_w, sample_interval_s=sample_interval_s,
        )
        self._init(config, carbon, meter, gpus, node_level, distributed, clock)

    @classmethod
    def from_config(
        cls, config: NatureConfig, *, carbon: CarbonProvider | float | str | None = None,
        meter: EnergyMeter | None = None, gpus: str | list[int] | None = "auto",
        node_level: bool = True, distributed: Distributed | None = None,
        clock: Clock | None = None,
    ) -> "NatureTracker":
        """A tracker for an already validated ``NatureConfig`` (what integrations use)."""
        tracker = cls.__new__(cls)
        tracker._init(config, carbon, meter, gpus, node_level, distributed, clock)
        return tracker

    def _init(self, config: NatureConfig, carbon: CarbonProvider | float | str | None,
              meter: EnergyMeter | None, gpus: str | list[int] | None, node_level: bool,
              distributed: Distributed | None, clock: Clock | None) -> None:
        self.config = config
        self.provider = resolve_provider(carbon)
        self.distributed = distributed or Distributed()
        self.clock: Clock = clock or SystemClock()
        self.run_id = uuid.uuid4().hex[:12]
        self.started_at = ""
        """ISO time (UTC) at which start() ran."""
        self.status: Status = "running"
        self.n_exp_source = "parameter"
        """Where N_exp came from: ``parameter``, ``ledger`` or ``fallback``."""
        self.grid_loss_source = ""
        self._meter_override = meter
        self._gpus = _check_gpus(gpus)
        self._node_level = node_level
        self._meter: EnergyMeter | None = None
        self._monitor: CarbonMonitor | None = None
        self._recorder: Recorder | None = None
        self._accounting: Accounting | None = None
        self._pending_state: dict[str, Any] | None = None
        """Checkpoint state loaded before ``start()``: applied once the grid loss is known."""
        self._last_reading: dict[str, DeviceEnergy] = {}
        """The latest reading of every device: the boundary of the open window."""
        self._first_intensity: CarbonIntensity | None = None
        self._last_intensity: CarbonIntensity | None = None
        self._boundary_wall_s = 0.0
        """Wall time of the last window boundary (carbon intensity is time resolved)."""
        self._epoch_start_s: float | None = None
        self._epoch_start_wall_s = 0.0
        self._output_dir: Path | None = None
        """The folder records go to, checked at ``start()`` (a fallback if not writable)."""
        self._file_suffix = ""
        """``.<run id>`` when the folder already holds another run's records."""
        self._previous_sigterm: Any = None
        """The SIGTERM handler this tracker replaced (restored when the run ends)."""
        self._cuda_devices: list[int] = []
        """CUDA devices synchronised at each boundary (those metered through NVML)."""
        self._gpus_pending = False
        """``gpus="auto"`` found no CUDA in use at start: epoch starts look again."""
        self._cut_epoch: OpenEpoch | None = None
        """An epoch a loaded checkpoint cut short, not yet recorded or continued."""
        self._continuing: OpenEpoch | None = None
        """The cut epoch that the open epoch window continues (added when it closes)."""
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "NatureTracker":
        """Start meters and the carbon monitor, write the first record; the window outside
        epochs opens now."""
        if self._started:
            return self
        self.started_at = _now_iso()
        self._meter = self._meter_override or self._build_meter()
        self._meter.start()
        self._monitor = CarbonMonitor(self.provider)
        self._monitor.start()
        intensity = self._first_intensity = self._last_intensity = self._monitor.current()
        grid_loss = self._resolve_grid_loss(intensity)
        ledger = self._open_ledger()
        self._mark_killed_runs(ledger)
        self._accounting = Accounting(
            pue=self.config.pue, grid_loss=grid_loss, n_exp=self._resolve_n_exp(ledger),
            extra_energy_j=self.config.extra_energy_j,
            planned_epochs=self.config.planned_epochs, start_g_per_kwh=intensity.g_per_kwh,
        )
        if self._pending_state is not None:
            self._warn_if_scaling_changed(self._pending_state)
            self._cut_epoch = self._accounting.load_state_dict(self._pending_state)
            self._pending_state = None
        self._last_reading = {reading.device: reading for reading in self._meter.read()}
        self._cuda_devices = self._metered_cuda_devices()
        self._boundary_wall_s = self.clock.wall_s()
        self._started, self._stopped, self.status = True, False, "running"
        self._handle_sigterm()
        if self.distributed.is_writer:
            self._output_dir = self._writable_output_dir()
            self._file_suffix = self._suffix_beside_other_runs()
            self._recorder = Recorder(self._files(), ledger)
            self._recorder.begin(self._header(), self.records, self.summary())
        return self

    def _build_meter(self) -> EnergyMeter:
        gpus = self._gpus
        if gpus == "auto":
            gpus = self._gpus = _cuda_device_in_use()
            self._gpus_pending = gpus is None
        return self._meters_for(gpus, node_level=self._node_level)

    def _meters_for(self, gpus: str | list[int] | None, node_level: bool) -> EnergyMeter:
        from nature_callback.meters.factory import build_meters

        return build_meters(gpus=gpus, node_level=node_level, cpu_tdp_w=self.config.cpu_tdp_w,
                            sample_interval_s=self.config.sample_interval_s)

    def _meter_late_cuda(self) -> None:
        """``gpus="auto"`` and CUDA was not in use at ``start()``: once it is (the model moved
        to the GPU after the tracker started), its device is metered from this boundary on."""
        devices = _cuda_device_in_use()
        if devices is None:
            return
        self._gpus_pending = False
        assert self._meter is not None
        gpu_meter = self._meters_for(devices, node_level=False)
        gpu_meter.start()
        self._meter = MeterGroup([self._meter, gpu_meter])
        self._gpus = devices
        self._last_reading.update({r.device: r for r in gpu_meter.read()})
        self._cuda_devices = self._metered_cuda_devices()

    def _resolve_grid_loss(self, intensity: CarbonIntensity) -> float:
        if self.config.grid_loss is not None:
            self.grid_loss_source = "user parameter grid_loss"
            return self.config.grid_loss
        loss = grid_loss_for(intensity)
        self.grid_loss_source = loss.source
        return loss.fraction

    def _open_ledger(self) -> RunLedger | None:
        if self.config.ledger_path is False or not self.distributed.is_writer:
            return None
        return RunLedger(self.config.ledger_path or None, timeout_s=TRAINING_TIMEOUT_S)

    @staticmethod
    def _mark_killed_runs(ledger: RunLedger | None) -> None:
        """Rows of this host left ``running`` by processes that are gone become ``killed``."""
        if ledger is None:
            return
        try:
            ledger.mark_killed()
        except LedgerError:
            pass  # reported by the recorder's first write, which meets the same error

    def _resolve_n_exp(self, ledger: RunLedger | None) -> int:
        """N_exp from the parameter, or from the runs the ledger holds (this one included)."""
        if self.config.n_exp != "ledger":
            return int(self.config.n_exp)
        if ledger is None:
            self.n_exp_source = "fallback"
            if self.distributed.is_writer:
                warnings.warn("n_exp='ledger' but the ledger is disabled (ledger_path=False): "
                              "N_exp = 1.", NatureWarning, stacklevel=3)
            return 1
        try:
            ledger.record(self.run_id, self.config.project, self.started_at, status="running",
                          epochs=0, energy_j=0.0, co2e_kg=0.0)
            self.n_exp_source = "ledger"
            return max(ledger.count(self.config.project), 1)
        except LedgerError as err:
            self.n_exp_source = "fallback"
            warnings.warn(f"N_exp = 1: the run ledger could not be counted: {err}",
                          NatureWarning, stacklevel=3)
            return 1

    def _metered_cuda_devices(self) -> list[int]:
        """The CUDA devices to synchronise at boundaries: the metered ones, where torch has
        initialised CUDA in this process."""
        torch = sys.modules.get("torch")
        if (torch is None or not any(r.kind == "gpu" for r in self._last_reading.values())
                or not torch.cuda.is_initialized()):
            return []
        if isinstance(self._gpus, list):
            return list(self._gpus)
        return [torch.cuda.current_device()]

    def _writable_output_dir(self) -> Path:
        """The configured folder if files can be made in it, else a folder of this run in the
        user data folder (with one warning naming both)."""
        folder = self.config.output_dir or Path.cwd()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
            return folder
        except OSError as err:
            import platformdirs

            fallback = Path(platformdirs.user_data_dir("nature-callback")) / "runs" / self.run_id
            warnings.warn(f"cannot write the run's records in {folder} ({err.strerror or err}); "
                          f"writing them to {fallback} instead. Set output_dir= to a writable "
                          "folder.", NatureWarning, stacklevel=4)
            return fallback

    def _suffix_beside_other_runs(self) -> str:
        """``.<run id>`` if the folder already holds another run's records (each run keeps its
        own files, with one warning), else no suffix."""
        existing = self._files().summary
        if not existing.exists():
            return ""
        try:
            other_id = read_summary(existing).get("run_id")
        except NatureError:
            other_id = None
        if other_id == self.run_id:  # this run, resumed
            return ""
        warnings.warn(f"{existing.parent} already holds the records of run {other_id}; this run "
                      f"({self.run_id}) writes its own files beside them "
                      f"(nature_summary.{self.run_id}.json). Give each run its own output_dir.",
                      NatureWarning, stacklevel=4)
        return f".{self.run_id}"

    def _handle_sigterm(self) -> None:
        """Where nothing else handles SIGTERM, turn it into ``TerminatedBySignal`` (a
        ``SystemExit``) so that the run's records say ``terminated`` and are written."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGTERM) is _raise_terminated):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _files(self, rank_local: bool = False) -> RunFiles:
        folder = self._output_dir or self.config.output_dir or Path.cwd()
        suffix = f".rank{self.distributed.rank}" if rank_local else self._file_suffix
        return RunFiles.in_folder(folder, suffix)

    def _header(self) -> dict[str, Any]:
        intensity = self._last_intensity
        return {
            "format": FORMAT_VERSION, "run_id": self.run_id, "project": self.config.project,
            "started_at": self.started_at, "host": socket.gethostname(), "pid": os.getpid(),
            "config": self.config.to_dict(), "n_exp": self.n_exp,
            "n_exp_source": self.n_exp_source, "grid_loss": self.grid_loss,
            "grid_loss_source": self.grid_loss_source,
            "carbon": {"source": intensity.source if intensity else "",
                       "zone": intensity.zone if intensity else "",
                       **self.provider.describe()},
            "meters": self._meters(),
            "world_size": self.distributed.world_size,
        }

    def _meters(self) -> list[dict[str, Any]]:
        return [{"device": d.device, "kind": d.kind, "description": d.description,
                 "source": d.source, "ok": d.ok} for d in self._last_reading.values()]

    # ------------------------------------------------------------------ windows
    def _synchronize_cuda(self) -> None:
        """Wait for queued GPU work, so that it lands in the window it was queued in."""
        if self._cuda_devices:
            torch = sys.modules["torch"]
            for index in self._cuda_devices:
                torch.cuda.synchronize(index)

    def _take_delta(self) -> dict[str, float]:
        """Energy per device since the previous boundary; moves the boundary to now."""
        assert self._meter is not None
        self._synchronize_cuda()
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

    def _add_gap(self) -> None:
        """Add the energy metered since the last boundary to A (pending the DDP reduction)."""
        assert self._accounting is not None
        gap_j = sum(self._take_delta().values())
        now_wall_s = self.clock.wall_s()
        intensity = self._intensity_between(self._boundary_wall_s, now_wall_s)
        self._boundary_wall_s = now_wall_s
        self._accounting.add_gap(gap_j, intensity.g_per_kwh)

    def start_epoch(self) -> None:
        """Close the window outside epochs and open an epoch window."""
        if not self._started:
            self.start()
        if self._epoch_start_s is not None:
            raise NatureError("start_epoch() called twice without end_epoch() in between")
        if self._gpus_pending:
            self._meter_late_cuda()
        self._record_cut_epoch()
        self._add_gap()
        self._epoch_start_s = self.clock.monotonic_s()
        self._epoch_start_wall_s = self._boundary_wall_s

    @property
    def cut_epoch(self) -> OpenEpoch | None:
        """The epoch a loaded checkpoint cut short, until it is recorded or continued."""
        return self._cut_epoch

    def continue_cut_epoch(self) -> None:
        """Open an epoch window that continues the epoch a checkpoint cut short (a resume in
        the middle of an epoch): when it closes, the record covers both parts."""
        self._continuing, self._cut_epoch = self._cut_epoch, None
        self.start_epoch()

    def _record_cut_epoch(self) -> None:
        """Record a cut epoch that was not continued, as it was measured."""
        cut, self._cut_epoch = self._cut_epoch, None
        if cut is None or self._accounting is None or self._last_intensity is None:
            return
        record = self._accounting.close_open_epoch(cut, self._last_intensity)
        if self._recorder is not None:
            self._recorder.append(record)

    @property
    def epoch_is_open(self) -> bool:
        """Whether an epoch window is open."""
        return self._epoch_start_s is not None

    def end_epoch(self) -> EpochRecord:
        """Close the epoch window, compute its terms and the run's totals, append its line."""
        record = self._close_epoch(self.distributed.reduce)
        if self._recorder is not None:
            self._recorder.append(record)
            if self._recorder.row_pending:  # the ledger was locked: try again now
                self._recorder.write_ledger(self.summary())
        return record

    def _close_epoch(self, reduce: Reducer) -> EpochRecord:
        if self._epoch_start_s is None:
            raise NatureError("end_epoch() called without start_epoch()")
        assert self._accounting is not None
        deltas = self._take_delta()
        epoch_time_s = self.clock.monotonic_s() - self._epoch_start_s
        self._epoch_start_s = None
        self._boundary_wall_s = self.clock.wall_s()
        kind_j = {kind: 0.0 for kind in KINDS}
        for device, energy_j in deltas.items():
            kind_j[self._last_reading[device].kind] += energy_j
        estimated = sum(1 for d in self._last_reading.values() if d.source == "estimated")
        vector = reduce(self._accounting.epoch_vector(kind_j, estimated))
        continued, self._continuing = self._continuing, None
        if continued is not None:  # the part before the checkpoint (carried once, not reduced)
            epoch_time_s += continued.epoch_time_s
            for index, kind in enumerate(KINDS):
                vector[index] += continued.energy_by_kind_j.get(kind, 0.0)
        local = (not self.distributed.is_distributed and epoch_time_s > 0
                 and continued is None)
        return self._accounting.close_epoch(
            vector, epoch_time_s=epoch_time_s,
            intensity=self._intensity_between(self._epoch_start_wall_s, self._boundary_wall_s),
            power_by_device_w={device: j / epoch_time_s for device, j in deltas.items()}
            if local else None,
            metered_kinds=frozenset(d.kind for d in self._last_reading.values()),
        )

    @contextlib.contextmanager
    def epoch(self) -> Iterator["NatureTracker"]:
        """Context manager around one epoch; the epoch is recorded even if its body raises."""
        self.start_epoch()
        try:
            yield self
        finally:
            self.end_epoch()

    # ------------------------------------------------------------------ figures
    @property
    def records(self) -> list[EpochRecord]:
        """The epoch records so far."""
        return self._accounting.records if self._accounting else []

    @property
    def last_epoch(self) -> EpochRecord | None:
        """The most recent epoch record."""
        return self.records[-1] if self.records else None

    @property
    def n_exp(self) -> int:
        """N_exp in use (1 before ``start()`` with ``n_exp="ledger"``)."""
        if self._accounting is not None:
            return self._accounting.n_exp
        return 1 if self.config.n_exp == "ledger" else int(self.config.n_exp)

    @property
    def grid_loss(self) -> float:
        """λ in use (0 before ``start()`` unless given)."""
        if self._accounting is not None:
            return self._accounting.grid_loss
        return self.config.grid_loss or 0.0

    @property
    def a_energy_j(self) -> float:
        """A: energy outside epochs, scaled by PUE and grid loss, plus extra_energy_j."""
        return self._accounting.a_energy_j if self._accounting else self.config.extra_energy_j

    @property
    def energy_j(self) -> float:
        """The run's bracket so far: A + Σ epoch energy (J)."""
        return self._accounting.energy_j if self._accounting else self.config.extra_energy_j

    @property
    def co2e_kg(self) -> float:
        """The run's carbon so far (kg CO2e), A included."""
        return self._accounting.co2e_kg if self._accounting else 0.0

    @property
    def summary_path(self) -> Path:
        """Where ``nature_summary.json`` is written."""
        return self._files().summary

    @property
    def epochs_path(self) -> Path:
        """Where ``nature_epochs.jsonl`` is written."""
        return self._files().epochs

    def summary(self, status: Status | None = None, rank_local: bool = False) -> RunSummary:
        """The run so far."""
        intensity = self._last_intensity
        energy_j, n_exp = self.energy_j, self.n_exp
        any_estimated = self._accounting.any_estimated if self._accounting else False
        return RunSummary(
            run_id=self.run_id, project=self.config.project, status=status or self.status,
            started_at=self.started_at, updated_at=_now_iso(), n_exp=n_exp,
            n_exp_source=self.n_exp_source, epochs=len(self.records),
            a_energy_j=self.a_energy_j, energy_j=energy_j, co2e_kg=self.co2e_kg,
            nature_energy_j=n_exp * energy_j, nature_co2e_kg=n_exp * self.co2e_kg,
            nature_energy_kwh=n_exp * energy_j / JOULES_PER_KWH,
            pue=self.config.pue, grid_loss=self.grid_loss,
            grid_loss_source=self.grid_loss_source,
            carbon_source=intensity.source if intensity else "",
            carbon_zone=intensity.zone if intensity else "",
            meters=self._meters(),
            estimated=any_estimated or any(
                d.source == "estimated" for d in self._last_reading.values()),
            rank_local=rank_local, epochs_file=self._files(rank_local).epochs.name,
        )

    def hyperparameters(self) -> dict[str, Any]:
        """What a logger records once per run: PUE, grid loss, sources of every figure."""
        intensity = self._last_intensity
        params: dict[str, Any] = {
            "nature/pue": self.config.pue,
            "nature/grid_loss": self.grid_loss,
            "nature/grid_loss_source": self.grid_loss_source,
            "nature/n_exp": self.n_exp,
            "nature/n_exp_source": self.n_exp_source,
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

    # ------------------------------------------------------------------ stop
    def stop(self) -> RunSummary:
        """Close the last window outside epochs, write the final records, stop the meters."""
        if self._stopped or not self._started:
            return self.summary()
        try:
            if self._epoch_start_s is not None:
                self.end_epoch()
            self._close_gap(self.distributed.reduce)
            self.status = "completed"
            return self._write_final()
        finally:
            self._shutdown()

    def abort(self, error: BaseException | None = None) -> RunSummary:
        """Record the run as crashed or interrupted without any collective call; never raises."""
        status = _status_of(error)
        try:
            if self._started and not self._stopped:
                if self._epoch_start_s is not None:
                    record = self._close_epoch(_identity)
                    if self._recorder is not None:
                        self._recorder.append(record)
                self._close_gap(_identity)
            self.status = status
            return self._write_final(rank_local=self.distributed.is_distributed)
        except Exception as err:  # noqa: BLE001 - the original error must propagate, not ours
            log.error("could not write the partial energy record: %s", err)
            return self.summary(status)
        finally:
            self._shutdown()

    def _close_gap(self, reduce: Reducer) -> None:
        """Add the energy since the last boundary to A, summed over ranks by ``reduce``."""
        assert self._accounting is not None
        self._record_cut_epoch()
        self._add_gap()
        self._accounting.commit_gap(reduce(self._accounting.take_gap_vector()))

    def _write_final(self, rank_local: bool = False) -> RunSummary:
        """Write the record of a run that ended; a rank other than the writer writes its own
        files (rank-local figures) when the run was cut short."""
        summary = self.summary(self.status, rank_local=rank_local)
        if self._recorder is not None:
            self._recorder.write_summary(summary)
        elif rank_local and self._started:
            recorder = Recorder(self._files(rank_local=True), ledger=None)
            recorder.begin(self._header(), self.records, summary)
            recorder.close()
        return summary

    def _shutdown(self) -> None:
        self._stopped = True
        self._restore_sigterm()
        if self._recorder is not None:
            self._recorder.close()
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
        """History to carry in a checkpoint: completed epochs, A so far (the open window
        outside epochs included), and an epoch cut short."""
        if self._accounting is None:
            return dict(self._pending_state or {})
        by_kind_j = self._energy_since_boundary_by_kind_j()
        energy_j = sum(by_kind_j.values())
        open_epoch = self._cut_epoch
        if self._epoch_start_s is not None:
            before = self._continuing or OpenEpoch(len(self.records), 0.0, {})
            open_epoch = OpenEpoch(
                epoch=len(self.records),
                epoch_time_s=before.epoch_time_s + self.clock.monotonic_s() - self._epoch_start_s,
                energy_by_kind_j={kind: by_kind_j.get(kind, 0.0)
                                  + before.energy_by_kind_j.get(kind, 0.0) for kind in KINDS})
        state = self._accounting.state_dict(open_epoch)
        if self._epoch_start_s is None and self._last_intensity is not None:
            state["a_hw_j"] += energy_j
            state["a_hw_g"] += co2e_g(energy_j, self._last_intensity.g_per_kwh)
        return {"run_id": self.run_id, **state}

    def _energy_since_boundary_by_kind_j(self) -> dict[str, float]:
        """Hardware energy metered since the last boundary per device kind, without moving
        the boundary."""
        by_kind_j: dict[str, float] = {}
        if self._meter is None:
            return by_kind_j
        for reading in self._meter.read():
            previous = self._last_reading.get(reading.device)
            delta_j = max(reading.energy_j - (previous.energy_j if previous else 0.0), 0.0)
            by_kind_j[reading.kind] = by_kind_j.get(reading.kind, 0.0) + delta_j
        return by_kind_j

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a checkpointed run: its run id (and ledger row), its totals; an epoch cut
        by the checkpoint is closed. Before ``start()`` the state is applied when it starts."""
        previous_id = state.get("run_id")
        if self._accounting is None:
            self._pending_state = dict(state)
            if isinstance(previous_id, str) and previous_id:
                self.run_id = previous_id
            return
        self._warn_if_scaling_changed(state)
        self._continuing = None
        self._cut_epoch = self._accounting.load_state_dict(state)
        if isinstance(previous_id, str) and previous_id and previous_id != self.run_id:
            self._continue_run(previous_id)
        if self._recorder is not None:  # the epochs file restarts with the carried epochs
            self._retarget_files()
            self._recorder.begin(self._header(), self.records, self.summary())

    def _retarget_files(self) -> None:
        """After the run id changed, the files follow it; those started under the old id go."""
        assert self._recorder is not None
        self._recorder.close()
        for path in (self._recorder.files.summary, self._recorder.files.epochs):
            path.unlink(missing_ok=True)
        self._file_suffix = ""
        self._file_suffix = self._suffix_beside_other_runs()
        self._recorder.files = self._files()

    def _continue_run(self, previous_id: str) -> None:
        """Take over the checkpointed run's id: the row this start inserted goes, the earlier
        row is updated from now on (a resume is not a new experiment)."""
        ledger = self._recorder.ledger if self._recorder is not None else None
        started_id, self.run_id = self.run_id, previous_id
        if ledger is None:
            return
        try:
            ledger.delete(started_id)
            if self.config.n_exp == "ledger":
                ledger.record(self.run_id, self.config.project, self.started_at,
                              status="running", epochs=len(self.records),
                              energy_j=self.energy_j, co2e_kg=self.co2e_kg)
                assert self._accounting is not None
                self._accounting.n_exp = max(ledger.count(self.config.project), 1)
        except LedgerError as err:
            warnings.warn(f"the run ledger could not be updated for the resumed run: {err}",
                          NatureWarning, stacklevel=4)

    def _warn_if_scaling_changed(self, state: dict[str, Any]) -> None:
        """A resume with another PUE or grid loss: earlier epochs keep their figures."""
        changed = [f"{name} {state[name]} → {value}" for name, value in
                   (("pue", self.config.pue), ("grid_loss", self.grid_loss))
                   if name in state and abs(float(state[name]) - value) > 1e-12]
        if changed:
            warnings.warn(f"resumed with other settings ({', '.join(changed)}): each epoch "
                          "record keeps the values it was computed with; A is scaled with the "
                          "new ones.", NatureWarning, stacklevel=4)
