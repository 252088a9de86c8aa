"""Code provenance: the snapshot a sweep's jobs import from, and the git state it was taken of.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("project", sa.String(), nullable=True))
        batch.add_column(sa.Column("snapshot", sa.String(), nullable=True))
        batch.add_column(sa.Column("git_commit", sa.String(), nullable=True))
        batch.add_column(sa.Column("git_branch", sa.String(), nullable=True))
        batch.add_column(sa.Column("git_dirty", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite 3.35+), not a batch rebuild: rebuilding `sweeps` drops the
    table, and with foreign keys on that deletes every job by cascade."""
    for column in ("git_dirty", "git_branch", "git_commit", "snapshot", "project"):
        op.execute(f"ALTER TABLE sweeps DROP COLUMN {column}")
