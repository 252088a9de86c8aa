"""Queue backends: which queue a sweep's jobs went to (`tsq.backends`), and its variant.

Every sweep before this revision was queued in task-spooler, whose variant was not recorded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("backend", sa.String(), nullable=False, server_default="ts"))
        batch.add_column(sa.Column("backend_variant", sa.String(), nullable=True))


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite 3.35+), not a batch rebuild: rebuilding `sweeps` drops the
    table, and with foreign keys on that deletes every job by cascade."""
    for column in ("backend_variant", "backend"):
        op.execute(f"ALTER TABLE sweeps DROP COLUMN {column}")
