"""One-shot validation of the GPU meter on a real NVIDIA GPU (issue 15).

One command, under 5 minutes, a pass/fail table with the figures behind each verdict:

    python benchmarks/gpu_validation.py                 # every check, on cuda:0
    python benchmarks/gpu_validation.py --device 1 --only accuracy windows
    python benchmarks/gpu_validation.py --json results.json

Checks (the peer is Zeus's ``ZeusMonitor`` where ``zeus`` is installed, e.g. ``pip install
zeus==0.16.*``; else NVML's raw energy counter read at the same instants, said in the table):

- ``mapping``: for CUDA_VISIBLE_DEVICES unset, ``<device>``, a UUID prefix and ``"<device>,"``,
  torch's UUID of ``cuda:0`` is the NVML UUID the meter reads, through torch and through
  CUDA_VISIBLE_DEVICES alone (each case in a fresh process: CUDA reads the variable once);
- ``accuracy``: 10 s of matmuls then 5 s idle, synchronised: the meter against the peer on the
  same window (<= 2 %) and against the integral of ``nvidia-smi --query-gpu=power.draw.instant
  -lms 100`` (<= 5 %);
- ``windows``: the counter's update period as the meter measured it, and 10, 50 and 100 ms
  windows under a steady load: none reads 0 J, their median power within 25 % of the load's;
- ``sync``: 2 s of work queued just before a boundary stays in its window when the boundary
  synchronises, as the tracker does (and the next, idle window stays idle);
- ``sampling``: the power-sampling fallback forced on (the counter hidden) against the counter
  over a step load (idle, busy, idle): <= 5 %;
- ``lightning``: ``NatureCallback``, 3 epochs with validation: each epoch's GPU joules against
  the peer's window at the same hooks (<= 3 %);
- ``two_ranks``: two processes (gloo) training on the same GPU: the reduced GPU energy of an
  epoch equals the GPU's counter over it (counted once, not twice);
- ``nature_run``: ``nature run --gpus <device> -- python -c <3 s of matmuls>``: the command's
  window holds the GPU's counter over the whole call, less ``nature run``'s own start-up at
  idle power (between 85 % and 101 % of it).

Exit status: 0 when every check that ran passed, 1 when one failed, 2 when there is no GPU.
Without an NVIDIA GPU the script says so and stops; ``--help`` works anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHECKS = ("mapping", "accuracy", "windows", "sync", "sampling", "lightning", "two_ranks",
          "nature_run")
PEER_TOLERANCE = 0.02
"""ours vs Zeus (or the raw counter) on the same window: both read the same counter."""
SMI_TOLERANCE = 0.05
"""ours vs nvidia-smi's 10 Hz power integral: sampling adds its own error."""
SAMPLING_TOLERANCE = 0.05
WINDOW_POWER_TOLERANCE = 0.25
"""A 10 ms window is a fraction of one counter period: its figure rests on instantaneous power."""
LIGHTNING_TOLERANCE = 0.03
MATMUL_SIZE = 16384
"""fp16 matmuls of this size take milliseconds (H200) to ~0.1 s (T4): seconds of work fit in
CUDA's launch queue, so work can be queued ahead of a boundary."""
LIGHTNING_EPOCH_S = 12.0
"""Both sides read a counter that moves in steps (<= 100 ms): at worst a step at each end
for each side, 4 x 100 ms of 12 s (3 %); steps land at random, so typically far less."""


@dataclass
class Result:
    """One row of the table."""

    check: str
    status: str
    """PASS, FAIL, SKIP or ERROR."""
    figures: str


# ------------------------------------------------------------------ the GPU and its load
class Gpu:
    """cuda:<device> with a calibrated matmul load and the project's meter."""

    def __init__(self, device: int) -> None:
        import pynvml
        import torch

        self.torch, self.nvml = torch, pynvml
        self.device = device
        torch.cuda.set_device(device)
        self.a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device="cuda", dtype=torch.float16)
        self.b = torch.randn_like(self.a)
        self.sync()
        started = time.perf_counter()
        for _ in range(10):
            self.a @ self.b
        self.sync()
        self.op_s = (time.perf_counter() - started) / 10
        self.uuid = "GPU-" + str(torch.cuda.get_device_properties(device).uuid)

    def sync(self) -> None:
        self.torch.cuda.synchronize(self.device)

    def queue(self, seconds: float) -> None:
        """Queue about ``seconds`` of matmuls without waiting for them."""
        for _ in range(max(1, round(seconds / self.op_s))):
            self.a @ self.b

    def busy(self, seconds: float) -> None:
        """Keep the GPU busy for ``seconds`` (a second's work queued at a time)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.queue(min(1.0, end - time.monotonic()))
            self.sync()

    def meter(self, **kwargs: Any) -> Any:
        """The project's NVML meter of this GPU, started (``kwargs`` go to ``NvmlMeter``)."""
        from nature_callback.meters import NvmlMeter

        meter = NvmlMeter(gpus=[self.device], **{"nvml": self.nvml, **kwargs})
        meter.start()
        return meter


