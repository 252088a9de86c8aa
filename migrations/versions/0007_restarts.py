"""Restarts: a job Slurm runs again (requeue, preemption) keeps each run as an attempt.

`restarts` counts the runs of the same submission before an attempt; every attempt recorded before
this revision was its submission's first run.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("jobs", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("restarts", sa.Integer(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite 3.35+), not a batch rebuild: rebuilding `jobs` drops the
    table, and with foreign keys on that deletes every attempt of history by cascade."""
    for table in ("attempts", "jobs"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN restarts")
