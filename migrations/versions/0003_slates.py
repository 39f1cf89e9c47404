"""Served slates and attributed events: the `slates` table (each /recommend answer, by
its recommendation_id), `service_secrets` (the key that signs recommendation ids, shared
by every worker), and `interactions.recommendation_id` / `position`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slates",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=True),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slates")),
    )
    op.create_index(op.f("ix_slates_user_id"), "slates", ["user_id"])
    op.create_index(op.f("ix_slates_experiment"), "slates", ["experiment"])
    op.create_index(op.f("ix_slates_served_at"), "slates", ["served_at"])
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_secrets")),
    )
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("recommendation_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch.create_index(
            op.f("ix_interactions_recommendation_id"), ["recommendation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index(op.f("ix_interactions_recommendation_id"))
        batch.drop_column("position")
        batch.drop_column("recommendation_id")
    op.drop_table("service_secrets")
    op.drop_index(op.f("ix_slates_served_at"), table_name="slates")
    op.drop_index(op.f("ix_slates_experiment"), table_name="slates")
    op.drop_index(op.f("ix_slates_user_id"), table_name="slates")
    op.drop_table("slates")
