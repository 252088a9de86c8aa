"""`python -m tsq` against stores built through the package API, as a user would type it.

Every job in these stores is terminal, so `status` has nothing to ask task-spooler; the sweeps
still name a private socket (the `ts_socket` fixture), never the user's default one. So these
tests run on Debian's ts only (`ts_variant` below), except the one that runs a real ts job.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import VARIANTS
from postgres import SECRET_PASSWORD, SECRET_ROLE, Cluster, Database, db_tables
from records import job, local_sweep

from tsq.cli import parser
from tsq.store import Store, locate

DAY = 24 * 3600
JSON_KEYS = {"sweep", "num", "state", "overrides", "queue_id", "exit_code", "output_dir"}
STATES = {"queued", "running", "completed", "failed", "cancelled", "lost"}


@dataclass
class Cli:
    """Runs `python -m tsq` from a directory outside the repo, with no store configured."""

    cwd: Path
    socket: str

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TSQ_STORE")}
        # Where the default store would go: a test that reaches it finds it here, not in ~.
        env["XDG_STATE_HOME"] = str(self.cwd / "state")
        env["TS_SOCKET"] = self.socket
        return {**env, **(extra or {})}

    def __call__(
        self, *args: str | os.PathLike[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "tsq", *map(os.fspath, args)], env=env)

    def run(
        self, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.cwd,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def ts_variant() -> str:
    """These tests ask no ts server for anything (but the one parametrised over both)."""
    return "debian"


@pytest.fixture
def cli(tmp_path: Path, ts_socket: str) -> Cli:
    work = tmp_path / "work"
    work.mkdir()
    return Cli(work, ts_socket)


@pytest.fixture
def store(tmp_path: Path, ts_socket: str) -> Path:
    """Two recent sweeps sharing the prefix `abc`, and one of three days ago."""
    path = tmp_path / "store" / "tsq.db"
    opened = Store.open(path, create=True)
    now = time.time()
    opened.add_sweep(
        local_sweep("abc123000001", tmp_path, ts_socket, created_at=now - 120, njobs=2),
        [
            job(0, "completed", "lr=0.1", "model=a b", queue_id=3, exit_code=0,
                output_dir=str(tmp_path / "out" / "0"), started_at=now - 100,
                ended_at=now - 90),
            job(1, "failed", "lr=0.2", "model=a b", queue_id=4, exit_code=1,
                reason="ValueError: lr too big"),
        ],
    )  # fmt: skip
    opened.add_sweep(
        local_sweep("abc456000002", tmp_path, ts_socket, created_at=now - 60, njobs=1),
        [job(0, "cancelled", "lr=0.3", reason="skipped by ts")],
    )
    opened.add_sweep(
        local_sweep("def000000003", tmp_path, ts_socket, created_at=now - 3 * DAY, njobs=1),
        [job(0, "completed", "lr=0.4")],
    )
    return path


def sweep_ids(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("sweep ")]


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tsq: ")
    return lines[0]


# -- finding a sweep ----------------------------------------------------------------------------


def test_ambiguous_prefix_names_every_match(cli: Cli, store: Path) -> None:
    line = one_error_line(cli("status", "abc", "--store", store))
    assert "ambiguous" in line
    assert "abc123000001" in line and "abc456000002" in line
    assert "def000000003" not in line


def test_unknown_prefix(cli: Cli, store: Path) -> None:
    line = one_error_line(cli("status", "zzz", "--store", store))
    assert "no sweep matches" in line and "zzz" in line


def test_unique_prefix_shows_only_that_sweep(cli: Cli, store: Path) -> None:
    proc = cli("status", "abc1", "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert sweep_ids(proc.stdout) == ["abc123000001"]
    assert "abc456000002" not in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[3][:4] == ["0", "completed", "3", "0"]
    assert rows[4][:4] == ["1", "failed", "4", "1"]
    assert "(ValueError: lr too big)" in proc.stdout


def test_sweep_found_by_its_directory(cli: Cli, store: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "multirun" / "def000000003"
    for ref in (str(sweep_dir), os.path.relpath(sweep_dir, cli.cwd), f"{sweep_dir}/"):
        proc = cli("status", ref, "--store", store)
        assert proc.returncode == 0, (ref, proc.stderr)
        assert sweep_ids(proc.stdout) == ["def000000003"], ref
    line = one_error_line(cli("status", str(tmp_path / "multirun" / "nope"), "--store", store))
    assert "no sweep ran in" in line


# -- status -------------------------------------------------------------------------------------


def test_status_json(cli: Cli, store: Path, tmp_path: Path) -> None:
    proc = cli("status", "--all", "--json", "--store", store)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) >= JSON_KEYS, row
        assert row["state"] in STATES
        assert isinstance(row["overrides"], list)
    got = [(r["sweep"], r["num"], r["state"], r["overrides"]) for r in rows]
    # Newest sweep first, jobs in order within a sweep.
    assert got == [
        ("abc456000002", 0, "cancelled", ["lr=0.3"]),
        ("abc123000001", 0, "completed", ["lr=0.1", "model=a b"]),
        ("abc123000001", 1, "failed", ["lr=0.2", "model=a b"]),
        ("def000000003", 0, "completed", ["lr=0.4"]),
    ]
    first = rows[1]
    assert (first["queue_id"], first["exit_code"]) == (3, 0)
    assert first["output_dir"] == str(tmp_path / "out" / "0")
    assert first["duration"] == pytest.approx(10)
    assert rows[2]["reason"] == "ValueError: lr too big"
    assert rows[3]["queue_id"] is None and rows[3]["exit_code"] is None


def test_status_lists_recent_sweeps_unless_all(cli: Cli, store: Path) -> None:
    recent = cli("status", "--store", store)
    assert recent.returncode == 0, recent.stderr
    assert sweep_ids(recent.stdout) == ["abc456000002", "abc123000001"]
    assert "def000000003" not in recent.stdout
    every = cli("status", "--all", "--store", store)
    assert sweep_ids(every.stdout) == ["abc456000002", "abc123000001", "def000000003"]
    as_json = json.loads(cli("status", "--json", "--store", store).stdout)
    assert {row["sweep"] for row in as_json} == {"abc456000002", "abc123000001"}


@pytest.mark.parametrize("ts_variant", VARIANTS)
def test_old_sweep_with_a_running_job_is_still_listed(
    cli: Cli, store: Path, tmp_path: Path, ts_socket: str, ts_binary: str, ts_variant: str
) -> None:
    """Unfinished sweeps stay on `status` however old: here a job that ts really runs."""
    tsp = ts_binary
    env = cli.env()
    label = "train/old000000004/0"
    queued = subprocess.run(
        [tsp, "-L", label, "sleep", "60"], env=env, capture_output=True, text=True, timeout=10
    )
    assert queued.returncode == 0, queued.stderr
    queue_id = int(queued.stdout)
    try:
        old = local_sweep(
            "old000000004",
            tmp_path,
            ts_socket,
            created_at=time.time() - 3 * DAY,
            njobs=1,
            binary=ts_binary,
            variant="gpu-task-spooler" if ts_variant == "fork" else "task-spooler",
        )
        Store.open(store).add_sweep(
            old, [job(0, "queued", "lr=0.5", queue_id=queue_id, label=label)]
        )
        proc = cli("status", "--store", store)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert sweep_ids(proc.stdout) == ["abc456000002", "abc123000001", "old000000004"]
        (row,) = json.loads(cli("status", "old0", "--json", "--store", store).stdout)
        assert (row["state"], row["queue_id"]) == ("running", queue_id)
    finally:
        subprocess.run([tsp, "-k", str(queue_id)], env=env, capture_output=True, timeout=10)


# -- collect ------------------------------------------------------------------------------------


def test_collect_without_result_files_is_not_a_traceback(cli: Cli, store: Path) -> None:
    """The store says completed/failed but the result files are gone (e.g. the sweep dir was
    deleted). collect still lists every terminal job, says the completed one's result is
    missing rather than showing it as None, and exits 1."""
    proc = cli("collect", "abc1", "--store", store)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["0", "completed"], ["1", "failed"]]
    assert "ValueError: lr too big" in proc.stdout
    rows = json.loads(cli("collect", "abc1", "--json", "--store", store).stdout)
    assert [(r["num"], r["state"]) for r in rows] == [(0, "completed"), (1, "failed")]
    assert rows[0]["error"].startswith("its result file ") and "is missing" in rows[0]["error"]
    assert rows[1]["error"] == "failed: ValueError: lr too big"
    assert rows[0]["return_value"] is None


def test_collect_defaults_to_the_latest_sweep(cli: Cli, store: Path) -> None:
    proc = cli("collect", "--json", "--store", store)
    assert proc.returncode == 1, "its only job was cancelled"
    rows = json.loads(proc.stdout)
    assert [(r["sweep"], r["state"]) for r in rows] == [("abc456000002", "cancelled")]
    assert rows[0]["error"] == "cancelled: skipped by ts"


# -- the store ----------------------------------------------------------------------------------


def test_store_that_is_not_sqlite_is_refused_and_left_alone(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    for command in ("status", "collect"):
        line = one_error_line(cli(command, "--store", path))
        assert str(path) in line and "not a tsq store" in line
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "work"]
    assert not (cli.cwd / "state").exists(), "the default store must not be touched"


def test_tsq_store_variable_is_honoured(cli: Cli, store: Path) -> None:
    proc = cli("status", "abc1", env={"TSQ_STORE": str(store)})
    assert proc.returncode == 0, proc.stderr
    assert sweep_ids(proc.stdout) == ["abc123000001"]
    assert not (cli.cwd / "state").exists(), "with $TSQ_STORE set, the default store is unused"
    # --store wins over the variable.
    other = cli.cwd / "other.db"
    line = one_error_line(cli("status", "--all", "--store", other, env={"TSQ_STORE": str(store)}))
    assert line.startswith(f"tsq: no tsq store at {other}: ")


def test_default_store_is_in_xdg_state_home(cli: Cli) -> None:
    line = one_error_line(cli("status"))
    assert line.startswith(f"tsq: no tsq store at {cli.cwd / 'state' / 'tsq' / 'tsq.db'}: ")


def test_commands_that_only_read_never_make_a_store(
    cli: Cli, store_location: str, tmp_path: Path
) -> None:
    """A mistyped --store (or a TSQ_STORE meant for another shell) is said in one line: no
    file, directory, table or snapshots dir made, where every command used to report an empty
    store that it had just made. An empty PostgreSQL database holds no store either."""
    postgres = store_location.startswith("postgresql")
    typo = store_location if postgres else str(tmp_path / "typo" / "sub" / "s.db")
    shown = locate(typo).display
    for args in (["status"], ["status", "--json"], ["collect"], ["wait"], ["logs", "abc:0"],
                 ["cancel", "abc"], ["retry", "abc"], ["forget", "abc", "--yes"], ["gc"],
                 ["report", "-o", str(tmp_path / "r.html")], ["ui", "--port", "0"]):  # fmt: skip
        line = one_error_line(cli(*args, "--store", typo))
        why = "the database holds no tsq tables" if postgres else "no such file"
        assert line == (
            f"tsq: no tsq store at {shown}: {why}; check --store / TSQ_STORE (launching a sweep "
            "creates the store; if it was deleted, `tsq adopt SWEEP_DIR` records a sweep again "
            "from its files)"
        ), args
    line = one_error_line(cli("status", env={"TSQ_STORE": typo}))
    assert line.startswith(f"tsq: no tsq store at {shown}: ")
    if postgres:
        assert db_tables(typo) == set()
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert not (cli.cwd / "state").exists()


def test_empty_store(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    Store.open(path, create=True).close()
    line = one_error_line(cli("collect", "--store", path))
    assert line == "tsq: the store has no sweeps yet"
    for args in (["status"], ["status", "--all"]):
        proc = cli(*args, "--store", path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("no sweeps")
        assert proc.stderr == ""
    proc = cli("status", "--json", "--store", path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


# Without these the libpq under psycopg would look for a password in the user's own files.
NO_PASSWORD_FILES = {"PGPASSFILE": "/nonexistent", "PGSERVICEFILE": "/nonexistent"}


def _port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_store_errors_are_one_line_without_the_password(
    cli: Cli, postgres: Cluster, pg_database: Database
) -> None:
    secret, port, name = SECRET_PASSWORD, postgres.port, pg_database.name
    at = f"{SECRET_ROLE}:{secret}@127.0.0.1"
    cases = [
        (f"postgresql://{at}:notaport/{name}", "invalid store URL 'postgresql://tsq_secret:***@"),
        (
            f"postgresql://{SECRET_ROLE}:wrong-{secret}@127.0.0.1:{port}/{name}",
            f'password authentication failed for user "{SECRET_ROLE}"; give the password in '
            "~/.pgpass, $PGPASSWORD or a service file",
        ),
        (f"postgresql://{SECRET_ROLE}@127.0.0.1:{port}/{name}", "no password supplied"),
        (f"postgresql://{at}:{_port_nobody_listens_on()}/{name}", "Connection refused; Is the "),
        (f"postgresql://{at}:{port}/nosuchdb", 'database "nosuchdb" does not exist; create it'),
    ]
    for url, said in cases:
        line = one_error_line(cli("status", "--store", url, env=NO_PASSWORD_FILES))
        assert said in line, (url, line)
        assert secret not in line
        if "invalid" not in said:
            assert line.startswith(
                f"tsq: cannot use the store postgresql://{SECRET_ROLE}@127.0.0.1"
            )


def test_without_psycopg_the_store_says_what_to_install(cli: Cli, pg_database: Database) -> None:
    hide_psycopg = (
        "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'tsq';"
        " from tsq.__main__ import run; run()"
    )
    proc = cli.run(
        [sys.executable, "-c", hide_psycopg, "status", "--store", pg_database.secret_url]
    )
    line = one_error_line(proc)
    assert "needs psycopg 3" in line and line.endswith("pip install 'tsq[postgres]'")
    assert SECRET_PASSWORD not in line


def test_passwords_from_pgpassword_and_service_files(
    cli: Cli, postgres: Cluster, pg_database: Database, tmp_path: Path
) -> None:
    """What the README recommends instead of a password in the URL."""
    url = f"postgresql://{SECRET_ROLE}@127.0.0.1:{postgres.port}/{pg_database.name}"
    Store.open(pg_database.secret_url, create=True).close()
    proc = cli("status", "--store", url, env={**NO_PASSWORD_FILES, "PGPASSWORD": SECRET_PASSWORD})
    assert proc.returncode == 0 and proc.stdout.startswith("no sweeps"), proc.stderr
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[tsq]\nhost=127.0.0.1\nport={postgres.port}\ndbname={pg_database.name}\n"
        f"user={SECRET_ROLE}\npassword={SECRET_PASSWORD}\n"
    )
    env = {**NO_PASSWORD_FILES, "PGSERVICEFILE": str(services)}
    proc = cli("status", "--store", "postgresql://?service=tsq", env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("no sweeps"), proc.stderr


# -- usage ----------------------------------------------------------------------------------------


def test_no_command_is_a_usage_error(cli: Cli) -> None:
    proc = cli()
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: tsq ")
    assert "Traceback" not in proc.stderr
    assert not (cli.cwd / "state").exists()


def _commands() -> list[str]:
    """Every command the CLI's parser knows, so that a new one is held to its help's rules."""
    (commands,) = [
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    return sorted(commands.choices)


@pytest.mark.parametrize("command", _commands())
def test_command_help_has_an_example(cli: Cli, command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: tsq {command} ")
    assert f"example: python -m tsq {command}" in proc.stdout
    assert "--store" in proc.stdout


def test_store_option_works_before_the_command_too(cli: Cli, store: Path) -> None:
    before = cli("--store", store, "status", "abc1")
    assert before.returncode == 0, before.stderr
    assert sweep_ids(before.stdout) == ["abc123000001"]


def test_an_old_sweep_whose_jobs_this_refresh_ended_is_shown(
    cli: Cli, store: Path, tmp_path: Path, ts_socket: str
) -> None:
    """A three-day-old sweep still running on a ts server that has since died: the refresh marks
    its job lost, and the default listing must show it, not just a warning."""
    Store.open(store).add_sweep(
        local_sweep("old000000009", tmp_path, ts_socket, created_at=time.time() - 3 * DAY,
                   njobs=1),
        [job(0, "running", "lr=0.9", queue_id=7, label="train/old/0")],
    )  # fmt: skip
    proc = cli("status", "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "old000000009" in sweep_ids(proc.stdout)
    assert "lost" in proc.stdout and "is not running" in proc.stderr
    again = cli("status", "--store", store)
    assert "old000000009" not in sweep_ids(again.stdout), "news once, then the usual 24 hours"
