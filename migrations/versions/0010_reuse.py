"""Reuse: each job records the key of what it computes (its task config and its code), indexed,
so that a launch with `reuse=true` finds the completed jobs it can reuse in one query.

Jobs recorded before this revision have no key: they are never reused.

Revision ID: 0010_reuse
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_reuse"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("reuse_key", sa.String(64), nullable=True))
    op.create_index(op.f("ix_jobs_reuse_key"), "jobs", ["reuse_key"])


def downgrade() -> None:
    """Plain `DROP COLUMN`, as in 0007: a batch rebuild of `jobs` would delete every attempt
    of history by cascade."""
    op.drop_index(op.f("ix_jobs_reuse_key"), table_name="jobs")
    op.execute("ALTER TABLE jobs DROP COLUMN reuse_key")
