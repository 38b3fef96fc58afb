"""RunLedger on a real SQLite file and on a real PostgreSQL server: the same table, the same
semantics, made (folder, file, table) or migrated by whichever call comes first."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nature_callback.exceptions import LedgerError, LedgerLockedError
from nature_callback.ledger import (
    SCHEMA_VERSION, PostgresURL, RunLedger, default_ledger_path, redact_url,
)
from tests.conftest import repo_root
from tests.nature_callback.postgres import (  # noqa: F401  (fixtures)
    PASSWORD, PostgresServer, postgres_server, postgres_url,
)


def _record(ledger: RunLedger, run_id: str, **changes: object) -> None:
    values: dict[str, object] = dict(status="completed", epochs=1, energy_j=1.0, co2e_kg=1e-4,
                                     ended=True)
    values.update(changes)
    ledger.record(run_id, "p", "2026-11-28T00:00:00+00:00", **values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new ledger: a SQLite file, or a fresh database on the test server (a URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledgers" / "l.sqlite")
    return str(request.getfixturevalue("postgres_url"))


def test_runs_are_listed_oldest_first_and_by_project(ledger_target: str) -> None:
    ledger = RunLedger(ledger_target)
    ledger.record("b", "p", "2026-11-28T00:00:02+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)
    _record(ledger, "a")
    ledger.record("c", "other", "2026-11-28T00:00:03+00:00", status="crashed", epochs=2,
                  energy_j=5.0, co2e_kg=1e-6, ended=True)
    assert [run.run_id for run in ledger.runs()] == ["a", "b", "c"]
    assert [run.run_id for run in ledger.runs("p")] == ["a", "b"]
    assert ledger.count("p") == 2 and ledger.count("nobody") == 0
    ledger.delete("b")
    assert ledger.count("p") == 1


def test_recording_a_run_again_updates_its_row_and_keeps_its_end(ledger_target: str) -> None:
    ledger = RunLedger(ledger_target)
    ledger.record("a", "p", "2026-11-28T00:00:00+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)
    assert ledger.runs()[0].ended_at is None
    _record(ledger, "a")
    (run,) = ledger.runs()
    assert run.status == "completed" and run.epochs == 1 and run.energy_j == 1.0
    ended_at = run.ended_at
    assert ended_at is not None
    _record(ledger, "a", ended=False, status="crashed")  # an update without an end keeps it
    assert ledger.runs()[0].ended_at == ended_at
    _record(ledger, "a", ended=False, status="running")  # resumed: running again, no end
    assert ledger.runs()[0].ended_at is None


def test_params_are_stored_when_given_and_kept_when_not(ledger_target: str) -> None:
    ledger = RunLedger(ledger_target)
    params = {"lr": 0.01, "layers": [64, 32], "optimizer": "adam", "nan": float("nan")}
    _record(ledger, "a", params=params, status="running", ended=False)
    _record(ledger, "a")  # the final row: no params given
    (run,) = ledger.runs()
    assert run.params == {"lr": 0.01, "layers": [64, 32], "optimizer": "adam", "nan": None}
    assert run.host and run.to_dict()["params"] == run.params
    _record(ledger, "a", params={"lr": 0.1})
    assert ledger.runs()[0].params == {"lr": 0.1}
    _record(ledger, "b")
    assert ledger.runs()[1].params is None


def test_running_rows_of_processes_that_are_gone_are_marked_killed(ledger_target: str) -> None:
    ledger = RunLedger(ledger_target)
    # a process that records a running row and dies without ending it (as after SIGKILL)
    script = ("import sys\nfrom nature_callback.ledger import RunLedger\n"
              "RunLedger(sys.argv[1]).record('dead', 'p', '2026-01-01T00:00:00+00:00', "
              "status='running', epochs=1, energy_j=1.0, co2e_kg=0.0)\n")
    subprocess.run([sys.executable, "-c", script, ledger_target], check=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=str(repo_root())))
    ledger.record("alive", "p", "2999-01-01T00:00:00+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)  # this process: alive
    assert ledger.mark_killed() == ["dead"]
    statuses = {run.run_id: run.status for run in ledger.runs()}
    assert statuses == {"dead": "killed", "alive": "running"}


@pytest.mark.parametrize("removal", ["folder", "table"])
def test_a_ledger_removed_after_this_process_made_it_is_made_again(
    tmp_path: Path, removal: str,
) -> None:
    folder = tmp_path / "ledgers"
    path = folder / "l.sqlite"
    _record(RunLedger(path), "a")
    if removal == "folder":
        shutil.rmtree(folder)
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("DROP TABLE runs")
        connection.close()
    _record(RunLedger(path), "b")
    assert [run.run_id for run in RunLedger(path).runs()] == ["b"]


def test_a_postgres_table_dropped_under_an_open_ledger_is_made_again(postgres_url: str) -> None:
    import psycopg

    ledger = RunLedger(postgres_url)
    _record(ledger, "a")
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("DROP TABLE runs")
    _record(ledger, "b")  # the same open connection
    assert [run.run_id for run in ledger.runs()] == ["b"]
    ledger.close()


def test_a_ledger_that_cannot_be_made_says_how_to_fix_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(LedgerError, match="ledger_path=False"):
        _record(RunLedger(blocker / "l.sqlite"), "a")


OLD_LAYOUTS = {
    1: "run_id TEXT PRIMARY KEY, project TEXT NOT NULL, started_at TEXT NOT NULL, ended_at "
       "TEXT, status TEXT NOT NULL, epochs INTEGER NOT NULL DEFAULT 0, energy_j REAL NOT NULL "
       "DEFAULT 0, co2e_kg REAL NOT NULL DEFAULT 0, summary TEXT",
}
OLD_LAYOUTS[2] = OLD_LAYOUTS[1] + ", host TEXT, pid INTEGER"


@pytest.mark.parametrize("version", sorted(OLD_LAYOUTS))
def test_an_older_sqlite_ledger_is_migrated_and_keeps_its_rows(tmp_path: Path,
                                                                version: int) -> None:
    path = tmp_path / "l.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE runs ({OLD_LAYOUTS[version]})")
        connection.execute(f"PRAGMA user_version = {version if version > 1 else 0}")
        connection.execute("INSERT INTO runs (run_id, project, started_at, status) VALUES "
                           "('old', 'p', '2026-01-01T00:00:00+00:00', 'completed')")
    connection.close()
    ledger = RunLedger(path)
    _record(ledger, "new", params={"lr": 0.1})
    assert [(run.run_id, run.params) for run in ledger.runs()] == [("old", None),
                                                                   ("new", {"lr": 0.1})]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        host, pid = connection.execute("SELECT host, pid FROM runs WHERE run_id = 'new'").fetchone()
    connection.close()
    assert host and pid == os.getpid()


def test_an_older_postgres_table_is_migrated_and_keeps_its_rows(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE TABLE runs ({OLD_LAYOUTS[2].replace('REAL', 'FLOAT8')})")
        connection.execute("INSERT INTO runs (run_id, project, started_at, status) VALUES "
                           "('old', 'p', '2026-01-01T00:00:00+00:00', 'completed')")
    ledger = RunLedger(postgres_url)
    _record(ledger, "new", params={"lr": 0.1})
    assert [(run.run_id, run.params) for run in ledger.runs()] == [("old", None),
                                                                   ("new", {"lr": 0.1})]
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT version FROM nature_ledger_schema").fetchall() == [(3,)]
    ledger.close()


# ---------------------------------------------------------------- PostgreSQL: credentials


def test_the_password_never_shows_in_repr_str_or_errors(postgres_server: PostgresServer,
                                                        postgres_url: str) -> None:
    ledger = RunLedger(postgres_url)
    _record(ledger, "a")
    assert isinstance(ledger.path, PostgresURL) and ledger.path.secret_url() == postgres_url
    for text in (repr(ledger), str(ledger.path), repr(ledger.path), f"{ledger.path}"):
        assert PASSWORD not in text and "***" in text
    assert RunLedger(ledger.path).count("p") == 1  # the redacted location still opens it
    wrong = postgres_url.replace(PASSWORD, PASSWORD[::-1])
    unreachable = postgres_server.url().replace(f":{postgres_server.port}/", ":1/")
    for url in (wrong, unreachable, postgres_url + "?password=" + PASSWORD + "&sslmode=bogus"):
        with pytest.raises(LedgerError) as caught:
            RunLedger(url).count("p")
        message = str(caught.value)
        assert PASSWORD not in message and PASSWORD[::-1] not in message
        assert "***" in message and "ledger_path=False" in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert redact_url(f"at {postgres_url} now") == f"at {postgres_url.replace(PASSWORD, '***')} now"


def test_the_password_can_come_from_the_environment(postgres_server: PostgresServer,
                                                    postgres_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    without_password = postgres_url.replace(f":{PASSWORD}@", "@")
    monkeypatch.setenv("NATURE_LEDGER", without_password)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert isinstance(default_ledger_path(), PostgresURL)
    _record(RunLedger(), "a")
    assert RunLedger(Path(without_password)).count("p") == 1  # a URL that went through Path
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(LedgerError, match="password"):
        RunLedger().count("p")


@pytest.mark.parametrize("route", ["environment", "parameter"])
def test_a_tracked_run_lands_in_the_team_ledger_and_its_files_hold_no_password(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str,
) -> None:
    from nature_callback import NatureTracker
    from tests.nature_callback.fakes import FakeClock, FakeMeter

    if route == "environment":
        monkeypatch.setenv("NATURE_LEDGER", postgres_url)
    clock = FakeClock()
    with NatureTracker(carbon=300.0, output_dir=tmp_path, n_exp="ledger", project="team",
                       meter=FakeMeter(clock), clock=clock,
                       **({"ledger_path": postgres_url} if route == "parameter" else {})
                       ) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
    (run,) = RunLedger(postgres_url).runs("team")
    assert (run.run_id, run.status, run.energy_j) == (tracker.run_id, "completed",
                                                      tracker.summary().energy_j)
    assert tracker.summary().n_exp_source == "ledger"
    for path in tmp_path.iterdir():
        assert PASSWORD not in path.read_text(), path.name


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(LedgerError, match=r'pip install "nature-callback\[postgres\]"'):
        RunLedger("postgresql://u:secret@localhost/db").count("p")


def test_a_lock_held_by_another_session_fails_fast_on_the_training_thread(
    postgres_url: str,
) -> None:
    import psycopg

    from nature_callback.ledger import TRAINING_TIMEOUT_S

    _record(RunLedger(postgres_url), "a")
    with psycopg.connect(postgres_url) as holder:  # a transaction holding the row
        holder.execute("SELECT * FROM runs WHERE run_id = 'a' FOR UPDATE")
        training = RunLedger(postgres_url, timeout_s=TRAINING_TIMEOUT_S)
        training.count("p")  # connects (and prepares) before the clock starts
        started_s = time.monotonic()
        with pytest.raises(LedgerLockedError, match="locked"):
            _record(training, "a")
        assert time.monotonic() - started_s < 0.5
    _record(training, "a", epochs=7)  # the lock is gone: the next write goes through
    assert training.runs()[0].epochs == 7


# ---------------------------------------------------------------- many hosts at once

HOSTS = 8
RUNS_PER_HOST = 8

WORKER = """
import sys, time
from pathlib import Path
from nature_callback.ledger import RunLedger
target, host, runs, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
ledger = RunLedger(target)
(barrier / f"{host}.ready").touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
for i in range(runs):
    run_id, started = f"{host}-{i}", f"2026-01-01T00:{i:02d}:00+00:00"
    ledger.record(run_id, "team", started, status="running", epochs=0, energy_j=0.0,
                  co2e_kg=0.0, params={"lr": i % 3})
    ledger.record(run_id, "team", started, status="completed", epochs=2,
                  energy_j=float(i + 1), co2e_kg=(i + 1) / 1024, ended=True)