def _read_j(meter: Any) -> float:
    return float(meter.read()[0].energy_j)


class Peer:
    """Zeus's monitor where installed, else NVML's raw counter at the same instants."""

    def __init__(self, gpu: Gpu) -> None:
        self.gpu = gpu
        self._start_mj = 0
        try:
            from zeus.monitor import ZeusMonitor

            # GPU only (no RAPL); ZeusMonitor synchronises CUDA at both ends of a window itself
            self.zeus: Any = ZeusMonitor(gpu_indices=[gpu.device], cpu_indices=[])
            self.name = "ZeusMonitor"
        except ImportError as err:
            gpu.nvml.nvmlInit()
            self.pynvml, self.handle = gpu.nvml, gpu.nvml.nvmlDeviceGetHandleByUUID(gpu.uuid)
            self.zeus = None
            self.name = f"raw NVML counter (zeus unavailable: {err})"

    def _counter_mj(self) -> int:
        self.gpu.sync()
        return int(self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def begin(self, key: str) -> None:
        if self.zeus is not None:
            self.zeus.begin_window(key)
        else:
            self._start_mj = self._counter_mj()

    def end(self, key: str) -> float:
        if self.zeus is not None:
            return float(self.zeus.end_window(key).gpu_energy[self.gpu.device])
        return (self._counter_mj() - self._start_mj) / 1000.0


def _relative(ours: float, reference: float) -> float:
    return abs(ours - reference) / reference if reference else float("inf")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ------------------------------------------------------------------ nvidia-smi
class SmiPower:
    """``nvidia-smi -lms 100`` in the background; the integral of its samples over a window."""

    def __init__(self, uuid: str) -> None:
        fields = subprocess.run(["nvidia-smi", "--help-query-gpu"], capture_output=True,
                                text=True, check=False).stdout
        self.field = "power.draw.instant" if "power.draw.instant" in fields else "power.draw"
        self.process = subprocess.Popen(
            ["nvidia-smi", "-i", uuid, f"--query-gpu=timestamp,{self.field}",
             "--format=csv,noheader,nounits", "-lms", "100"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def integral_j(self, start_wall_s: float, end_wall_s: float) -> float:
        """Stop sampling; the energy over the window (wall-clock seconds)."""
        time.sleep(0.3)  # the samples after the window's end
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return smi_integral_j(out, start_wall_s, end_wall_s)


def smi_integral_j(output: str, start_wall_s: float, end_wall_s: float) -> float:
    """Mean power of the ``timestamp, watts`` lines inside the window × its length; lines
    that do not parse (``[N/A]``, a torn last line) are left out."""
    inside = []
    for line in output.splitlines():
        try:
            stamp, watts = (part.strip() for part in line.split(","))
            t_s = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            if start_wall_s <= t_s <= end_wall_s:
                inside.append(float(watts))
        except ValueError:
            continue
    if len(inside) < 10:
        raise RuntimeError(f"nvidia-smi gave {len(inside)} samples in the window")
    return statistics.fmean(inside) * (end_wall_s - start_wall_s)


# ------------------------------------------------------------------ checks
def check_mapping(gpu: Gpu) -> Result:
    cases = {"unset": None, "index": str(gpu.device), "uuid prefix": gpu.uuid[:13],
             "trailing comma": f"{gpu.device},"}
    rows, ok = [], True
    for label, value in cases.items():
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        if value is not None:
            env["CUDA_VISIBLE_DEVICES"] = value
        device = gpu.device if value is None else 0
        out = subprocess.run([sys.executable, __file__, "--child", "mapping", "--device",
                              str(device)], env=env, capture_output=True, text=True, timeout=120)
        try:
            found = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return Result("mapping", "ERROR", f"{label}: child failed: {out.stderr[-300:]}")
        good = found["torch"] == found["by_torch"] == found["by_env"]
        ok &= good
        rows.append(f"{label}: {'ok' if good else found}")
    return Result("mapping", _verdict(ok), f"cuda:0 is {gpu.uuid[:13]}…; " + "; ".join(rows))


def child_mapping(device: int) -> None:
    import torch

    from nature_callback.meters import NvmlMeter

    no_cuda = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    found = {"torch": "GPU-" + str(torch.cuda.get_device_properties(device).uuid)}
    for key, kwargs in (("by_torch", {}), ("by_env", {"torch": no_cuda})):
        meter = NvmlMeter(gpus=[device], **kwargs)
        meter.start()
        found[key] = meter.read()[0].uuid
        meter.stop()
    print(json.dumps(found))


def check_accuracy(gpu: Gpu) -> Result:
    peer, smi = Peer(gpu), SmiPower(gpu.uuid)
    meter = gpu.meter()
    time.sleep(0.5)  # nvidia-smi's first samples
    gpu.sync()
    start_wall = time.time()
    ours0 = _read_j(meter)
    peer.begin("accuracy")
    gpu.busy(10.0)
    time.sleep(5.0)
    gpu.sync()
    peer_j = peer.end("accuracy")
    ours_j = _read_j(meter) - ours0
    end_wall = time.time()
    meter.stop()
    smi_j = smi.integral_j(start_wall, end_wall)
    vs_peer, vs_smi = _relative(ours_j, peer_j), _relative(ours_j, smi_j)
    return Result("accuracy", _verdict(vs_peer <= PEER_TOLERANCE and vs_smi <= SMI_TOLERANCE),
                  f"ours {ours_j:.0f} J, {peer.name} {peer_j:.0f} J ({vs_peer:.1%}), "
                  f"nvidia-smi {smi.field} {smi_j:.0f} J ({vs_smi:.1%})")


def check_windows(gpu: Gpu) -> Result:
    meter = gpu.meter()
    period = meter.read()[0].update_period_s
    load = threading.Thread(target=gpu.busy, args=(4.0,))  # a steady load for the windows
    load.start()
    time.sleep(0.3)
    first = meter.read()[0]
    started = time.monotonic()
    powers: dict[float, list[float]] = {}
    zeros = 0
    for length_s in (0.01, 0.05, 0.1):
        for _ in range(10):
            t0, e0 = time.monotonic(), _read_j(meter)
            time.sleep(length_s)
            t1, e1 = time.monotonic(), _read_j(meter)
            zeros += e1 - e0 <= 0
            powers.setdefault(length_s, []).append((e1 - e0) / (t1 - t0))
    last = meter.read()[0]
    elapsed = time.monotonic() - started
    load.join()
    meter.stop()
    load_w = ((last.energy_j - last.interpolated_j) - (first.energy_j - first.interpolated_j)) \
        / elapsed  # the counter alone over the whole sequence
    medians = {length: statistics.median(p) for length, p in powers.items()}
    ok = zeros == 0 and all(_relative(m, load_w) <= WINDOW_POWER_TOLERANCE
                            for m in medians.values())
    shown = ", ".join(f"{length * 1000:.0f} ms: {m:.0f} W" for length, m in medians.items())
    period_text = f"{period * 1000:.0f} ms" if period else "not seen"
    return Result("windows", _verdict(ok), f"counter period {period_text}; load {load_w:.0f} W; "
                                           f"median window power {shown}; zero windows: {zeros}")


def check_sync(gpu: Gpu) -> Result:
    meter = gpu.meter()
    gpu.sync()
    t0, e0 = time.monotonic(), _read_j(meter)
    gpu.queue(2.0)
    gpu.sync()  # the boundary: what the tracker does before reading
    t1, e1 = time.monotonic(), _read_j(meter)
    time.sleep(1.0)
    gpu.sync()
    t2, e2 = time.monotonic(), _read_j(meter)
    meter.stop()
    busy_w, idle_w = (e1 - e0) / (t1 - t0), (e2 - e1) / (t2 - t1)
    return Result("sync", _verdict(t1 - t0 >= 1.5 and idle_w < 0.6 * busy_w),
                  f"window with the queued work: {t1 - t0:.2f} s, {e1 - e0:.0f} J "
                  f"({busy_w:.0f} W); next window: {e2 - e1:.0f} J ({idle_w:.0f} W)")


def _counter_hidden(pynvml: types.ModuleType) -> types.ModuleType:
    """``pynvml`` with the energy counter answering NOT_SUPPORTED: the sampling fallback."""
    proxy = types.ModuleType("pynvml_without_counter")
    proxy.__dict__.update(pynvml.__dict__)

    def not_supported(handle: Any) -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    proxy.nvmlDeviceGetTotalEnergyConsumption = not_supported  # type: ignore[attr-defined]
    return proxy


def check_sampling(gpu: Gpu) -> Result:
    counter, sampled = gpu.meter(), gpu.meter(nvml=_counter_hidden(gpu.nvml), sample_interval_s=0.1)
    c0, s0 = _read_j(counter), _read_j(sampled)
    time.sleep(2.0)
    gpu.busy(3.0)
    time.sleep(2.0)
    c_j, s_j = _read_j(counter) - c0, _read_j(sampled) - s0
    description = sampled.read()[0].description
    counter.stop()
    sampled.stop()
    gap = _relative(s_j, c_j)
    return Result("sampling", _verdict(gap <= SAMPLING_TOLERANCE and "sampled" in description),
                  f"counter {c_j:.0f} J, sampling {s_j:.0f} J ({gap:.1%}); {description}")


def check_lightning(gpu: Gpu) -> Result:
    import torch

    from nature_callback._lightning import pl
    from nature_callback.integrations.lightning import NatureCallback

    peer = Peer(gpu)
    peer_j: list[float] = []

    class PeerWindows(pl.Callback):  # type: ignore[misc, name-defined]
        """The peer's windows at the callback's hooks: an epoch is paused over validation
        (a named window of its own in the record)."""

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            peer_j.append(0.0)
            peer.begin("epoch")

        def on_validation_start(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                peer_j[-1] += peer.end("epoch")

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                peer.begin("epoch")

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            peer_j[-1] += peer.end("epoch")

    class Heavy(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4096, 4096)

        def _loss(self, batch: Any) -> Any:
            x = batch
            for _ in range(8):
                x = torch.tanh(self.layer(x))
            return x.pow(2).mean()

        def training_step(self, batch: Any, _: int) -> Any:
            return self._loss(batch)

        def validation_step(self, batch: Any, _: int) -> None:
            self.log("val", self._loss(batch))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=1e-4)

    model = Heavy().cuda()
    batch = torch.randn(1024, 4096, device="cuda")
    gpu.sync()
    started = time.perf_counter()
    for _ in range(3):
        model._loss(batch).backward()
    gpu.sync()
    batches = max(4, round(LIGHTNING_EPOCH_S / ((time.perf_counter() - started) / 3)))
    train = torch.utils.data.DataLoader([batch] * batches, batch_size=None)  # on the GPU already
    val = torch.utils.data.DataLoader([batch] * 4, batch_size=None)
    with tempfile.TemporaryDirectory() as folder:
        nature = NatureCallback(carbon=300.0, output_dir=folder, ledger_path=False,
                                progress_bar=False, verbose=False)
        trainer = pl.Trainer(accelerator="gpu", devices=[gpu.device], max_epochs=3,
                             callbacks=[PeerWindows(), nature], logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=folder)
        trainer.fit(model, train, val)
        records = nature.tracker.records if nature.tracker else []
    ours = [r.power_by_kind_w.get("gpu", 0.0) * r.terms.epoch_time_s for r in records]
    gaps = [_relative(o, p) for o, p in zip(ours, peer_j)]
    ok = len(ours) == 3 == len(peer_j) and max(gaps) <= LIGHTNING_TOLERANCE
    shown = ", ".join(f"{o:.0f}/{p:.0f} J ({g:.1%})" for o, p, g in zip(ours, peer_j, gaps))
    return Result("lightning", _verdict(ok), f"epochs ours/{peer.name}: {shown}")


def check_two_ranks(gpu: Gpu) -> Result:
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2")
    ranks = [subprocess.Popen([sys.executable, __file__, "--child", "rank", "--device",
                               str(gpu.device)], env=dict(env, RANK=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    try:
        outputs = [rank.communicate(timeout=180) for rank in ranks]
    finally:  # a rank that failed leaves the other waiting in a collective call
        for rank in ranks:
            rank.kill()
    try:
        found = json.loads(outputs[0][0].strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Result("two_ranks", "ERROR", f"rank 0 failed: {outputs[0][1][-300:]}")
    ratio = found["reduced_gpu_j"] / found["counter_j"]
    return Result("two_ranks", _verdict(0.85 <= ratio <= 1.2),
                  f"reduced GPU {found['reduced_gpu_j']:.0f} J, the GPU's counter "
                  f"{found['counter_j']:.0f} J: ×{ratio:.2f} (×2 = counted twice)")


def child_rank(device: int) -> None:
    import pynvml
    import torch.distributed as dist

    from nature_callback.distributed import torch_distributed
    from nature_callback.tracker import NatureTracker

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    gpu = Gpu(device)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByUUID(gpu.uuid)
    with tempfile.TemporaryDirectory() as folder:
        tracker = NatureTracker(carbon=300.0, output_dir=folder, ledger_path=False,
                                gpus=[device], node_level=rank == 0,
                                distributed=torch_distributed()).start()
        tracker.start_epoch()
        dist.barrier()
        c0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        gpu.busy(3.0)
        dist.barrier()
        c1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        record = tracker.end_epoch()
        tracker.stop()
    if rank == 0:
        print(json.dumps({"reduced_gpu_j": record.power_by_kind_w.get("gpu", 0.0)
                          * record.terms.epoch_time_s, "counter_j": (c1 - c0) / 1000.0}))
    dist.destroy_process_group()


NATURE_RUN_CHILD = """
import time, torch
a = torch.randn(8192, 8192, device="cuda:{device}", dtype=torch.float16)
b = torch.randn_like(a)
end = time.monotonic() + 3.0
while time.monotonic() < end:
    for _ in range(8):
        a @ b
    torch.cuda.synchronize()
"""


def check_nature_run(gpu: Gpu) -> Result:
    """``nature run`` around a command that loads the GPU, against the GPU's counter."""
    peer = Peer(gpu)
    with tempfile.TemporaryDirectory() as folder:
        peer.begin("nature_run")
        done = subprocess.run(
            [sys.executable, "-m", "nature_callback.cli", "run", "--gpus", str(gpu.device),
             "--carbon", "300", "--pue", "1.0", "--window", "job", "--out", folder,
             "--ledger", str(Path(folder) / "ledger.sqlite"), "--", sys.executable, "-c",
             NATURE_RUN_CHILD.format(device=gpu.device)],
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                [str(REPO), os.environ.get("PYTHONPATH", "")])))
        counter_j = peer.end("nature_run")
        if done.returncode != 0:
            return Result("nature_run", "ERROR", f"exit {done.returncode}: {done.stderr[-300:]}")
        (run_folder,) = (path for path in Path(folder).iterdir() if path.is_dir())
        from nature_callback.run_files import read_run

        (window,) = read_run(run_folder).windows
    ours_j = window["power_by_kind_w"].get("gpu", 0.0) * window["window_time_s"]
    ratio = ours_j / counter_j if counter_j else float("inf")
    return Result("nature_run", _verdict(0.85 <= ratio <= 1.01),
                  f"window {window['window_time_s']:.1f} s, GPU {ours_j:.0f} J; {peer.name} over "
                  f"the whole call {counter_j:.0f} J (×{ratio:.3f})")


RUNNERS: dict[str, Callable[[Gpu], Result]] = {
    "mapping": check_mapping, "accuracy": check_accuracy, "windows": check_windows,
    "sync": check_sync, "sampling": check_sampling, "lightning": check_lightning,
    "two_ranks": check_two_ranks, "nature_run": check_nature_run,
}


# ------------------------------------------------------------------ driver
def _no_gpu_reason() -> str | None:
    """Why this machine cannot run the checks, or None."""
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi is not on PATH (no NVIDIA driver here)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False"
    return None


def _table(results: list[Result]) -> str:
    width = max(len(r.check) for r in results)
    lines = [f"{'check':<{width}}  result  figures", f"{'-' * width}  ------  -------"]
    lines += [f"{r.check:<{width}}  {r.status:<6}  {r.figures}" for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", type=int, default=0, help="torch CUDA index (default 0)")
    parser.add_argument("--only", nargs="+", choices=CHECKS, help="run these checks only")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--child", choices=("mapping", "rank"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "mapping":
        child_mapping(args.device)
        return 0
    if args.child == "rank":
        child_rank(args.device)
        return 0
    reason = _no_gpu_reason()
    if reason is not None:
        print(f"gpu_validation: no NVIDIA GPU to validate on: {reason}. Run this on a machine "
              "with an NVIDIA GPU and its driver.", file=sys.stderr)
        return 2
    started = time.monotonic()
    gpu = Gpu(args.device)
    print(f"cuda:{args.device} = {gpu.uuid}; one {MATMUL_SIZE}² fp16 matmul: "
          f"{gpu.op_s * 1000:.1f} ms", flush=True)
    results = []
    for name in args.only or CHECKS:
        check_started = time.monotonic()
        try:
            result = RUNNERS[name](gpu)
        except Exception as err:  # noqa: BLE001 - one broken check must not hide the others
            result = Result(name, "ERROR", f"{type(err).__name__}: {err}")
        result.figures += f" [{time.monotonic() - check_started:.0f} s]"
        print(f"{result.check}: {result.status}", flush=True)
        results.append(result)
    print()
    print(_table(results))
    print(f"\n{time.monotonic() - started:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.status in ("PASS", "SKIP") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
