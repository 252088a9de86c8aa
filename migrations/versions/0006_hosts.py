"""Host identity: the host each attempt was queued on (`tsq.hosts.this_host`).

Only that host can ask the attempt's queue about it. Attempts recorded before this revision were
queued on their sweep's host (`sweeps.hostname`), and are given it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("jobs", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("host", sa.String(), nullable=True))
    op.execute(
        "UPDATE jobs SET host = (SELECT hostname FROM sweeps WHERE sweeps.id = jobs.sweep_id)"
    )
    op.execute(
        "UPDATE attempts SET host = (SELECT sweeps.hostname FROM jobs JOIN sweeps"
        " ON sweeps.id = jobs.sweep_id WHERE jobs.id = attempts.job_id)"
    )


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite 3.35+), not a batch rebuild: rebuilding `jobs` drops the
    table, and with foreign keys on that deletes every attempt of history by cascade."""
    for table in ("attempts", "jobs"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN host")
