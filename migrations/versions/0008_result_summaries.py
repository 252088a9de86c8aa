"""Result summaries: the store keeps a copy of each ended attempt's result summary.

The page and `collect` then read a sweep's results in one query instead of one file per job.
Attempts that ended before this revision have none; their files are read as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("jobs", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("result_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    """Plain `DROP COLUMN`, as in 0007: a batch rebuild of `jobs` would delete every attempt
    of history by cascade. Nothing is lost: the result files keep every summary."""
    for table in ("attempts", "jobs"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN result_summary")
