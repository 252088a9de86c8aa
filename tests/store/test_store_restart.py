"""A PostgreSQL store outlives a restart of its server: commands that follow jobs for a long
time (`tsq wait`, a launcher with `wait=true`) ride it out, a launch whose pooled connection the
restart closed goes on, and only a server that stays down is an error, said in one line.

Each test restarts or stops a cluster of its own (`own_postgres`), never the session's."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading

import psycopg
import pytest
from eventually import eventually
from postgres import OwnCluster
from records import make_jobs, make_sweep
from sqlalchemy import select
from sweeps import Sandbox

from tsq.store import Store, Sweep


def _tsq_connections(cluster: OwnCluster, database: str) -> int:
    """Connections tsq's processes hold to `database` (their pools keep them open)."""
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'tsq'",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


NOISE = ("error ignored", "Pipeline", "Traceback", "cannot use the store", "terminating")


def test_wait_and_a_waiting_launcher_ride_out_a_restart(
    sandbox: Sandbox, own_postgres: OwnCluster
) -> None:
    """Both follow a running sweep while the server restarts (`pg_ctl restart -m fast` closes
    every connection); both end 0 once the jobs complete, and print nothing of it."""
    database = own_postgres.database()
    sandbox.env["TSQ_STORE"] = database.url

    def start(argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(argv, cwd=sandbox.app_dir, env=sandbox.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)  # fmt: skip

    launcher = start([sys.executable, "app.py", "-m", "hydra/launcher=ts",
                      f"hydra.sweep.dir={sandbox.root}/multirun/s", "hydra.launcher.wait=true",
                      "sleep=6", "x=1,2"])  # fmt: skip
    sandbox.started(0)
    waiter = start([sys.executable, "-m", "tsq", "wait"])
    # Both hold a connection before the restart: the launcher's pool, the waiter's.
    eventually(lambda: _tsq_connections(own_postgres, database.name), "both to connect",
               until=lambda n: n >= 2)  # fmt: skip
    own_postgres.pg_ctl("-m", "fast", "restart")
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 0, err
    _, wait_err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, wait_err
    for text in (err, wait_err):
        assert not [line for line in text.splitlines() if any(n in line for n in NOISE)], text
    assert [job["state"] for job in sandbox.status()] == ["completed", "completed"]


def test_a_launch_whose_pooled_connection_a_restart_closed_goes_on(
    own_postgres: OwnCluster,
) -> None:
    """The store was opened (a pooled connection), the server restarted before its first use:
    the next write checks the connection first and connects again."""
    database = own_postgres.database()
    store = Store.open(database.url, create=True)
    try:
        assert store.sweeps() == []
        own_postgres.pg_ctl("-m", "fast", "restart")
        store.add_sweep(make_sweep("abc123"), make_jobs("abc123", 2))
        assert [s.id for s in store.sweeps()] == ["abc123"]
    finally:
        store.close()


def test_a_store_that_stays_down_is_one_line_after_the_patience(
    sandbox: Sandbox, own_postgres: OwnCluster
) -> None:
    database = own_postgres.database()
    sandbox.env["TSQ_STORE"] = database.secret_url
    Store.open(database.url, create=True).close()
    own_postgres.pg_ctl("-m", "fast", "stop")
    proc = sandbox.tsq("status", check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "still unreachable after 10 s" in lines[0], proc.stderr
    assert "s3cret" not in proc.stderr and database.name in lines[0]


def test_a_transaction_cut_by_a_restart_runs_again(own_postgres: OwnCluster) -> None:
    """The server restarts in the middle of a transaction (between two of its statements): the
    transaction runs again from its start, on a new connection, and its result is returned."""
    database = own_postgres.database()
    store = Store.open(database.url, create=True)
    runs = []

    def work(session: object) -> int:
        runs.append(session.get(Sweep, "none"))  # type: ignore[attr-defined]
        if len(runs) == 1:
            own_postgres.pg_ctl("-m", "fast", "restart")
        return len(session.scalars(select(Sweep)).all())  # type: ignore[attr-defined]

    try:
        assert store._transaction(work) == 0
        assert len(runs) == 2, "run once more, after the restart"
    finally:
        store.close()


class Refuser:
    """A listener on a stopped server's port that closes every connection at once, counting
    them: libpq then says "server closed the connection unexpectedly", as while a server dies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.count = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            connection.close()

    def close(self) -> None:
        self.sock.close()
        self.thread.join()


def test_a_command_goes_on_trying_a_server_that_is_down_until_it_is_back(
    sandbox: Sandbox, own_postgres: OwnCluster
) -> None:
    database = own_postgres.database()
    sandbox.env["TSQ_STORE"] = database.url
    sandbox.sweep("x=1")
    sandbox.wait_terminal()
    own_postgres.pg_ctl("-m", "fast", "stop")
    refuser = Refuser(own_postgres.port)
    try:
        status = subprocess.Popen([sys.executable, "-m", "tsq", "status", "--json", "--all"],
                                  cwd=sandbox.app_dir, env=sandbox.env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        eventually(
            lambda: refuser.count, "status to try the server 3 times", until=lambda n: n >= 3
        )
    finally:
        refuser.close()
    own_postgres.start()
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0 and err == "", err
    assert [job["state"] for job in json.loads(out)] == ["completed"]


def test_psycopgs_secondary_errors_stay_off_the_console(
    own_postgres: OwnCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """psycopg warns "error ignored ..." when a rollback or pipeline exit fails on a connection
    already broken (a restart): tsq handles the first error, and says it once if it must."""
    Store.open(own_postgres.database().url, create=True).close()
    psycopg_log = logging.getLogger("psycopg")
    psycopg_log.warning("error ignored terminating %r: %s", "<psycopg.Pipeline [BAD]>", "gone")
    psycopg_log.warning("a warning of another kind")
    assert [r.getMessage() for r in caplog.records] == ["a warning of another kind"]
