"""Each CLI command imports only what it needs: a command that does not use the store does not
import SQLAlchemy, no command imports Hydra (results are read from their JSON summaries), and
only a PostgreSQL store imports psycopg."""

from __future__ import annotations

import sys

import pytest
from postgres import Database
from sweeps import Sandbox

STORE = {"sqlalchemy", "alembic", "psycopg"}
HYDRA = {"hydra", "omegaconf", "cloudpickle", "yaml", "antlr4"}


def _imported(sandbox: Sandbox, *args: str, returncode: int | None = 0) -> set[str]:
    """Top-level packages `python -m tsq ARGS` imported, from `-X importtime`'s report (any
    exit status if `returncode` is None)."""
    proc = sandbox.run([sys.executable, "-X", "importtime", "-m", "tsq", *args], check=False)
    assert returncode is None or proc.returncode == returncode, proc.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.fresh_store  # and none is made
@pytest.mark.parametrize(
    "args, returncode",
    [(["--help"], 0), (["status", "--help"], 0), (["collect", "--help"], 0), (["bogus"], 2)],
)
def test_help_and_usage_errors_import_neither_store_nor_hydra(
    sandbox: Sandbox, args: list[str], returncode: int
) -> None:
    assert _imported(sandbox, *args, returncode=returncode) & (STORE | HYDRA) == set()
    assert not sandbox.store.exists(), "and create no store"


def test_store_commands_do_not_import_hydra_or_alembic(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2")
    sandbox.wait_terminal()
    sweep = sandbox.status()[0]["sweep"]
    for args in (
        ["status"],
        ["status", "--json"],
        ["collect"],
        ["collect", "--json"],
        ["collect", "--format", "csv"],
        ["wait"],
        ["logs", f"{sweep}:0"],
        ["retry", sweep, "0"],
        ["cancel", sweep],
        ["forget", sweep, "--yes"],
    ):
        imported = _imported(sandbox, *args)
        assert "sqlalchemy" in imported, args
        assert imported & (HYDRA | {"alembic", "psycopg"}) == set(), args


def test_a_postgresql_store_imports_psycopg_and_no_more(
    sandbox: Sandbox, pg_database: Database
) -> None:
    from tsq.store import Store

    Store.open(pg_database.url, create=True).close()  # created: nothing left to migrate
    for args in (["status", "--json"], ["collect", "--json"]):
        imported = _imported(sandbox, *args, "--store", pg_database.url, returncode=None)
        assert {"sqlalchemy", "psycopg"} <= imported, args
        assert imported & (HYDRA | {"alembic"}) == set(), args
