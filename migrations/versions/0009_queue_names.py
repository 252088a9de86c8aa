"""Queue names: "ts" named every queue; the columns now say "queue" and "backend record".

`jobs.ts_id` and `attempts.ts_id` held a Slurm sweep's array id as well as a ts job id: they
become `queue_id`. `sweeps.ts_binary` and `sweeps.ts_socket` held a ts binary and socket, or
"sbatch" and a Slurm sweep's SLURM_CONF: they become one JSON column, `backend_record`, in each
backend's own terms (ts: {"binary", "socket"}; Slurm: {"conf"}; `Backend.recorded`).

Every statement is a plain `ALTER TABLE` (SQLite 3.35+), never a batch rebuild: rebuilding
`sweeps` or `jobs` drops the table, and with foreign keys on that deletes every job or attempt
by cascade (as in 0005 and 0007).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SWEEPS = sa.table(
    "sweeps",
    sa.column("id", sa.String()),
    sa.column("backend", sa.String()),
    sa.column("ts_binary", sa.String()),
    sa.column("ts_socket", sa.String()),
    sa.column("backend_record", sa.JSON()),
)


def _record(backend: str, binary: str, socket: str) -> dict[str, Any]:
    """What a sweep's old columns said, in its backend's own terms."""
    return {"conf": socket} if backend == "slurm" else {"binary": binary, "socket": socket}


def _columns(record: dict[str, Any] | None) -> tuple[str, str]:
    """The old columns (ts_binary, ts_socket) of a backend record, as tsq wrote them before."""
    record = record or {}
    if "conf" in record:
        return "sbatch", str(record["conf"])
    return str(record.get("binary", "")), str(record.get("socket", ""))


def upgrade() -> None:
    for table in ("jobs", "attempts"):
        op.execute(f"ALTER TABLE {table} RENAME COLUMN ts_id TO queue_id")
    # NOT NULL needs a default for the rows already there; every row is filled in just below.
    op.add_column(
        "sweeps",
        sa.Column("backend_record", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_SWEEPS.c.id, _SWEEPS.c.backend, _SWEEPS.c.ts_binary, _SWEEPS.c.ts_socket)
    ).all()
    for sweep_id, backend, binary, socket in rows:
        connection.execute(
            _SWEEPS.update()
            .where(_SWEEPS.c.id == sweep_id)
            .values(backend_record=_record(backend, binary, socket))
        )
    for column in ("ts_binary", "ts_socket"):
        op.execute(f"ALTER TABLE sweeps DROP COLUMN {column}")


def downgrade() -> None:
    for column in ("ts_binary", "ts_socket"):
        op.add_column("sweeps", sa.Column(column, sa.String(), nullable=False, server_default=""))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_SWEEPS.c.id, _SWEEPS.c.backend_record)).all()
    for sweep_id, record in rows:
        binary, socket = _columns(record)
        connection.execute(
            _SWEEPS.update()
            .where(_SWEEPS.c.id == sweep_id)
            .values(ts_binary=binary, ts_socket=socket)
        )
    op.execute("ALTER TABLE sweeps DROP COLUMN backend_record")
    for table in ("attempts", "jobs"):
        op.execute(f"ALTER TABLE {table} RENAME COLUMN queue_id TO ts_id")
