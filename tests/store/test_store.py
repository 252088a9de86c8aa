"""The store against real SQLite files and PostgreSQL databases: schema, transitions, lookups,
errors and concurrency. Tests that take `store` or `store_location` run on both engines."""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventually import eventually
from postgres import Database, db_columns, db_execute, db_rows, db_tables
from records import make_jobs, make_sweep
from sqlalchemy.exc import IntegrityError
from sweeps import ReadOnly, Sandbox

from tsq.backends import backend_for
from tsq.errors import StoreError, SweepNotFound
from tsq.files.results import ResultSummary, ended_summary, stored_copy
from tsq.files.spool import SpoolDir
from tsq.states import JobState
from tsq.store import (
    HEAD_REVISION,
    INTENT_SUBMIT,
    Job,
    JobUpdate,
    Rerun,
    Store,
    Sweep,
    default_location,
    locate,
    migrations_dir,
)

REPO = Path(__file__).resolve().parents[2]
TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"


def add(
    store: Store,
    sweep_id: str,
    n: int = 2,
    *,
    created_at: float = 1000.0,
    sweep_dir: str = "/nowhere",
) -> Sweep:
    sweep = make_sweep(sweep_id, created_at=created_at, sweep_dir=sweep_dir, njobs=n)
    store.add_sweep(sweep, make_jobs(sweep_id, n))
    return sweep


@pytest.fixture
def store(store_location: str) -> Store:
    return Store.open(store_location, create=True)


