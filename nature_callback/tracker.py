"""``NatureTracker``: wires the meters, the carbon monitor, the accounting and the recorder.

Plain PyTorch::

    with NatureTracker(pue=1.2, carbon="DE", planned_epochs=10) as tracker:
        for epoch in range(10):
            with tracker.epoch():
                train_one_epoch()
            with tracker.window("validation"):
                evaluate()
            print(tracker.last_epoch.metrics())

Every integration (the Lightning callback, ...) drives the same object from its hooks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from nature_callback.accounting import Accounting, DeviceCounts, OpenEpoch
from nature_callback.carbon import CarbonMonitor, CarbonProvider, grid_loss_for, resolve_provider
from nature_callback.carbon.base import CarbonIntensity
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.exceptions import ConfigurationError, LedgerError, NatureError, NatureWarning
from nature_callback.gpu_choice import GpuChoice, check_tracker_gpus, cuda_devices_in_use
from nature_callback.ledger import TRAINING_TIMEOUT_S, RunLedger
from nature_callback.meters.base import EnergyMeter
from nature_callback.metric import JOULES_PER_KWH, co2e_g
from nature_callback.output_folder import suffix_beside_other_runs, writable_output_dir
from nature_callback.recorder import Recorder
from nature_callback.records import (
    KINDS,
    WINDOW_NAME_CHARACTERS,
    EpochRecord,
    RunSummary,
    StepRecord,
    WindowRecord,
)
from nature_callback.run_files import FORMAT_VERSION, RunFiles
from nature_callback.runtime import (
    Clock,
    Distributed,
    Reducer,
    SigtermGuard,
    Status,
    SystemClock,
    identity,
    now_iso,
    status_of,
)
from nature_callback.spans import BoundaryReader, Span

__all__ = ["Clock", "Distributed", "NatureTracker", "SystemClock"]

log = logging.getLogger(__name__)


def _meter_entry(reading: dict[str, Any]) -> dict[str, Any]:
    """What the records say of a meter: a ``DeviceEnergy.to_dict()`` without its figures."""
    return {key: reading[key] for key in ("device", "kind", "description", "source", "ok")}


class NatureTracker:
    """Meters energy in epochs, named windows and the time between them, and records NATURE's
    terms."""

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
        gpus: GpuChoice = "auto",
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
        meter: EnergyMeter | None = None, gpus: GpuChoice = "auto", node_level: bool = True,
        distributed: Distributed | None = None, clock: Clock | None = None,
    ) -> "NatureTracker":
        """A tracker for an already validated ``NatureConfig`` (what integrations use)."""
        tracker = cls.__new__(cls)
        tracker._init(config, carbon, meter, gpus, node_level, distributed, clock)
        return tracker

    def _init(self, config: NatureConfig, carbon: CarbonProvider | float | str | None,
              meter: EnergyMeter | None, gpus: GpuChoice, node_level: bool,
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
        self.params: dict[str, Any] = {}
        """The run's hyperparameters (set by integrations), kept with its ledger row."""
        self._meter_override = meter
        self._gpus = check_tracker_gpus(gpus)
        self._watch_cuda = False
        """``gpus="auto"``: epoch and window starts meter the CUDA devices this process has
        started using since."""
        self._node_level = node_level
        self._reader: BoundaryReader | None = None
        self._monitor: CarbonMonitor | None = None
        self._recorder: Recorder | None = None
        self._accounting: Accounting | None = None
        self._pending_state: dict[str, Any] | None = None
        """Checkpoint state loaded before ``start()``: applied once the grid loss is known."""
        self._first_intensity: CarbonIntensity | None = None
        self._last_intensity: CarbonIntensity | None = None
        self._boundary_wall_s = 0.0
        """Wall time of the last boundary (carbon intensity is time resolved)."""
        self._epoch: Span | None = None
        self._window: Span | None = None
        self._cut_epoch: OpenEpoch | None = None
        """An epoch a loaded checkpoint cut short, not yet recorded or continued."""
        self._output_dir: Path | None = None
        """The folder records go to, checked at ``start()`` (a fallback if not writable)."""
        self._file_suffix = ""
        """``.<run id>`` when the folder already holds another run's records."""
        self._sigterm = SigtermGuard()
        self._all_meters: list[dict[str, Any]] | None = None
        """Every rank's meters (gathered at start under DDP)."""
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "NatureTracker":
        """Start meters and the carbon monitor, write the first record; the time outside
        epochs and named windows (A) is measured from now."""
        if self._started:
            return self
        self.started_at = now_iso()
        meter = self._meter_override or self._build_meter()
        meter.start()
        self._monitor = CarbonMonitor(self.provider)
        self._monitor.start()
        intensity = self._first_intensity = self._last_intensity = self._monitor.current()
        grid_loss = self._resolve_grid_loss(intensity)
        ledger = self._open_ledger()
        self._accounting = Accounting(
            pue=self.config.pue, grid_loss=grid_loss, n_exp=self._resolve_n_exp(ledger),
            extra_energy_j=self.config.extra_energy_j,
            planned_epochs=self.config.planned_epochs, start_g_per_kwh=intensity.g_per_kwh,
        )
        if self._pending_state is not None:
            self._warn_if_scaling_changed(self._pending_state)
            self._cut_epoch = self._accounting.load_state_dict(self._pending_state)
            self._pending_state = None
        self._reader = BoundaryReader(meter, [])
        self._share_devices_with_other_ranks()
        self._reader.cuda_devices = self._metered_cuda_devices()
        self._boundary_wall_s = self.clock.wall_s()
        self._started, self._stopped, self.status = True, False, "running"
        self._sigterm.install()
        if self.distributed.is_writer:
            folder = self.config.output_dir or Path.cwd()
            self._output_dir = writable_output_dir(folder, self.run_id)
            self._file_suffix = suffix_beside_other_runs(self._output_dir, self.run_id)
            self._recorder = Recorder(self._files(), ledger)
            self._recorder.begin(self._header(), self._carried_records(), self.summary())
        return self

    def _build_meter(self) -> EnergyMeter:
        gpus = self._gpus
        if gpus == "auto":
            gpus = self._gpus = cuda_devices_in_use()
            self._watch_cuda = True
        return self._meters_for(gpus, node_level=self._node_level)

    def _meters_for(self, gpus: GpuChoice, node_level: bool) -> EnergyMeter:
        from nature_callback.meters.factory import build_meters

        return build_meters(gpus=gpus, node_level=node_level,  # type: ignore[arg-type]
                            cpu_tdp_w=self.config.cpu_tdp_w,
                            sample_interval_s=self.config.sample_interval_s,
                            exclude_pids=self.distributed.local_peer_pids)

    def _meter_new_cuda_devices(self) -> None:
        """``gpus="auto"``: a CUDA device this process has started using since the last look
        (the model moved to the GPU after the tracker started, ``nn.DataParallel``'s replicas,
        a model spread over GPUs) is metered from this boundary on, by this process."""
        metered = self._gpus if isinstance(self._gpus, list) else []
        new = [device for device in cuda_devices_in_use() or [] if device not in metered]
        if not new or self._reader is None:
            return
        gpu_meter = self._meters_for(new, node_level=False)
        gpu_meter.start()
        self._reader.add(gpu_meter)
        self._gpus = sorted({*metered, *new})
        self._reader.cuda_devices = self._metered_cuda_devices()

    def _share_devices_with_other_ranks(self) -> None:
        """Under DDP: a GPU that several ranks see (same NVML UUID) is metered by the lowest
        of them only; every rank's meters are listed in the record."""
        gather = self.distributed.gather
        assert self._reader is not None
        if gather is None:
            return
        mine = [r.to_dict() for r in self._reader.readings.values()]
        everyone = gather(mine)
        seen: dict[str, int] = {}
        for rank, meters in enumerate(everyone):
            for meter in meters:
                if meter.get("uuid"):
                    seen.setdefault(meter["uuid"], rank)
        shared = {meter["device"] for meter in mine if meter.get("uuid")
                  and seen[meter["uuid"]] < self.distributed.rank}
        self._reader.skip(shared)
        self._all_meters = [
            {"rank": rank, **_meter_entry(meter),
             "metered_by_rank": seen.get(meter.get("uuid") or "", rank)}
            for rank, meters in enumerate(everyone) for meter in meters]

    def _metered_cuda_devices(self) -> list[int]:
        """The CUDA devices to synchronise at boundaries: the metered ones, where torch has
        initialised CUDA in this process."""
        torch = sys.modules.get("torch")
        readings = self._reader.readings.values() if self._reader else ()
        if (torch is None
                or not any(r.kind == "gpu" and r.source != "unmetered" for r in readings)
                or not torch.cuda.is_initialized()):
            return []
        if isinstance(self._gpus, list):
            return list(self._gpus)
        return [torch.cuda.current_device()]

    def _resolve_grid_loss(self, intensity: CarbonIntensity) -> float:
        if self.config.grid_loss is not None:
            self.grid_loss_source = "user parameter grid_loss"
            return self.config.grid_loss
        loss = grid_loss_for(intensity)
        self.grid_loss_source = loss.source
        return loss.fraction

    def _open_ledger(self) -> RunLedger | None:
        """The run ledger (writer only); rows left ``running`` on this host by processes that
        are gone are marked ``killed`` first."""
        if self.config.ledger_path is False or not self.distributed.is_writer:
            return None
        ledger = RunLedger(self.config.ledger_path or None, timeout_s=TRAINING_TIMEOUT_S)
        with contextlib.suppress(LedgerError):  # the recorder's first write reports it
            ledger.mark_killed()
        return ledger

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
        """The meters of the run: every rank's under DDP (as gathered at start), else this
        process's with their current state."""
        if self._all_meters is not None:
            return self._all_meters
        readings = self._reader.readings.values() if self._reader else ()
        return [_meter_entry(d.to_dict()) for d in readings]

    def _carried_records(self) -> list[EpochRecord | WindowRecord]:
        """The records a resumed run carries, for the start of its epochs file."""
        if self._accounting is None:
            return []
        return [*self._accounting.window_records, *self._accounting.records]

    # ------------------------------------------------------------------ boundaries
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

    def _charge(self) -> float:
        """A boundary: the energy since the last one goes to the named window that is open,
        else to the running epoch, else to A (pending the reduction over ranks). Returns the
        monotonic time of the boundary."""
        assert self._reader is not None and self._accounting is not None
        deltas = self._reader.take()
        now_s, now_wall_s = self.clock.monotonic_s(), self.clock.wall_s()
        span = self._window or (self._epoch if self._epoch and self._epoch.running else None)
        if span is not None:
            span.charge(deltas, self._reader.readings)
        else:
            intensity = self._intensity_between(self._boundary_wall_s, now_wall_s)
            self._accounting.add_gap(sum(deltas.values()), intensity.g_per_kwh)
        self._boundary_wall_s = now_wall_s
        return now_s

    def _device_counts(self) -> DeviceCounts:
        assert self._reader is not None
        readings = [d for d in self._reader.readings.values() if d.source != "unmetered"]
        return DeviceCounts(estimated=sum(1 for d in readings if d.source == "estimated"),
                            metered=sum(1 for d in readings if d.ok),
                            failed=sum(1 for d in readings if not d.ok))

    def _append(self, record: EpochRecord | WindowRecord | StepRecord) -> None:
        """Write a record's line; a ledger row that met a lock is tried again now."""
        if self._recorder is not None:
            self._recorder.append(record)
            if self._recorder.row_pending and not isinstance(record, StepRecord):
                self._recorder.write_ledger(self.summary())

    # ------------------------------------------------------------------ epochs
    def start_epoch(self) -> None:
        """Open an epoch window (the time before it goes to A)."""
        if not self._started:
            self.start()
        if self._epoch is not None:
            raise NatureError("start_epoch() called twice without end_epoch() in between")
        if self._watch_cuda:
            self._meter_new_cuda_devices()
        self._record_cut_epoch()
        self._open_epoch(carried=None)

    def _open_epoch(self, carried: OpenEpoch | None) -> None:
        now_s = self._charge()
        self._epoch = Span("epoch", start_wall_s=self._boundary_wall_s, part_start_s=now_s,
                           carried=carried)

    @property
    def epoch_is_open(self) -> bool:
        """Whether an epoch window is open."""
        return self._epoch is not None

    @property
    def cut_epoch(self) -> OpenEpoch | None:
        """The epoch a loaded checkpoint cut short, until it is recorded or continued."""
        return self._cut_epoch

    def continue_cut_epoch(self) -> None:
        """Open an epoch window that continues the epoch a checkpoint cut short (a resume in
        the middle of an epoch): when it closes, its record covers both parts."""
        if self._epoch is not None:
            raise NatureError("continue_cut_epoch() called with an epoch open")
        cut, self._cut_epoch = self._cut_epoch, None
        self._open_epoch(carried=cut)

    def _record_cut_epoch(self) -> None:
        """Record a cut epoch that was not continued, as it was measured."""
        cut, self._cut_epoch = self._cut_epoch, None
        if cut is not None and self._accounting is not None and self._last_intensity:
            with self._sigterm.critical():
                self._append(self._accounting.close_open_epoch(cut, self._last_intensity))

    def end_epoch(self) -> EpochRecord:
        """Close the epoch window (and a named window still open inside it), compute its terms
        and the run's totals, append its line."""
        if self._epoch is None:
            raise NatureError("end_epoch() called without start_epoch()")
        if self._window is not None:
            self.end_window()
        with self._sigterm.critical():  # the totals and the file stay in step
            record = self._close_epoch(self.distributed.reduce)
            self._append(record)
        return record

    def _close_epoch(self, reduce: Reducer) -> EpochRecord:
        assert self._epoch is not None and self._accounting is not None
        now_s = self._charge()
        epoch, self._epoch = self._epoch, None
        epoch.pause(now_s)
        vector = reduce(self._accounting.epoch_vector(epoch.kind_j, self._device_counts()))
        epoch_time_s = epoch.time_s
        if epoch.carried is not None:  # measured before the checkpoint: added once, not reduced
            epoch_time_s += epoch.carried.epoch_time_s
            for index, kind in enumerate(KINDS):
                vector[index] += epoch.carried.energy_by_kind_j.get(kind, 0.0)
        return self._accounting.close_epoch(
            vector, epoch_time_s=epoch_time_s,
            intensity=self._intensity_between(epoch.start_wall_s, self._boundary_wall_s),
            power_by_device_w=self._power_by_device_w(epoch, epoch_time_s)
            if epoch.carried is None else None,
            metered_kinds=self._metered_kinds())

    def _power_by_device_w(self, span: Span, time_s: float) -> dict[str, float] | None:
        """Mean power of each local device over ``span``; None under DDP (a rank's own devices
        are not the run's) or for an empty span."""
        if self.distributed.is_distributed or time_s <= 0:
            return None
        return {device: j / time_s for device, j in span.device_j.items()}

    def _metered_kinds(self) -> frozenset[str]:
        """The device kinds something meters (a metered GPU drawing 0 W still shows)."""
        assert self._reader is not None
        return frozenset(d.kind for d in self._reader.readings.values()
                         if d.source != "unmetered")

    @contextlib.contextmanager
    def epoch(self) -> Iterator["NatureTracker"]:
        """Context manager around one epoch; the epoch is recorded even if its body raises."""
        self.start_epoch()
        try:
            yield self
        finally:
            self.end_epoch()

    # ------------------------------------------------------------------ named windows
    def start_window(self, name: str) -> None:
        """Open a named window (validation, evaluation, inference, ...): its energy is
        recorded under its name, not in A or in the epoch it interrupts (which pauses)."""
        if not name or not set(name) <= WINDOW_NAME_CHARACTERS:
            raise ConfigurationError(
                f"window name {name!r} is invalid: use lower-case letters, digits and "
                "underscores (it becomes part of metric names, e.g. nature/validation_energy_j).")
        if not self._started:
            self.start()
        if self._window is not None:
            raise NatureError(f"start_window({name!r}) called while window "
                              f"{self._window.name!r} is open: close it first")
        if self._watch_cuda:
            self._meter_new_cuda_devices()
        now_s = self._charge()
        if self._epoch is not None:
            self._epoch.pause(now_s)
        self._window = Span(name, start_wall_s=self._boundary_wall_s, part_start_s=now_s)

    @property
    def window_is_open(self) -> bool:
        """Whether a named window is open."""
        return self._window is not None

    def end_window(self) -> WindowRecord:
        """Close the named window; an epoch it interrupted goes on."""
        if self._window is None:
            raise NatureError("end_window() called without start_window()")
        with self._sigterm.critical():
            record = self._close_window(self.distributed.reduce)
            self._append(record)
        return record

    def _close_window(self, reduce: Reducer) -> WindowRecord:
        assert self._window is not None and self._accounting is not None
        now_s = self._charge()
        window, self._window = self._window, None
        window.pause(now_s)
        vector = reduce(self._accounting.epoch_vector(window.kind_j, self._device_counts()))
        if self._epoch is not None:
            self._epoch.resume(now_s)
        return self._accounting.close_window(
            window.name, vector, window_time_s=window.time_s,
            intensity=self._intensity_between(window.start_wall_s, self._boundary_wall_s),
            power_by_device_w=self._power_by_device_w(window, window.time_s),
            metered_kinds=self._metered_kinds())

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator["NatureTracker"]:
        """Context manager around a named window; recorded even if its body raises."""
        self.start_window(name)
        try:
            yield self
        finally:
            self.end_window()

    # ------------------------------------------------------------------ steps
    def sample(self) -> None:
        """Read the meters now without a boundary: what is sampled at reads (the resident
        memory behind the DRAM estimate, the process tree) gets a point between boundaries.
        For long windows whose processes come and go (``nature run``); local, not collective."""
        if self._reader is not None and not self._stopped:
            self._reader.peek()

    def step(self, step: int) -> StepRecord:
        """The run's figures now, part-way through the open epoch (a collective call under
        DDP); appended to the epochs file as a ``step`` line. The boundary does not move."""
        if self._epoch is None:
            raise NatureError("step() called outside an epoch")
        assert self._reader is not None and self._accounting is not None
        kind_j = dict(self._epoch.kind_j)
        if self._epoch.running and self._window is None:
            for kind, energy_j in self._reader.by_kind(self._reader.peek()).items():
                kind_j[kind] += energy_j
        vector = self.distributed.reduce(
            [sum(kind_j.values()), *self._accounting.pending_gap_vector()])
        now_s, now_wall_s = self.clock.monotonic_s(), self.clock.wall_s()
        record = self._accounting.step_record(
            step=step, hardware_j=vector[0], gap_vector=vector[1:],
            epoch_time_s=self._epoch.elapsed_s(now_s),
            intensity=self._intensity_between(self._epoch.start_wall_s, now_wall_s))
        self._append(record)
        return record

    # ------------------------------------------------------------------ figures
    @property
    def records(self) -> list[EpochRecord]:
        """The epoch records so far."""
        return self._accounting.records if self._accounting else []

    @property
    def window_records(self) -> list[WindowRecord]:
        """The named windows' records so far."""
        return self._accounting.window_records if self._accounting else []

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
        """A: energy outside epochs and named windows, with PUE and grid loss, plus
        extra_energy_j."""
        return self._accounting.a_energy_j if self._accounting else self.config.extra_energy_j

    @property
    def energy_j(self) -> float:
        """The run's energy so far: A + named windows + Σ epoch energy (J)."""
        return self._accounting.energy_j if self._accounting else self.config.extra_energy_j

    @property
    def co2e_kg(self) -> float:
        """The run's carbon so far (kg CO2e)."""
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
        accounting = self._accounting
        readings = self._reader.readings.values() if self._reader else ()
        return RunSummary(
            run_id=self.run_id, project=self.config.project, status=status or self.status,
            started_at=self.started_at, updated_at=now_iso(), n_exp=n_exp,
            n_exp_source=self.n_exp_source, epochs=len(self.records),
            a_energy_j=self.a_energy_j,
            windows_energy_j=accounting.windows_energy_j if accounting else 0.0,
            windows=accounting.windows_summary() if accounting else {},
            energy_j=energy_j, co2e_kg=self.co2e_kg,
            nature_energy_j=n_exp * energy_j, nature_co2e_kg=n_exp * self.co2e_kg,
            nature_energy_kwh=n_exp * energy_j / JOULES_PER_KWH,
            pue=self.config.pue, grid_loss=self.grid_loss,
            grid_loss_source=self.grid_loss_source,
            carbon_source=intensity.source if intensity else "",
            carbon_zone=intensity.zone if intensity else "",
            meters=self._meters(),
            estimated=(accounting.any_estimated if accounting else False)
            or any(d.source == "estimated" for d in readings),
            rank_local=rank_local, epochs_file=self._files(rank_local).epochs.name,
            params=dict(self.params),
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
        for device in self._meters():
            params[f"nature/meter/{device['device']}"] = (f"{device['source']}: "
                                                          f"{device['description']}")
        return params

    # ------------------------------------------------------------------ stop
    def stop(self) -> RunSummary:
        """Close what is open, write the final records, stop the meters."""
        if self._stopped or not self._started:
            return self.summary()
        try:
            if self._window is not None:
                self.end_window()
            if self._epoch is not None:
                self.end_epoch()
            self._close_gap(self.distributed.reduce)
            self.status = "completed"
            return self._write_final()
        finally:
            self._shutdown()

    def abort(self, error: BaseException | None = None) -> RunSummary:
        """Record the run as crashed, interrupted or terminated without any collective call;
        never raises."""
        status = status_of(error)
        try:
            if self._started and not self._stopped:
                if self._window is not None:
                    self._append(self._close_window(identity))
                if self._epoch is not None:
                    self._append(self._close_epoch(identity))
                self._close_gap(identity)
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
        self._charge()
        self._accounting.commit_gap(reduce(self._accounting.take_gap_vector()))

    def _write_final(self, rank_local: bool = False) -> RunSummary:
        """Write the record of a run that ended; a rank other than the writer writes its own
        files (rank-local figures) when the run was cut short."""
        summary = self.summary(self.status, rank_local=rank_local)
        if self._recorder is not None:
            self._recorder.write_summary(summary)
        elif rank_local and self._started:
            recorder = Recorder(self._files(rank_local=True), ledger=None)
            recorder.begin(self._header(), self._carried_records(), summary)
            recorder.close()
        return summary

    def _shutdown(self) -> None:
        self._stopped = True
        self._sigterm.restore()
        if self._recorder is not None:
            self._recorder.close()
        if self._reader is not None:
            try:
                self._reader.meter.stop()
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
        """History to carry in a checkpoint: completed epochs and windows, A so far, and an
        epoch cut short (a named window still open counts in A). Under DDP the energy not yet
        summed is summed over ranks here (a collective call: every rank must call it, as
        Lightning does when it saves a checkpoint)."""
        if self._accounting is None or self._reader is None:
            return dict(self._pending_state or {})
        since_j = self._reader.by_kind(self._reader.peek())
        if self.distributed.is_distributed:  # every rank's part: Lightning asks every rank
            since_j = dict(zip(KINDS, self.distributed.reduce([since_j[k] for k in KINDS]),
                               strict=True))
        open_epoch = self._cut_epoch
        gap_j = sum(since_j.values())
        if self._epoch is not None:
            epoch = self._epoch
            carried = epoch.carried or OpenEpoch(len(self.records), 0.0, {})
            running = epoch.running and self._window is None
            epoch_kind_j = [epoch.kind_j[kind] for kind in KINDS]
            if self.distributed.is_distributed:
                epoch_kind_j = self.distributed.reduce(epoch_kind_j)
            open_epoch = OpenEpoch(
                epoch=len(self.records),
                epoch_time_s=carried.epoch_time_s + epoch.elapsed_s(self.clock.monotonic_s()),
                energy_by_kind_j={
                    kind: part_j + carried.energy_by_kind_j.get(kind, 0.0)
                    + (since_j[kind] if running else 0.0)
                    for kind, part_j in zip(KINDS, epoch_kind_j, strict=True)})
            gap_j = 0.0 if running else gap_j
        if self._window is not None:
            gap_j += sum(self._window.kind_j.values())
        state = self._accounting.state_dict(open_epoch)
        if self._last_intensity is not None:
            state["a_hw_j"] += gap_j
            state["a_hw_g"] += co2e_g(gap_j, self._last_intensity.g_per_kwh)
        return {"run_id": self.run_id, **state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a checkpointed run: its run id (and ledger row), its totals; an epoch cut
        by the checkpoint is kept to be continued or recorded. Before ``start()`` the state
        is applied when it starts."""
        previous_id = state.get("run_id")
        if self._accounting is None:
            self._pending_state = dict(state)
            if isinstance(previous_id, str) and previous_id:
                self.run_id = previous_id
            return
        self._warn_if_scaling_changed(state)
        self._cut_epoch = self._accounting.load_state_dict(state)
        if isinstance(previous_id, str) and previous_id and previous_id != self.run_id:
            self._continue_run(previous_id)
        if self._recorder is not None:  # the epochs file restarts with the carried records
            self._retarget_files()
            self._recorder.begin(self._header(), self._carried_records(), self.summary())

    def _retarget_files(self) -> None:
        """After the run id changed, the files follow it; those started under the old id go."""
        assert self._recorder is not None and self._output_dir is not None
        self._recorder.close()
        for path in (self._recorder.files.summary, self._recorder.files.epochs):
            path.unlink(missing_ok=True)
        self._file_suffix = suffix_beside_other_runs(self._output_dir, self.run_id)
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
