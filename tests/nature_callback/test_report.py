"""``nature report`` (a run, a project), ``--plot`` and ``nature export --format codecarbon``,
run through ``nature_callback.cli.main`` on record files a real tracker wrote."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from nature_callback import NatureTracker
from nature_callback.cli import main
from nature_callback.ledger import RunLedger
from nature_callback.metric import JOULES_PER_KWH
from nature_callback.report import CODECARBON_COLUMNS, co2e_text, energy_text
from tests.nature_callback.fakes import FakeClock, FakeMeter
from tests.nature_callback.postgres import (  # noqa: F401  (fixtures)
    PASSWORD, postgres_server, postgres_url,
)

POWER_W = {"gpu0": 200.0, "cpu0": 80.0, "dram0": 20.0}
EPOCH_S = 10.0


def _train(folder: Path, *, epochs: int = 3, planned: int = 4, carbon: float | str = 300.0,
           source: str = "measured") -> NatureTracker:
    """A run of ``epochs`` 10 s epochs at 300 W (GPU, CPU, DRAM) on a fake clock."""
    clock = FakeClock()
    with NatureTracker(carbon=carbon, output_dir=folder, ledger_path=False, n_exp=2,
                       planned_epochs=planned, pue=1.5, grid_loss=0.0, clock=clock,
                       meter=FakeMeter(clock, POWER_W, source=source)) as tracker:  # type: ignore[arg-type]
        for _ in range(epochs):
            with tracker.epoch():
                clock.advance(EPOCH_S)
    return tracker


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    _train(folder)
    return folder


def test_a_run_report_gives_totals_with_units_meters_sources_and_the_forecast(
    run_folder: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    summary = json.loads((run_folder / "nature_summary.json").read_text())
    code, out, _ = _cli(capsys, "report", str(run_folder))
    assert code == 0
    assert f"run {summary['run_id']} (default): completed, 3 epochs" in out
    assert energy_text(summary["energy_j"]) in out and "kWh" in out
    assert co2e_text(summary["co2e_kg"]) in out
    assert "NATURE = N_exp × run (N_exp = 2)" in out and "N_exp from parameter" in out
    assert "PUE 1.5, grid loss 0.00%" in out
    for device in POWER_W:
        assert any(line.split()[:3] == [device, device.rstrip("0"), "measured"]
                   for line in out.splitlines())
    assert "Carbon intensity: fixed (user parameter)" in out
    # planned 4 epochs, ran 3: the last forecast (4 epochs) is above the actual (3)
    assert "Forecast vs actual (NATURE at 4 planned epochs; 3 run)" in out
    epoch_lines = out.split("Epochs (")[1].splitlines()[2:]
    assert [line.split()[0] for line in epoch_lines] == ["0", "1", "2"]
    assert all(line.split()[2] == "300.00" and line.split()[3] == "150.00"
               for line in epoch_lines)  # E and U = (PUE - 1) × E


def test_the_json_report_holds_the_same_figures(run_folder: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "report", str(run_folder / "nature_summary.json"), "--json")
    report = json.loads(out)
    assert code == 0 and len(report["epochs"]) == 3
    assert report["energy_kwh"] == report["run"]["energy_j"] / JOULES_PER_KWH
    forecast = report["forecast"]
    assert forecast["planned_epochs"] == 4 and forecast["last"]["epoch"] == 2
    epoch_co2e_kg = report["epochs"][0]["terms"]["epoch_co2e_g"] / 1000
    a_co2e_kg = report["run"]["co2e_kg"] - 3 * epoch_co2e_kg
    expected_kg = 2 * (a_co2e_kg + 4 * epoch_co2e_kg)  # N_exp × (A + 4 epochs)
    assert forecast["last"]["forecast_co2e_kg"] == pytest.approx(expected_kg, rel=1e-9)
    assert forecast["last_error_pct"] == pytest.approx(
        (expected_kg / forecast["actual_nature_co2e_kg"] - 1) * 100, rel=1e-6)
    assert [meter["source"] for meter in report["meters"]] == ["measured"] * 3


def test_a_run_cut_before_its_summary_reports_from_its_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    tracker = _train(tmp_path, source="estimated")
    tracker.summary_path.unlink()
    with tracker.epochs_path.open("a") as file:
        file.write('{"type": "ep')
    code, out, _ = _cli(capsys, "report", str(tracker.epochs_path))
    assert code == 0 and "unknown (no summary file), 3 epochs" in out
    assert "1 unreadable line" in out and "E is partly ESTIMATED" in out
    assert out.count("ESTIMATED") >= 4  # the totals and each meter
    assert "E estimated" in out.split("Epochs (")[1]


def test_named_windows_have_their_own_table(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=False, pue=1.5,
                       grid_loss=0.0, clock=clock, meter=FakeMeter(clock, POWER_W)) as tracker:
        with tracker.epoch():
            clock.advance(EPOCH_S)
        for _ in range(2):
            with tracker.window("validation"):
                clock.advance(2.0)
    code, out, _ = _cli(capsys, "report", str(tmp_path))
    window_j = 300.0 * 2.0 * 1.5  # E × T × PUE
    (windows_line,) = [line for line in out.splitlines() if "of which named windows" in line]
    assert code == 0 and windows_line.endswith(energy_text(2 * window_j))
    lines = out.split("Named windows (energy with PUE and grid loss)")[1].splitlines()[2:]
    assert [line.split()[:5] for line in lines] == [
        ["validation", str(n), "2.000", "300.00", f"{window_j:,.1f}"] for n in range(2)]
    code, out, _ = _cli(capsys, "report", str(tmp_path), "--json")
    assert [window["name"] for window in json.loads(out)["windows"]] == ["validation"] * 2


def test_hardware_energy_is_split_by_device_kind_over_epochs_and_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    meter = FakeMeter(clock, dict(POWER_W), source="estimated")
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=False, pue=1.5,
                       grid_loss=0.0, clock=clock, meter=meter) as tracker:
        with tracker.epoch():
            clock.advance(EPOCH_S)
        meter.set_power("gpu0", 400.0)
        with tracker.window("inference"):
            clock.advance(2.0)
    code, out, _ = _cli(capsys, "report", str(tmp_path), "--json")
    split = json.loads(out)["energy_by_kind"]
    assert split == {"gpu": {"epochs_j": pytest.approx(2000.0), "windows_j": pytest.approx(800.0)},
                     "cpu": {"epochs_j": pytest.approx(800.0), "windows_j": pytest.approx(160.0)},
                     "dram": {"epochs_j": pytest.approx(200.0), "windows_j": pytest.approx(40.0)}}
    code, out, _ = _cli(capsys, "report", str(tmp_path))
    block = out.split("Hardware energy by device kind")[1].split("\n\n")[0].splitlines()[2:]
    assert code == 0
    assert [line.split() for line in block] == [  # by share: 2800 of 4000 J, 960, 240
        ["gpu", "2,000.0", "800.0", "70%", "ESTIMATED"],
        ["cpu", "800.0", "160.0", "24%", "ESTIMATED"],
        ["dram", "200.0", "40.0", "6%", "ESTIMATED"]]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_draws_power_energy_and_co2e(run_folder: Path, tmp_path: Path, suffix: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / f"run{suffix}"
    code, out, _ = _cli(capsys, "report", str(run_folder), "--plot", str(target))
    assert code == 0 and f"plot: {target}" in out
    data = target.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG") and len(data) > 20_000
    else:
        text = data.decode()
        assert "<svg" in text and all(label in text for label in ("power", "kWh", "CO2e"))


def test_plot_without_matplotlib_names_the_extra(run_folder: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    code, _, err = _cli(capsys, "report", str(run_folder), "--plot", str(tmp_path / "a.png"))
    assert code == 2 and 'pip install "nature-callback[crossbar]"' in err
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["report"], "give either a run (PATH) or --project NAME"),
    (["report", "x", "--project", "p"], "give either a run"),
    (["report", "/nonexistent/run"], "no nature_summary.json or nature_epochs.jsonl"),
    (["report", "RUN", "--plot", "figure.pdf"], "give a .png or .svg"),
    (["report", "--project", "p", "--plot", "a.png"], "--plot draws one run"),
    (["report", "--project", "nobody", "--ledger", "LEDGER"], "no runs of project 'nobody'"),
    (["report", "--project", "p", "--ledger", "/nonexistent/l.sqlite"], "no run ledger at"),
    (["export", "/nonexistent/run", "--format", "codecarbon"], "no nature_summary.json"),
])
def test_errors_are_one_clean_line_and_exit_code_2(
    argv: list[str], message: str, run_folder: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _project_ledger(tmp_path / "l.sqlite")
    argv = [str(run_folder) if arg == "RUN" else str(tmp_path / "l.sqlite") if arg == "LEDGER"
            else arg for arg in argv]
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("nature: error:") and message in err and "Traceback" not in err


# ------------------------------------------------------------------ a project

SEARCH = [  # (lr, batch, energy_j, co2e_kg): a small hyperparameter search, in start order
    (0.1, 32, 100.0, 0.25), (0.01, 32, 300.0, 0.5), (0.1, 32, 200.0, 0.125),
    (0.001, 32, 50.0, 0.0625), (0.01, 32, 400.0, 1.0),
]


def _project_ledger(target: str | Path) -> RunLedger:
    """A ledger holding the search above (project "search"), a run without params and one
    of another project."""
    ledger = RunLedger(target)
    for n, (lr, batch, energy_j, co2e_kg) in enumerate(SEARCH):
        ledger.record(f"run{n}", "search", f"2026-01-01T00:0{n}:00+00:00", status="completed",
                      epochs=3, energy_j=energy_j, co2e_kg=co2e_kg, ended=True,
                      params={"lr": lr, "batch": batch})
    ledger.record("bare", "search", "2026-01-01T00:09:00+00:00", status="crashed", epochs=1,
                  energy_j=10.0, co2e_kg=0.5, ended=True)
    ledger.record("elsewhere", "other", "2026-01-01T00:00:00+00:00", status="completed",
                  epochs=1, energy_j=1e6, co2e_kg=9.0, ended=True)
    return ledger


def test_a_project_report_sums_its_runs_beside_the_estimate_and_groups_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = str(tmp_path / "l.sqlite")
    _project_ledger(ledger)
    code, out, _ = _cli(capsys, "report", "--project", "search", "--ledger", ledger, "--json")
    report = json.loads(out)
    assert code == 0 and report["runs"] == 6
    assert report["energy_j"] == 1060.0 and report["co2e_kg"] == 2.4375
    assert report["by_status"] == {"completed": 5, "crashed": 1}
    assert report["estimate"] == {"n_exp": 6, "latest_run_id": "bare", "energy_j": 60.0,
                                  "co2e_kg": 3.0}
    groups = [(group["params"], group["runs"], group["energy_j"], group["co2e_kg"])
              for group in report["groups"]]
    assert groups == [({"batch": 32, "lr": 0.1}, 2, 300.0, 0.375),
                      ({"batch": 32, "lr": 0.01}, 2, 700.0, 1.5),
                      ({"batch": 32, "lr": 0.001}, 1, 50.0, 0.0625),
                      (None, 1, 10.0, 0.5)]

    code, out, _ = _cli(capsys, "report", "--project", "search", "--ledger", ledger)
    assert code == 0
    assert "project search: 6 runs" in out and "(completed 5, crashed 1)" in out
    assert energy_text(1060.0) in out and energy_text(60.0) in out
    assert "N_exp × latest run (6 × bare)" in out and "the sum is 0.812 × the estimate" in out
    assert "Runs by hyperparameters (shared: batch=32)" in out
    group_lines = out.split("Runs by hyperparameters")[1].splitlines()[2:]
    assert [line.split()[:2] for line in group_lines] == [["1", "2"], ["2", "2"], ["3", "1"],
                                                          ["4", "1"]]
    assert group_lines[1].endswith("lr=0.01") and "61.5%" in group_lines[1]
    assert group_lines[3].endswith("(no hyperparameters logged)")


def test_a_project_report_reads_a_postgres_ledger_and_never_prints_its_password(
    postgres_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _project_ledger(postgres_url).close()
    code, out, err = _cli(capsys, "report", "--project", "search", "--ledger", postgres_url)
    assert code == 0 and "project search: 6 runs in postgresql://nature:***@" in out
    assert PASSWORD not in out + err
    wrong = postgres_url.replace(PASSWORD, "not-" + PASSWORD)
    code, out, err = _cli(capsys, "report", "--project", "search", "--ledger", wrong)
    assert code == 2 and "password authentication failed" in err
    assert PASSWORD not in out + err and "Traceback" not in err


# ------------------------------------------------------------------ CodeCarbon's emissions.csv


def test_export_writes_codecarbons_columns_with_our_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    german = _train(tmp_path / "de", carbon="DE")
    fixed = _train(tmp_path / "fixed")
    target = tmp_path / "emissions.csv"
    code, out, _ = _cli(capsys, "export", str(tmp_path / "de"), str(fixed.summary_path),
                        "--format", "codecarbon", "-o", str(target))
    assert code == 0 and "wrote 2 run(s)" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == CODECARBON_COLUMNS and len(rows) == 2
    de, user = rows
    summary = german.summary().to_dict()
    assert de["run_id"] == german.run_id and de["project_name"] == "default"
    assert float(de["emissions"]) == summary["co2e_kg"]
    assert float(de["energy_consumed"]) == summary["energy_j"] / JOULES_PER_KWH
    assert (de["cpu_power"], de["gpu_power"], de["ram_power"]) == ("80.0", "200.0", "20.0")
    assert float(de["gpu_energy"]) == pytest.approx(200.0 * 3 * EPOCH_S / JOULES_PER_KWH)
    assert de["gpu_count"] == "1" and de["pue"] == "1.5"
    assert (de["country_name"], de["country_iso_code"]) == ("Germany", "DEU")
    assert float(de["duration"]) >= 0 and de["timestamp"][:4].isdigit()
    assert (user["country_name"], user["country_iso_code"]) == ("", "")  # zone "user"
    unknown = ("experiment_id", "water_consumed", "region", "cloud_provider", "cloud_region",
               "os", "python_version", "codecarbon_version", "cpu_count", "cpu_model",
               "gpu_model", "longitude", "latitude", "ram_total_size", "tracking_mode",
               "cpu_utilization_percent", "gpu_utilization_percent",
               "ram_utilization_percent", "ram_used_gb", "on_cloud", "wue")
    assert all(de[column] == "" and user[column] == "" for column in unknown)


def test_codecarbon_itself_takes_the_exported_file_as_its_own(
    run_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """CodeCarbon appends to an emissions.csv whose header matches its own and backs up any
    other; after it appends a row of its own, ours is still there."""
    pytest.importorskip("codecarbon")
    from dataclasses import fields

    from codecarbon.output_methods.emissions_data import EmissionsData
    from codecarbon.output_methods.file import FileOutput

    assert tuple(field.name for field in fields(EmissionsData)) == CODECARBON_COLUMNS
    assert main(["export", str(run_folder), "--format", "codecarbon", "-o",
                 str(tmp_path / "emissions.csv")]) == 0
    theirs = EmissionsData(**{field.name: 0 for field in fields(EmissionsData)})
    FileOutput("emissions.csv", str(tmp_path)).out(theirs, None)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["emissions.csv"]  # no backup
    rows = list(csv.DictReader((tmp_path / "emissions.csv").open()))
    assert len(rows) == 2 and rows[0]["run_id"] == json.loads(
        (run_folder / "nature_summary.json").read_text())["run_id"]
