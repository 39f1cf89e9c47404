"""Initial schema: companies, places, skills, users, jobs, their skills, interactions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("key", name=op.f("uq_companies_key")),
    )
    op.create_table(
        "places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("region", sa.String(length=120), nullable=True),
        sa.Column("region_code", sa.String(length=10), nullable=True),
        sa.Column("country", sa.String(length=60), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
        sa.UniqueConstraint("key", name=op.f("uq_places_key")),
    )
    op.create_table(
        "skills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skills")),
        sa.UniqueConstraint("name", name=op.f("uq_skills_name")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("place_id", sa.Integer(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("remote", sa.Boolean(), nullable=False),
        sa.Column("salary_min", sa.Float(), nullable=True),
        sa.Column("salary_max", sa.Float(), nullable=True),
        sa.Column("salary_currency", sa.String(length=3), nullable=True),
        sa.Column("salary_period", sa.String(length=8), nullable=True),
        sa.Column("salary_annual_min_usd", sa.Float(), nullable=True),
        sa.Column("salary_annual_max_usd", sa.Float(), nullable=True),
        sa.Column("employment_type", sa.String(length=20), nullable=True),
        sa.Column("posted_at", TZ, nullable=True),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint(
            "salary_period IS NULL OR salary_period IN ('hour', 'day', 'week', 'month', 'year')",
            name=op.f("ck_jobs_salary_period"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_jobs_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], name=op.f("fk_jobs_place_id_places")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("external_id", name=op.f("uq_jobs_external_id")),
    )
    op.create_index("ix_jobs_active_salary", "jobs", ["active", "salary_annual_max_usd"])
    op.create_index(op.f("ix_jobs_company_id"), "jobs", ["company_id"])
    op.create_index(op.f("ix_jobs_place_id"), "jobs", ["place_id"])
    op.create_index(op.f("ix_jobs_updated_at"), "jobs", ["updated_at"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("desired_salary_amount", sa.Float(), nullable=True),
        sa.Column("desired_salary_currency", sa.String(length=3), nullable=True),
        sa.Column("desired_salary_period", sa.String(length=8), nullable=True),
        sa.Column("desired_salary_annual_usd", sa.Float(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_users_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], name=op.f("fk_users_place_id_places")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_id", name=op.f("uq_users_external_id")),
    )
    op.create_index(op.f("ix_users_company_id"), "users", ["company_id"])
    op.create_index(op.f("ix_users_place_id"), "users", ["place_id"])
    op.create_table(
        "interactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint(
            "type IN ('impression', 'view', 'click', 'apply', 'save', 'dismiss')",
            name=op.f("ck_interactions_type"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], ondelete="CASCADE", name=op.f("fk_interactions_job_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_interactions_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_interactions_idempotency_key")),
    )
    op.create_index(op.f("ix_interactions_job_id"), "interactions", ["job_id"])
    op.create_index("ix_interactions_user_time", "interactions", ["user_id", "occurred_at"])
    for owner, table in (("job", "jobs"), ("user", "users")):
        op.create_table(
            f"{owner}_skills",
            sa.Column(f"{owner}_id", sa.Integer(), nullable=False),
            sa.Column("skill_id", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(
                [f"{owner}_id"],
                [f"{table}.id"],
                ondelete="CASCADE",
                name=op.f(f"fk_{owner}_skills_{owner}_id_{table}"),
            ),
            sa.ForeignKeyConstraint(
                ["skill_id"],
                ["skills.id"],
                ondelete="CASCADE",
                name=op.f(f"fk_{owner}_skills_skill_id_skills"),
            ),
            sa.PrimaryKeyConstraint(f"{owner}_id", "skill_id", name=op.f(f"pk_{owner}_skills")),
        )


def downgrade() -> None:
    op.drop_table("user_skills")
    op.drop_table("job_skills")
    op.drop_index("ix_interactions_user_time", table_name="interactions")
    op.drop_index(op.f("ix_interactions_job_id"), table_name="interactions")
    op.drop_table("interactions")
    op.drop_index(op.f("ix_users_place_id"), table_name="users")
    op.drop_index(op.f("ix_users_company_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_jobs_updated_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_place_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_company_id"), table_name="jobs")
    op.drop_index("ix_jobs_active_salary", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("skills")
    op.drop_table("places")
    op.drop_table("companies")
