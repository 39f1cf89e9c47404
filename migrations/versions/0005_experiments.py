"""A/B experiments: `experiments` (variants with their models and traffic shares; at most
one running, by a partial unique index).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("control", sa.String(64), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'stopped')", name=op.f("ck_experiments_status")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_experiments")),
    )
    op.create_index(
        "uq_experiments_running",
        "experiments",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_experiments_running", table_name="experiments")
    op.drop_table("experiments")