"""


def _uts_namespace() -> list[str]:
    """An ``unshare`` prefix giving a process its own host name, or skip."""
    for prefix in (["unshare", "--uts"], ["unshare", "--user", "--map-root-user", "--uts"]):
        try:
            done = subprocess.run([*prefix, "hostname", "probe"], capture_output=True,
                                  timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    pytest.skip("cannot give processes their own host names here (unshare --uts refused)")


@pytest.mark.slow  # 8 interpreters on the CPUs there are: 2-6 s
def test_eight_hosts_writing_at_once_lose_no_row(ledger_target: str, tmp_path: Path) -> None:
    prefix = _uts_namespace()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, PYTHONPATH=str(repo_root()))
    workers = [
        subprocess.Popen(
            [*prefix, "sh", "-c", f'hostname host{n} && exec "$@"', "sh", sys.executable,
             "-c", WORKER, ledger_target, f"host{n}", str(RUNS_PER_HOST), str(barrier)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(HOSTS)]
    deadline_s = time.monotonic() + 60
    while len(list(barrier.glob("*.ready"))) < HOSTS and time.monotonic() < deadline_s:
        time.sleep(0.01)
    (barrier / "go").touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
    ledger = RunLedger(ledger_target)
    runs = ledger.runs("team")
    assert ledger.count("team") == len(runs) == HOSTS * RUNS_PER_HOST
    assert {run.status for run in runs} == {"completed"} and all(run.ended_at for run in runs)
    assert {run.host for run in runs} == {f"host{n}" for n in range(HOSTS)}
    per_host = RUNS_PER_HOST * (RUNS_PER_HOST + 1) // 2
    assert sum(run.energy_j for run in runs) == HOSTS * per_host  # exact: whole joules
    assert sum(run.co2e_kg for run in runs) == HOSTS * per_host / 1024  # exact: binary fractions
    lr_0_per_host = len(range(0, RUNS_PER_HOST, 3))
    assert sum(run.params == {"lr": 0} for run in runs) == HOSTS * lr_0_per_host
