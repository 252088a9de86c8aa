"""Leases and row versions: concurrent commands never decide from stale or partial views.

`jobs.version` counts the writes to a job's row; every decided write is conditional on the
version it was decided from, so a stale or concurrent writer changes nothing. `jobs.intent` and
`jobs.lease` name the command working on the job (queueing it, cancelling it) and its lease file,
held while it runs. `server_id` (jobs and attempts) identifies the ts server instance an attempt
was queued in, so a job missing from a restarted server is told from one removed from the same
server.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding columns is a plain ALTER TABLE in batch mode's "auto": no table is rebuilt.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("intent", sa.String(), nullable=True))
        batch.add_column(sa.Column("lease", sa.String(), nullable=True))
        batch.add_column(sa.Column("server_id", sa.String(), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("server_id", sa.String(), nullable=True))


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite 3.35+), not a batch rebuild: rebuilding `jobs` drops the
    table, and with foreign keys on that deletes every attempt of history by cascade."""
    for table, columns in (("attempts", ["server_id"]), ("jobs", ["server_id", "lease", "intent",
                                                                  "version"])):  # fmt: skip
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
