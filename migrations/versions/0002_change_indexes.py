"""Index users.updated_at and interactions.created_at: each worker polls them every
CATALOG_REFRESH_SECONDS for users changed by other workers (their kept answers go).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_users_updated_at"), "users", ["updated_at"])
    op.create_index(op.f("ix_interactions_created_at"), "interactions", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_interactions_created_at"), table_name="interactions")
    op.drop_index(op.f("ix_users_updated_at"), table_name="users")