def sqlite_rows(path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


# -- opening and schema ---------------------------------------------------------------------------


def test_open_creates_the_directory_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tsq" / "tsq.db"
    store = Store.open(path, create=True)
    assert store.path == path
    assert store.display == str(path)
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert sqlite_rows(path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in sqlite_rows(path, "SELECT name FROM sqlite_master")}
    assert {"sweeps", "jobs", "ix_jobs_state", "ix_jobs_sweep_id"} <= tables


def test_reopening_does_not_import_alembic(store_location: str) -> None:
    """Nor psycopg for a SQLite store: its import is PostgreSQL's cost alone."""
    Store.open(store_location, create=True)
    probe = (
        "import sys; from tsq.store import Store; Store.open(sys.argv[1]);"
        " print('alembic' in sys.modules, 'psycopg' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, store_location], capture_output=True, text=True, check=True
    )
    postgres = store_location.startswith("postgresql")
    assert out.stdout.split() == ["False", str(postgres)]
    assert db_rows(store_location, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_head_revision_is_the_newest_script() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(migrations_dir()).get_current_head() == HEAD_REVISION


def test_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Store.open(f"sqlite:///{tmp_path}/url.db", create=True).path == tmp_path / "url.db"
    monkeypatch.chdir(tmp_path)
    assert Store.open("rel/tsq.db", create=True).path == tmp_path / "rel" / "tsq.db"
    with pytest.raises(StoreError, match="must be a file"):
        Store.open("sqlite://", create=True)


def test_postgresql_urls_use_psycopg_3_and_are_shown_without_password() -> None:
    for given in (
        "postgresql://u:pw@db.example:5433/tsq",
        "postgresql+psycopg://u:pw@db.example:5433/tsq",
    ):
        where = locate(given)
        assert where.path is None
        assert where.url.drivername == "postgresql+psycopg", "never psycopg2 (SQLAlchemy 2.0's)"
        assert where.url.password == "pw"
        assert where.display == given.replace(":pw@", "@")
    where = locate("postgresql:///tsq?service=lab&password=pw&sslmode=require")
    assert where.display == "postgresql:///tsq?service=lab&sslmode=require"
    for refused, said in [
        ("postgresql+psycopg2://u:pw@h/db", "psycopg 3"),
        ("mysql://u:pw@h/db", "unsupported store"),
        ("postgresql://u:pw@h:port/db", "invalid store URL"),
    ]:
        with pytest.raises(StoreError, match=said) as info:
            locate(refused)
        assert "pw" not in str(info.value), refused


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TSQ_STORE", "/x/custom.db")
    assert default_location() == "/x/custom.db"
    monkeypatch.delenv("TSQ_STORE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_location() == str(tmp_path / "tsq" / "tsq.db")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_location() == str(tmp_path / "home" / ".local" / "state" / "tsq" / "tsq.db")
    monkeypatch.setenv("TSQ_STORE", str(tmp_path / "env.db"))
    assert Store.open(create=True).path == tmp_path / "env.db"


# -- errors ---------------------------------------------------------------------------------------


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(path, create=True)
    assert str(info.value) == f"{path} is not a tsq store (not a SQLite database)"


def test_a_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE things (x INTEGER)")
    with pytest.raises(StoreError, match=f"^{path} is not a tsq store"):
        Store.open(path, create=True)
    assert sqlite_rows(path, TABLES) == [("things",)]


def test_another_projects_alembic_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.execute("INSERT INTO alembic_version VALUES ('abc123')")
        connection.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(StoreError, match=f"^{path} is not a tsq store"):
        Store.open(path, create=True)


def test_a_store_from_a_newer_tsq_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "tsq.db"
    Store.open(path, create=True)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError) as info:
        Store.open(path, create=True)
    assert str(info.value) == (
        f"{path} was written by a newer tsq (schema revision 0099); upgrade tsq"
    )
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [("0099",)]


def test_a_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = blocker / "sub" / "tsq.db"
    with pytest.raises(StoreError) as info:
        Store.open(path, create=True)
    message = str(info.value)
    assert str(path) in message and "Not a directory" in message
    assert "\n" not in message


def test_a_store_on_a_read_only_file_system(tmp_path: Path, read_only: ReadOnly) -> None:
    path = tmp_path / "ro" / "tsq.db"
    first = Store.open(path, create=True)
    add(first, "aaaa00000000")
    first.close()
    read_only(path.parent)
    with pytest.raises(StoreError) as info:
        second = Store.open(path)
        try:
            add(second, "bbbb00000000")
        finally:
            second.close()
    message = str(info.value)
    assert str(path) in message and "\n" not in message


@pytest.mark.parametrize(
    "magic, fuse, said",
    [(0x6969, None, "NFS"), (0xFF534D42, None, "CIFS"), (0x01021997, None, "9p"),
     (0x0BD00BD0, None, "Lustre"), (0x65735546, "sshfs", "fuse.sshfs")],
)  # fmt: skip
def test_sqlite_on_a_network_file_system_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, magic: int, fuse: str | None, said: str
) -> None:
    """WAL needs shared memory that hosts do not share: refused, never a store that two
    hosts would corrupt."""
    from tsq.store import engine

    monkeypatch.setattr(engine, "_fs_type", lambda directory: magic)
    monkeypatch.setattr(engine, "_fuse_subtype", lambda directory: fuse)
    path = tmp_path / "home" / "tsq.db"
    with pytest.raises(StoreError) as info:
        Store.open(path, create=True)
    assert str(info.value) == (
        f"{path} is on a network file system ({said}), where SQLite's WAL mode corrupts a store "
        "that several hosts use: put the store on a local disk, or use a PostgreSQL store "
        "(--store / TSQ_STORE postgresql://...)"
    )
    assert not path.exists()


def test_local_file_systems_are_told_from_network_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsq.store import engine

    # statfs read through ctypes agrees with coreutils' stat.
    stat = subprocess.run(["stat", "-f", "-c", "%t", str(tmp_path)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert engine._fs_type(str(tmp_path)) == int(stat.stdout, 16)
    assert engine.network_file_system(str(tmp_path)) is None
    # A local FUSE file system (rootless containers' fuse-overlayfs) keeps WAL.
    monkeypatch.setattr(engine, "_fs_type", lambda directory: engine.FUSE_MAGIC)
    monkeypatch.setattr(engine, "_fuse_subtype", lambda directory: "fuse-overlayfs")
    Store.open(tmp_path / "tsq.db", create=True)
    assert sqlite_rows(tmp_path / "tsq.db", "PRAGMA journal_mode") == [("wal",)]


# -- writes ---------------------------------------------------------------------------------------


def test_add_sweep_and_read_back(store: Store) -> None:
    add(store, "bbbb00000000", n=2, created_at=2000.0)
    first = make_sweep("aaaa00000000", created_at=1000.0, njobs=3)
    jobs = make_jobs("aaaa00000000", 3)
    store.add_sweep(first, jobs)
    assert all(job.id is not None for job in jobs)

    loaded = store.jobs(["bbbb00000000", "aaaa00000000"])
    assert [(j.sweep_id, j.num) for j in loaded] == [
        ("aaaa00000000", 0),
        ("aaaa00000000", 1),
        ("aaaa00000000", 2),
        ("bbbb00000000", 0),
        ("bbbb00000000", 1),
    ]
    job = loaded[1]
    assert job.overrides == ["lr=1", "model=a b"]
    assert job.state is JobState.QUEUED
    assert job.queue_id is None and job.updated_at > 0
    assert job.sweep.spool_dir == "/nowhere/.tsq"  # loaded although the session is gone
    assert store.jobs([]) == []


def test_add_sweep_is_all_or_nothing(store: Store) -> None:
    jobs = make_jobs("aaaa00000000", 2)
    jobs[1].num = 0
    with pytest.raises(IntegrityError):
        store.add_sweep(make_sweep("aaaa00000000"), jobs)
    with pytest.raises(SweepNotFound, match="the store has no sweeps yet"):
        store.find_sweep(None)


def test_add_jobs_extends_a_sweep(store: Store) -> None:
    add(store, "aaaa00000000", n=2)
    more = [Job(num=2, overrides=["lr=2"], label="aaaa00000000-2")]
    store.add_jobs("aaaa00000000", more)
    assert more[0].id is not None
    assert store.find_sweep("aaaa00000000").njobs == 3
    assert [j.num for j in store.jobs(["aaaa00000000"])] == [0, 1, 2]


def test_set_submitted_records_only_the_claim_holders_jobs(store: Store) -> None:
    sweep = make_sweep("aaaa00000000", njobs=3)
    jobs = make_jobs("aaaa00000000", 3)
    for job in jobs:
        job.intent, job.lease = INTENT_SUBMIT, "mine"
    jobs[1].lease = "another"
    store.add_sweep(sweep, jobs)
    servers = ["unix:41", "unix:42", "unix:42"]  # a server replaced after job 0 was queued
    submitted = {job.id: (7 + job.num, 100.0 + job.num, servers[job.num]) for job in jobs}
    store.set_submitted("mine", submitted)
    jobs = store.jobs(["aaaa00000000"])
    assert [(j.queue_id, j.submitted_at) for j in jobs] == [(7, 100.0), (None, None), (9, 102.0)]
    assert [(j.server_id, j.intent, j.lease) for j in jobs] == [
        ("unix:41", None, None),
        (None, INTENT_SUBMIT, "another"),
        ("unix:42", None, None),
    ], "each job's own server; the claim ends; another command's claim is not touched"


def test_apply_follows_the_transition_table(store: Store) -> None:
    add(store, "aaaa00000000", n=2)

    def now(num: int) -> Job:
        return store.jobs(["aaaa00000000"])[num]

    assert store.apply([JobUpdate.of(now(0), JobState.RUNNING, started_at=10.0, queue_id=3)]) == 1
    assert store.apply([JobUpdate.of(now(0), JobState.RUNNING)]) == 1  # re-confirming is allowed
    done = JobUpdate.of(now(0), JobState.COMPLETED, exit_code=0, ended_at=20.0, output_dir="/out/0")
    assert store.apply([done]) == 1
    # Terminal means terminal: neither going back nor switching to another end state.
    for target in (JobState.RUNNING, JobState.LOST, JobState.QUEUED):
        with pytest.raises(ValueError, match="no transition from completed"):
            store.apply([JobUpdate.of(now(0), target, reason="gone")])
    # A queued job may end directly; a stale update in a batch is skipped, the others apply.
    stale = JobUpdate(now(0).id, version=0, seen=JobState.RUNNING, state=JobState.CANCELLED)
    assert (
        store.apply(
            [
                JobUpdate.of(now(1), JobState.FAILED, reason="exit 3", exit_code=3, signal=None),
                stale,
            ]
        )
        == 1
    )

    a, b = store.jobs(["aaaa00000000"])
    assert a.state is JobState.COMPLETED
    assert (a.queue_id, a.started_at, a.ended_at, a.exit_code) == (3, 10.0, 20.0, 0)
    assert a.output_dir == "/out/0" and a.reason is None
    assert b.state is JobState.FAILED and (b.reason, b.exit_code) == ("exit 3", 3)
    assert b.updated_at >= a.updated_at > 0


def test_active_jobs_are_the_unfinished_ones(store: Store) -> None:
    add(store, "aaaa00000000", n=3)
    add(store, "bbbb00000000", n=1, created_at=2000.0)
    a0, a1, _ = store.jobs(["aaaa00000000"])
    store.apply([JobUpdate.of(a0, JobState.RUNNING), JobUpdate.of(a1, JobState.LOST)])

    active = store.active_jobs()
    assert [(j.sweep_id, j.num, j.state) for j in active] == [
        ("aaaa00000000", 0, "running"),
        ("aaaa00000000", 2, "queued"),
        ("bbbb00000000", 0, "queued"),
    ]
    assert active[0].sweep.backend_record["socket"] == "/tmp/socket"


# -- lookups --------------------------------------------------------------------------------------


def test_find_sweep(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SweepNotFound) as info:
        store.find_sweep(None)
    assert str(info.value) == "the store has no sweeps yet"

    sweep_dir = tmp_path / "multirun" / "2024-01-01" / "12-00-00"
    sweep_dir.mkdir(parents=True)
    add(store, "a1b2c3d4e5f6", created_at=1000.0, sweep_dir=str(sweep_dir))
    add(store, "a1c3d4e5f6a7", created_at=2000.0)
    add(store, "a1c3ffffffff", created_at=3000.0)

    assert store.find_sweep("a1b2c3d4e5f6").id == "a1b2c3d4e5f6"
    assert store.find_sweep("a1b").id == "a1b2c3d4e5f6"
    assert store.find_sweep(None).id == "a1c3ffffffff"
    assert store.find_sweep(str(sweep_dir)).id == "a1b2c3d4e5f6"
    assert store.find_sweep(str(sweep_dir) + "/").id == "a1b2c3d4e5f6"
    monkeypatch.chdir(tmp_path / "multirun")
    assert store.find_sweep("2024-01-01/12-00-00").id == "a1b2c3d4e5f6"
    (tmp_path / "link").symlink_to(sweep_dir)
    assert store.find_sweep(str(tmp_path / "link")).id == "a1b2c3d4e5f6"
    monkeypatch.chdir(sweep_dir)
    assert store.find_sweep(".").id == "a1b2c3d4e5f6"

    with pytest.raises(SweepNotFound) as info:
        store.find_sweep("a1")
    assert str(info.value) == (
        "'a1' is ambiguous: matches 3 sweeps (a1c3ffffffff, a1c3d4e5f6a7, a1b2c3d4e5f6);"
        " type more characters"
    )
    with pytest.raises(SweepNotFound) as info:
        store.find_sweep("ff")
    assert str(info.value) == "no sweep matches 'ff'"
    with pytest.raises(SweepNotFound, match="no sweep ran in"):
        store.find_sweep(str(tmp_path))
    with pytest.raises(SweepNotFound, match="no sweep matches '%'"):
        store.find_sweep("%")


def test_the_latest_sweep_in_a_reused_directory_wins(store: Store, tmp_path: Path) -> None:
    add(store, "aaaa00000000", created_at=1000.0, sweep_dir=str(tmp_path))
    add(store, "bbbb00000000", created_at=2000.0, sweep_dir=str(tmp_path))
    assert store.find_sweep(str(tmp_path)).id == "bbbb00000000"


def test_sweeps_active_or_recent(store: Store) -> None:
    add(store, "old000000000", n=1, created_at=1000.0)
    add(store, "oldactive000", n=2, created_at=1500.0)
    add(store, "new000000000", n=1, created_at=3000.0)
    old = store.jobs(["old000000000", "oldactive000"])
    store.apply(
        [
            JobUpdate.of(old[0], JobState.COMPLETED),
            JobUpdate.of(old[1], JobState.FAILED),
            JobUpdate.of(old[2], JobState.RUNNING),
        ]
    )
    assert [s.id for s in store.sweeps()] == ["new000000000", "oldactive000", "old000000000"]
    assert [s.id for s in store.sweeps(active_or_since=2000.0)] == [
        "new000000000",
        "oldactive000",
    ]
    assert [s.id for s in store.sweeps(active_or_since=0.0)] == [
        "new000000000",
        "oldactive000",
        "old000000000",
    ]


# -- migrations -----------------------------------------------------------------------------------


def alembic_cli(*args: str, store: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"store={store}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_alembic_cli_upgrade_check_downgrade(store_location: str) -> None:
    for step in (["upgrade", "head"], ["check"], ["downgrade", "base"]):
        result = alembic_cli(*step, store=store_location)
        assert result.returncode == 0, result.stderr
    assert db_tables(store_location) == {"alembic_version"}
    # A store emptied by a downgrade is recreated on the next open.
    add(Store.open(store_location, create=True), "aaaa00000000")
    assert db_rows(store_location, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_models_match_the_migrations(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tsq.store import Base

    with store.session(write=False) as session:
        context = MigrationContext.configure(session.connection())
        assert compare_metadata(context, Base.metadata) == []


# -- concurrency ----------------------------------------------------------------------------------


def _hammer(path: str, worker: int, rounds: int, barrier: Any, failures: Any) -> None:
    """One process of the concurrency test: open a fresh store at the same moment as the others,
    then write through the store's own API, a third of it in a read-then-write transaction
    (`new_attempts`: those fail under a deferred BEGIN)."""
    try:
        barrier.wait()
        store = Store.open(path, create=True)
        for i in range(rounds):
            sweep_id = uuid.uuid4().hex[:12]
            add(store, sweep_id, n=1, created_at=time.time())
            [job] = store.jobs([sweep_id])
            reason = f"worker {worker} round {i}"
            assert store.apply([JobUpdate.of(job, JobState.FAILED, reason=reason)]) == 1
            renewed = store.new_attempts(store.jobs([sweep_id]), [f"{sweep_id}#2"], "lease")
            assert len(renewed) == 1, reason
    except BaseException as e:
        failures.put(f"worker {worker}: {type(e).__name__}: {e}")
        raise


def test_many_processes_share_one_store(store_location: str) -> None:
    """8 processes open a new store at once (PostgreSQL: the migration's advisory lock keeps
    them from creating the same tables twice), then write side by side."""
    workers, rounds = 8, 25  # three writes a round: 75 writes per process
    path = store_location
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    failures = ctx.Queue()
    processes = [
        ctx.Process(target=_hammer, args=(path, w, rounds, barrier, failures))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert errors == []
    assert [p.exitcode for p in processes] == [0] * workers

    store = Store.open(path, create=True)
    assert len(store.sweeps()) == workers * rounds
    jobs = store.active_jobs()
    assert len(jobs) == workers * rounds
    assert {(j.state, j.attempt) for j in jobs} == {(JobState.QUEUED, 2)}
    archived = db_rows(path, "SELECT state, reason FROM attempts")
    assert len({reason for _, reason in archived}) == workers * rounds, "every write landed"
    assert {state for state, _ in archived} == {"failed"}


# -- schema upgrades ------------------------------------------------------------------------------


V1_STORE = Path(__file__).parents[1] / "data" / "store-v1.db"


def v1_store(location: str) -> str:
    """A store at the first revision (0001) at `location`, holding the data of
    tests/data/store-v1.db: that file itself for SQLite, its rows copied into a database that
    the alembic CLI took to 0001 for PostgreSQL."""
    if not location.startswith("postgresql"):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(V1_STORE, location)
        return location
    import psycopg
    from psycopg.types.json import Json

    result = alembic_cli("upgrade", "0001", store=location)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(V1_STORE) as source, psycopg.connect(location) as target:
        for table in ("sweeps", "jobs"):
            cursor = source.execute(f"SELECT * FROM {table} ORDER BY 1")
            names = [column[0] for column in cursor.description]
            rows = [
                [Json(json.loads(v)) if n == "overrides" else v for n, v in zip(names, row)]  # noqa: B905
                for row in cursor
            ]
            marks = ", ".join(["%s"] * len(names))
            target.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows
            )
        target.execute("SELECT setval(pg_get_serial_sequence('jobs', 'id'), max(id)) FROM jobs")
    return location


def test_a_v1_store_upgrades_in_place_and_loses_nothing(store_location: str) -> None:
    """tests/data/store-v1.db is a store at the first revision (0001) holding a sweep with jobs
    in four states. Opened by this tsq, it is upgraded in place with every record intact."""
    path = v1_store(store_location)
    assert db_rows(path, "SELECT version_num FROM alembic_version") == [("0001",)]
    before = named_rows(path, "jobs")
    sweep_before = named_rows(path, "sweeps")

    store = Store.open(path, create=True)

    assert db_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    after = named_rows(path, "jobs")
    renamed = {"ts_id": "queue_id"}  # 0009
    assert [{k: row[renamed.get(k, k)] for k in old} for old, row in zip(before, after)] == (  # noqa: B905
        before
    ), "every v1 column kept as it was"
    added = [
        {k: v for k, v in row.items() if k not in before[0] and k != "queue_id"} for row in after
    ]
    # attempt (0002); version, intent, lease, server_id (0003); host (0006): the sweep's;
    # restarts (0007): every earlier attempt was its submission's first run; result_summary
    # (0008): no copy, the result files are read
    added_by = {"attempt": 1, "version": 0, "intent": None, "lease": None, "server_id": None,
                "host": "host", "restarts": 0, "result_summary": None}  # fmt: skip
    assert added == [added_by] * 4, "each its own, unclaimed attempt"
    (sweep,) = named_rows(path, "sweeps")
    (old,) = sweep_before
    moved = {"ts_binary", "ts_socket"}  # 0009: into backend_record
    assert {k: sweep[k] for k in old if k not in moved} == {
        k: v for k, v in old.items() if k not in moved
    }
    # project, snapshot, git_commit, git_branch, git_dirty (0004): a v1 sweep's code is unknown;
    # backend, backend_variant (0005): every v1 sweep went to ts, its variant unknown;
    # backend_record (0009): its ts binary and socket
    assert {k: v for k, v in sweep.items() if k not in old} == {
        "project": None, "snapshot": None, "git_commit": None, "git_branch": None,
        "git_dirty": None, "backend": "ts", "backend_variant": None,
        "backend_record": {"binary": old["ts_binary"], "socket": old["ts_socket"]},
    }  # fmt: skip
    jobs = store.jobs(["v1sweep00001"])
    assert all(isinstance(j.state, JobState) for j in jobs), "states come back typed"
    assert [(j.num, j.state, j.overrides, j.attempt) for j in jobs] == [
        (0, "completed", ["lr=0.1"], 1), (1, "failed", ["lr=0.2"], 1),
        (2, "lost", ["lr=0.3"], 1), (3, "queued", ["lr=0.4"], 1),
    ]  # fmt: skip
    assert jobs[2].reason == "the ts server on /tmp/s is gone and the job left no result"
    assert [j.num for j in store.active_jobs()] == [3]


def named_rows(location: str, table: str) -> list[dict[str, Any]]:
    """A table's rows as column -> value, in id order (JSON columns decoded)."""
    columns = sorted(db_columns(location, table))
    rows = db_rows(location, f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
    return [
        {c: json.loads(v) if c == "backend_record" and isinstance(v, str) else v
         for c, v in zip(columns, row)}  # noqa: B905
        for row in rows
    ]  # fmt: skip


REVISIONS = [f"{n:04d}" for n in range(1, int(HEAD_REVISION))]


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_store_at_every_earlier_revision_upgrades_with_its_queue_names(
    store_location: str, revision: str
) -> None:
    """A store left at any earlier revision, holding a ts sweep (and from 0005, when sweeps
    recorded their backend, a Slurm one), opens at the head with every queue id and queue
    location where 0009 put them, and its sweeps' backends come back as they were queued. Down
    to 0008 again gives the old columns their old values."""
    path = v1_store(store_location)
    result = alembic_cli("upgrade", revision, store=path)
    assert result.returncode == 0, result.stderr
    slurm = revision >= "0005"
    if slurm:
        insert = (
            "INSERT INTO sweeps (id, created_at, task_name, app, cwd, sweep_dir, spool_dir, "
            "ts_binary, ts_socket, launcher_pid, hostname, njobs, backend, backend_variant) "
            "VALUES ('slurm0000001', 1.0, 'train', 'train.py', '/w', '/w/m', '/w/m/.tsq', "
            "'sbatch', '/etc/slurm/slurm.conf', 1, 'host', 1, 'slurm', 'linux')"
        )
        db_execute(
            path,
            insert,
            "INSERT INTO jobs (sweep_id, num, overrides, state, label, ts_id, updated_at) "
            "VALUES ('slurm0000001', 0, '[]', 'queued', 'train/slurm0000001', 4242, 1.0)",
        )
    jobs_before = db_rows(path, "SELECT id, num, ts_id FROM jobs ORDER BY id")

    store = Store.open(path, create=True)

    assert db_rows(path, "SELECT id, num, queue_id FROM jobs ORDER BY id") == jobs_before
    assert [j.queue_id for j in store.jobs(["v1sweep00001"])] == [7, 8, 9, 10]
    ts = backend_for(store.find_sweep("v1sweep00001"))
    assert (ts.name, ts.binary, ts.socket) == ("ts", "/usr/bin/tsp", "/tmp/s")  # type: ignore[attr-defined]
    if slurm:
        cluster = backend_for(store.find_sweep("slurm0000001"))
        assert (cluster.name, cluster.cluster, cluster.conf) == (  # type: ignore[attr-defined]
            "slurm",
            "linux",
            "/etc/slurm/slurm.conf",
        )
        assert [j.queue_id for j in store.jobs(["slurm0000001"])] == [4242]
    store.close()

    result = alembic_cli("downgrade", "0008", store=path)
    assert result.returncode == 0, result.stderr
    assert db_rows(path, "SELECT id, num, ts_id FROM jobs ORDER BY id") == jobs_before
    old = db_rows(path, "SELECT id, ts_binary, ts_socket FROM sweeps ORDER BY id")
    expected = [("v1sweep00001", "/usr/bin/tsp", "/tmp/s")]
    if slurm:
        expected.insert(0, ("slurm0000001", "sbatch", "/etc/slurm/slurm.conf"))
    assert old == expected


def test_downgrade_to_v1_and_back_keeps_the_jobs(store_location: str) -> None:
    """Downgrades exist: head -> 0001 drops only what 0001 cannot hold (earlier attempts);
    upgrading again gives a working store."""
    path = v1_store(store_location)
    store = Store.open(path, create=True)
    jobs = store.jobs(["v1sweep00001"])
    store.new_attempts([jobs[1]], ["train/v1sweep00001/1#2"], "lease")
    store.close()
    assert db_rows(path, "SELECT COUNT(*) FROM attempts") == [(1,)]
    result = alembic_cli("downgrade", "0001", store=path)
    assert result.returncode == 0, result.stderr
    assert db_rows(path, "SELECT version_num FROM alembic_version") == [("0001",)]
    assert "attempts" not in db_tables(path)
    rows = db_rows(path, "SELECT num, state, label FROM jobs ORDER BY num")
    assert rows == [
        (0, "completed", "train/v1sweep00001/0"), (1, "queued", "train/v1sweep00001/1#2"),
        (2, "lost", "train/v1sweep00001/2"), (3, "queued", "train/v1sweep00001/3"),
    ]  # fmt: skip
    again = Store.open(path)
    assert [j.attempt for j in again.jobs(["v1sweep00001"])] == [1, 1, 1, 1]


def test_new_attempts_archive_the_ended_one(store: Store, store_location: str) -> None:
    add(store, "retry0000001", n=2)
    first = store.jobs(["retry0000001"])
    store.apply([
        JobUpdate.of(first[0], JobState.FAILED, reason="boom", exit_code=1, queue_id=5),
    ])  # fmt: skip
    jobs = store.jobs(["retry0000001"])
    renewed = store.new_attempts(jobs, ["new-0", "new-1"], "retry-lease")
    assert [j.num for j in renewed] == [0], "job 1 is still queued: not renewed"
    job = store.jobs(["retry0000001"])[0]
    assert (job.state, job.attempt, job.label, job.queue_id, job.reason) == (
        "queued",
        2,
        "new-0",
        None,
        None,
    )
    assert (job.intent, job.lease) == (INTENT_SUBMIT, "retry-lease"), "claimed by the retry"
    history = db_rows(
        store_location, "SELECT number, state, reason, exit_code, queue_id FROM attempts"
    )
    assert history == [(1, "failed", "boom", 1, 5)]
    assert store.new_attempts([jobs[0]], ["again"], "l2") == [], "an attempt is renewed only once"


def test_a_result_summary_copy_keeps_nan_and_moves_with_its_attempt(
    store: Store, store_location: str
) -> None:
    """The copy of a summary the refresh keeps is the summary, NaN included (PostgreSQL's JSON
    types would refuse it: the column is text), and a retry archives it with its attempt."""
    add(store, "copy00000001", n=1)
    summary = ResultSummary(
        status="completed", exit_code=0, error=None, traceback=None,
        return_value={"loss": math.nan, "acc": 0.5}, started_at=1.0, ended_at=2.0,
        output_dir=None, working_dir=None, task_name="train",
    )  # fmt: skip
    job = store.jobs(["copy00000001"])[0]
    store.apply([JobUpdate.of(job, JobState.COMPLETED, result_summary=stored_copy(summary))])
    job = store.jobs(["copy00000001"])[0]
    got, problem = ended_summary("/nowhere", job)
    assert problem is None and got is not None
    assert math.isnan(got.return_value["loss"]) and got.return_value["acc"] == 0.5
    assert got.started_at == 1.0 and got.task_name == "train"

    store.new_attempts([job], ["again"], "retry-lease")
    job = store.jobs(["copy00000001"])[0]
    assert job.result_summary is None, "the new attempt has no result yet"
    archived = db_rows(store_location, "SELECT number, result_summary FROM attempts")
    assert archived == [(1, stored_copy(summary))]


def test_a_rerun_archives_each_earlier_run_and_the_job_becomes_the_latest(
    store: Store, store_location: str
) -> None:
    """Slurm ran a running job's submission twice more: both earlier runs become attempts as
    decided (same submission: label, queue id), and the row is the third run, queued; a stale
    rerun (decided from an older version) changes nothing, nor does a retry keep the count."""
    add(store, "rerun0000001", n=1)
    (first,) = store.jobs(["rerun0000001"])
    store.apply([JobUpdate.of(first, JobState.RUNNING, started_at=5.0, queue_id=77)])
    (running,) = store.jobs(["rerun0000001"])
    ended = (
        JobUpdate.of(running, JobState.FAILED, reason="ran again", started_at=5.0),
        JobUpdate.of(running, JobState.COMPLETED, started_at=6.0, ended_at=7.0, exit_code=0),
    )
    stale = Rerun(first.id, first.version, first.state, ended)
    assert store.record_reruns([stale]) == [], "decided from an older version"
    assert store.record_reruns([Rerun(running.id, running.version, JobState.RUNNING, ended)]) == [
        running.id
    ]
    (job,) = store.jobs(["rerun0000001"])
    assert (job.state, job.attempt, job.restarts, job.queue_id, job.label, job.started_at) == (
        "queued", 3, 2, 77, running.label, None,
    )  # fmt: skip
    history = db_rows(
        store_location,
        "SELECT number, state, reason, started_at, ended_at, queue_id, label, restarts"
        " FROM attempts ORDER BY number",
    )
    assert history == [
        (1, "failed", "ran again", 5.0, None, 77, running.label, 0),
        (2, "completed", None, 6.0, 7.0, 77, running.label, 1),
    ]
    store.apply([JobUpdate.of(job, JobState.FAILED, reason="x")])
    (failed,) = store.jobs(["rerun0000001"])
    (retried,) = store.new_attempts([failed], ["retry-label"], "lease")
    assert (retried.attempt, retried.restarts) == (4, 0), "a new submission's first run"


def test_two_racing_retries_renew_a_job_once(pg_database: Database) -> None:
    """Two retries read the same failed job and renew it at the same moment. On PostgreSQL
    (writers run side by side) the second must wait for the first and then leave the job
    alone; without a row lock both archived attempt 1 and one died of a UniqueViolation.
    A third connection holds the row until both retries are waiting on it."""
    import psycopg

    first = Store.open(pg_database.url, create=True)
    second = Store.open(pg_database.url)
    add(first, "race00000001", n=1)
    job = first.jobs(["race00000001"])[0]
    first.apply([JobUpdate.of(job, JobState.FAILED, reason="boom")])
    failed = first.jobs(["race00000001"])[0]
    outcome: dict[str, Any] = {}

    def retry(store: Store, name: str) -> None:
        try:
            outcome[name] = [j.num for j in store.new_attempts([failed], [name], name)]
        except Exception as e:
            outcome[name] = e

    with (
        psycopg.connect(pg_database.url) as holder,
        psycopg.connect(pg_database.url, autocommit=True) as watcher,
    ):
        holder.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (failed.id,))
        threads = [
            threading.Thread(target=retry, args=(store, name))
            for store, name in ((first, "one"), (second, "two"))
        ]
        for thread in threads:
            thread.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        eventually(
            lambda: watcher.execute(waiting).fetchone(),  # type: ignore[arg-type]
            "both retries to wait on the row",
            until=lambda row: row == (2,),
            timeout=30,
            interval=0.02,
        )
        holder.commit()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(map(str, outcome.values())) == ["[0]", "[]"], outcome
    assert db_rows(pg_database.url, "SELECT number, state FROM attempts") == [(1, "failed")]
    job = first.jobs(["race00000001"])[0]
    assert (job.attempt, job.state) == (2, "queued")


def test_a_stale_refresh_never_writes_onto_a_new_attempt(store: Store) -> None:
    """A refresh reads attempt 1 running; meanwhile it fails, and a retry makes attempt 2.
    What the refresh decided for attempt 1 must not land on attempt 2."""
    add(store, "aaaa00000000", n=1)
    store.apply([JobUpdate.of(store.jobs(["aaaa00000000"])[0], JobState.RUNNING)])
    read_by_refresh = store.jobs(["aaaa00000000"])[0]
    store.apply([JobUpdate.of(read_by_refresh, JobState.FAILED, reason="exit 1")])
    store.new_attempts(store.jobs(["aaaa00000000"]), ["again"], "retry")
    stale = JobUpdate.of(read_by_refresh, JobState.COMPLETED, exit_code=0)
    assert store.apply([stale]) == 0
    job = store.jobs(["aaaa00000000"])[0]
    assert (job.attempt, job.state, job.exit_code) == (2, "queued", None)


def test_claims_go_to_one_command_and_end_with_it(store: Store) -> None:
    add(store, "aaaa00000000", n=2)
    jobs = store.jobs(["aaaa00000000"])
    assert store.claim(jobs, "cancel", "first") == jobs
    assert store.claim(jobs, "cancel", "second") == [], "read before the first claim: stale"
    assert store.settle_cancelled("second", {jobs[0].id: (2.0, 5.0)}, "no") == 0, "not its claim"
    assert store.settle_cancelled("first", {jobs[0].id: (2.0, 5.0)}, "cancelled") == 1
    store.release("aaaa00000000", "first")
    a, b = store.jobs(["aaaa00000000"])
    assert (a.state, a.started_at, a.ended_at) == ("cancelled", 2.0, 5.0)
    assert (a.reason, a.lease) == ("cancelled", None)
    assert (b.state, b.intent, b.lease) == ("queued", None, None)


def test_downgrades_since_attempts_keep_every_attempt_and_job(store_location: str) -> None:
    """Going down to 0002 (attempts, before leases and code provenance) and up again loses no
    job and no archived attempt (a table rebuild would cascade-delete them)."""
    path = store_location
    store = Store.open(path, create=True)
    add(store, "hist00000001", n=2)
    job = store.jobs(["hist00000001"])[0]
    store.apply([JobUpdate.of(job, JobState.FAILED, reason="boom")])
    store.new_attempts(store.jobs(["hist00000001"])[:1], ["again"], "lease")
    store.close()
    attempts = db_rows(path, "SELECT job_id, number, state, reason FROM attempts")
    jobs = db_rows(path, "SELECT id, num, state, attempt FROM jobs ORDER BY id")
    assert attempts == [(job.id, 1, "failed", "boom")]
    result = alembic_cli("downgrade", "0002", store=path)
    assert result.returncode == 0, result.stderr
    assert db_rows(path, "SELECT job_id, number, state, reason FROM attempts") == attempts
    assert db_rows(path, "SELECT id, num, state, attempt FROM jobs ORDER BY id") == jobs
    again = Store.open(path)
    assert [(j.num, j.attempt) for j in again.jobs(["hist00000001"])] == [(0, 2), (1, 1)]
    assert db_rows(path, "SELECT job_id, number, state, reason FROM attempts") == attempts


def test_hosts_are_filled_in_on_upgrade_and_dropped_on_downgrade(store_location: str) -> None:
    """0006 records the host each attempt was queued on: attempts from before it were queued on
    their sweep's host, jobs and archived attempts alike. Down to 0005 and up again keeps every
    job and attempt."""
    path = v1_store(store_location)
    store = Store.open(path, create=True)
    jobs = store.jobs(["v1sweep00001"])
    store.new_attempts([jobs[1]], ["train/v1sweep00001/1#2"], "lease", host="other")
    store.close()
    assert db_rows(path, "SELECT number, host FROM attempts") == [(1, "host")]
    assert db_rows(path, "SELECT num, host FROM jobs ORDER BY num") == [
        (0, "host"), (1, "other"), (2, "host"), (3, "host"),
    ]  # fmt: skip
    jobs_before = db_rows(path, "SELECT id, num, state, attempt, label FROM jobs ORDER BY id")
    result = alembic_cli("downgrade", "0005", store=path)
    assert result.returncode == 0, result.stderr
    assert "host" not in db_columns(path, "jobs") | db_columns(path, "attempts")
    assert db_rows(path, "SELECT id, num, state, attempt, label FROM jobs ORDER BY id") == (
        jobs_before
    )
    assert db_rows(path, "SELECT number, state FROM attempts") == [(1, "failed")]
    again = Store.open(path)
    assert db_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert [j.queued_on for j in again.jobs(["v1sweep00001"])] == ["host"] * 4, (
        "filled in again from the sweep"
    )


# -- PostgreSQL lock order and deadlocks ----------------------------------------------------------


def _deadlocks(database: Database) -> int:
    """PostgreSQL's count of deadlocks detected in the database, once every other connection to
    it has gone (a backend hands its counts in when it exits)."""
    import psycopg

    with psycopg.connect(database.cluster.url(), autocommit=True) as watcher:
        others = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        eventually(
            lambda: watcher.execute(others, (database.name,)).fetchone(),
            "the connections to the store to close",
            until=lambda row: row == (0,),
            interval=0.02,
        )
        watcher.execute("SELECT pg_stat_clear_snapshot()")
        row = watcher.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (database.name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_refreshes_applying_in_opposite_orders_never_deadlock(pg_database: Database) -> None:
    """Two writers (each a store of its own, as two `tsq status` refreshes are) apply updates of
    the same 40 jobs at the same moment, one in id order, the other in reverse, in two shapes,
    100 times. Every apply must succeed, and PostgreSQL must never have had to break a
    deadlock: the rows are locked in one order whatever order the updates came in. (Without
    that, nearly every round deadlocked, and without the retry one writer failed.)"""
    njobs, rounds = 40, 100
    stores = [Store.open(pg_database.url, create=True), Store.open(pg_database.url)]
    add(stores[0], "order0000001", n=njobs)
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def refresh(index: int) -> None:
        store = stores[index]
        try:
            for i in range(rounds):
                jobs = store.jobs(["order0000001"])
                if index:
                    jobs.reverse()
                updates = [
                    JobUpdate.of(job, JobState.RUNNING, reason=f"{index} {i}")
                    if job.num % 2
                    else JobUpdate.of(job, JobState.RUNNING, queue_id=i)
                    for job in jobs
                ]
                barrier.wait(timeout=60)
                store.apply(updates)
        except Exception as e:
            failures.append(f"writer {index}: {type(e).__name__}: {e}")
            barrier.abort()

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for store in stores:
        store.close()
    assert failures == []
    assert _deadlocks(pg_database) == 0
    jobs = Store.open(pg_database.url).jobs(["order0000001"])
    assert {job.state for job in jobs} == {JobState.RUNNING}
    assert {job.version for job in jobs} == {rounds}, "each round one of the two writes landed"


def test_a_transaction_aborted_as_a_deadlock_is_run_again(pg_database: Database) -> None:
    """A real deadlock: another connection holds job 2, `apply` locks job 1 and waits for
    job 2, then the other connection asks for job 1. PostgreSQL aborts the apply (its
    deadlock check runs first: the other connection's is set to wait longer); the apply must
    run again once the other commits, and land, rather than fail with "deadlock detected"."""
    import psycopg

    store = Store.open(pg_database.url, create=True)
    add(store, "dead00000001", n=2)
    first, second = store.jobs(["dead00000001"])
    updates = [JobUpdate.of(job, JobState.FAILED, reason="exit 3") for job in (first, second)]
    outcome: list[Any] = []

    def apply() -> None:
        try:
            outcome.append(store.apply(updates))
        except Exception as e:
            outcome.append(e)

    with (
        psycopg.connect(pg_database.url) as other,
        psycopg.connect(pg_database.url, autocommit=True) as watcher,
    ):
        other.execute("SET deadlock_timeout = '60s'")
        other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (second.id,))
        thread = threading.Thread(target=apply)
        thread.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        )
        eventually(
            lambda: watcher.execute(waiting, (pg_database.name,)).fetchone(),
            "the apply to wait for job 2",
            until=lambda row: row == (1,),
            interval=0.02,
        )
        # Blocks until PostgreSQL breaks the deadlock by aborting the apply's transaction.
        other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (first.id,))
        other.commit()
        thread.join(timeout=120)
    store.close()
    assert outcome == [2]
    assert _deadlocks(pg_database) == 1, "PostgreSQL broke a real deadlock"
    jobs = Store.open(pg_database.url).jobs(["dead00000001"])
    assert [(job.state, job.reason) for job in jobs] == [(JobState.FAILED, "exit 3")] * 2


def test_another_applications_sqlite_file_is_refused_unwritten(tmp_path: Path) -> None:
    """A valid SQLite database of another application, named as the store by mistake (by a
    command that only reads, and by a launch, which may create a store): refused, and not a
    byte of it written. It used to be switched to WAL first, which changed its header."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE things (x INTEGER)")
        connection.execute("INSERT INTO things VALUES (1)")
    connection.close()
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir()))
    proc = subprocess.run(
        [sys.executable, "-m", "tsq", "status", "--store", str(path)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.strip().endswith(f"{path} is not a tsq store (it holds other tables)")
    with pytest.raises(StoreError, match=f"^{path} is not a tsq store"):
        Store.open(path, create=True)
    assert (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir())) == before
    assert sqlite_rows(path, "PRAGMA journal_mode") == [("delete",)]


# -- a lost store ---------------------------------------------------------------------------------


def test_a_deleted_store_is_said_and_its_sweeps_are_adopted_from_their_files(
    sandbox: Sandbox,
) -> None:
    """The store is deleted (with its -wal and -shm) while one sweep has ended and another's
    jobs wait in ts. A read-only command says there is no store and names `tsq adopt`; `tsq
    adopt DIR` records each sweep again from its spool dir, the ended jobs as their results
    say, the waiting ones found in ts by their labels; they then run to the end as recorded.
    Adopting again changes nothing."""
    sandbox.sweep("x=1,2")
    [first] = {job["sweep"] for job in sandbox.wait_terminal()}
    blocker = sandbox.block_queue()
    sandbox.sweep("x=3,4")
    jobs = sandbox.status()
    dirs = {spool.name: spool.parent.parent for spool in sandbox.root.glob("multirun/*/.tsq/*")}
    [second] = set(dirs) - {first}
    assert {job["state"] for job in jobs if job["sweep"] == second} == {"queued"}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sandbox.store}{suffix}").unlink(missing_ok=True)

    said = sandbox.tsq("status", check=False)
    assert said.returncode == 2
    assert f"no tsq store at {sandbox.store}" in said.stderr and "tsq adopt" in said.stderr
    # A launch into the ended sweep's dir makes a new store, and says what it does not know.
    into = sandbox.run([sys.executable, "app.py", "-m", "hydra/launcher=ts",
                        f"hydra.sweep.dir={dirs[first]}", "x=5"])  # fmt: skip
    assert (
        f"{dirs[first]} holds the files of sweep {first}, which the store {sandbox.store} does "
        f"not know (was it deleted or re-created?); its jobs may still run there: `tsq adopt "
        f"{dirs[first] / '.tsq' / first}` records it again"
    ) in into.stdout + into.stderr

    assert sandbox.tsq("adopt", str(dirs[first])).stdout == (
        f"sweep {first}: adopted 2 jobs (2 completed)\n"
    )
    spool = dirs[second] / ".tsq" / second
    # The second sweep's launch record as tsq wrote it before revision 0009 (the queue's
    # location in ts_binary and ts_socket): adopted alike, and found in that queue.
    (record_path,) = SpoolDir(spool).launch_records()
    record = json.loads(record_path.read_text())
    where = record["sweep"].pop("backend_record")
    record["sweep"].update(ts_binary=where["binary"], ts_socket=where["socket"])
    record_path.write_text(json.dumps(record))
    assert sandbox.tsq("adopt", str(spool)).stdout == f"sweep {second}: adopted 2 jobs (2 queued)\n"
    again = sandbox.tsq("adopt", str(dirs[first]))
    assert again.stdout == f"nothing adopted from {dirs[first]}\n"
    assert f"sweep {first} is already in the store" in again.stderr
    assert len(sandbox.status()) == 5, "the sweep launched meanwhile, and the two adopted"

    queued = [job for job in sandbox.status() if job["state"] == "queued"]
    assert len(queued) == 3 and all(job["queue_id"] is not None for job in queued), "found in ts"
    sandbox.release(blocker)
    final = sandbox.wait_terminal()
    assert sorted((job["overrides"], job["state"]) for job in final) == [
        ([f"x={x}"], "completed") for x in (1, 2, 3, 4, 5)
    ]
    results = json.loads(sandbox.tsq("collect", second, "--json").stdout)
    assert [r["return_value"]["x"] for r in results] == [3, 4], "the adopted sweep's results"
