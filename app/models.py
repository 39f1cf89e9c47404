"""The SQL store's tables (SQLAlchemy 2.x typed models).

The schema changes only through Alembic migrations (`migrations/`); a test checks that
these models and the migrations agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ml.records import INTERACTION_TYPES
from ml.salary import PAY_PERIODS

IDEMPOTENCY_KEY_LENGTH = 128  # characters of an event's idempotency key
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200), unique=True)  # ml.text.name_key(name)


class Place(Base):
    """A normalised place (ml.locations.Place); `key` is unique per city/region/country."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    region_code: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str | None] = mapped_column(String(60))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class Skill(Base):
    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


user_skills = Table(
    "user_skills",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
)
job_skills = Table(
    "job_skills",
    Base.metadata,
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A job seeker. Desired salary as stated plus its annualised US-dollar value."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    headline: Mapped[str] = mapped_column(Text, default="")
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    desired_salary_amount: Mapped[float | None] = mapped_column(Float)
    desired_salary_currency: Mapped[str | None] = mapped_column(String(3))
    desired_salary_period: Mapped[str | None] = mapped_column(String(8))
    desired_salary_annual_usd: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )

    place: Mapped[Place | None] = relationship(lazy="joined")
    company: Mapped[Company | None] = relationship(lazy="joined")
    skills: Mapped[list[Skill]] = relationship(
        secondary=user_skills, lazy="selectin", order_by=Skill.name
    )


class Job(Base):
    """A posting. Salary as stated (min/max per period in currency) plus annual USD."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "salary_period IS NULL OR salary_period IN ("
            + ", ".join(f"'{p}'" for p in PAY_PERIODS)
            + ")",
            name="salary_period",
        ),
        Index("ix_jobs_active_salary", "active", "salary_annual_max_usd"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    salary_min: Mapped[float | None] = mapped_column(Float)
    salary_max: Mapped[float | None] = mapped_column(Float)
    salary_currency: Mapped[str | None] = mapped_column(String(3))
    salary_period: Mapped[str | None] = mapped_column(String(8))
    salary_annual_min_usd: Mapped[float | None] = mapped_column(Float)
    salary_annual_max_usd: Mapped[float | None] = mapped_column(Float)
    employment_type: Mapped[str | None] = mapped_column(String(20))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )

    place: Mapped[Place | None] = relationship(lazy="joined")
    company: Mapped[Company | None] = relationship(lazy="joined")
    skills: Mapped[list[Skill]] = relationship(
        secondary=job_skills, lazy="selectin", order_by=Skill.name
    )


class Interaction(Base):
    """One event. `idempotency_key`, when given, makes a retried write a no-op."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(
            "type IN (" + ", ".join(f"'{t}'" for t in INTERACTION_TYPES) + ")", name="type"
        ),
        Index("ix_interactions_user_time", "user_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), unique=True)
    # the served slate the event came from (`Slate.id`) and the job's place in it
    # (1-based); no foreign key: an event may be written before its slate's batch is
    recommendation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    position: Mapped[int | None] = mapped_column(Integer)
    # when the row was written (the service's clock), unlike occurred_at (the event's)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class Slate(Base):
    """A served answer of /recommend: who got which jobs, in which order, from which model
    (and experiment variant), under which filters. Events name it by `id`."""

    __tablename__ = "slates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the recommendation_id
    user_id: Mapped[str] = mapped_column(String(64), index=True)  # external id
    model_version: Mapped[str] = mapped_column(String(120))
    experiment: Mapped[str | None] = mapped_column(String(64), index=True)
    variant: Mapped[str | None] = mapped_column(String(64))
    # [[job_id, score], ...] best first: position p is item p - 1
    items: Mapped[list[Any]] = mapped_column(JSON)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)  # the request's, as sent
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ModelVersion(Base):
    """A registered ConvFM checkpoint: its copy under the registry folder, its status
    (`registered`, `production`: the one the workers serve, at most one; `retired`), and
    its offline metrics from training."""

    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint("status IN ('registered', 'production', 'retired')", name="status"),
    )

    version: Mapped[str] = mapped_column(String(120), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="registered", index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Experiment(Base):
    """An A/B experiment between models: variants [{name, model, traffic}], one of them
    the control. At most one runs at a time (a unique index over the running ones)."""

    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'stopped')", name="status"),
        Index(
            "uq_experiments_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    control: Mapped[str] = mapped_column(String(64))
    variants: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceSecret(Base):
    """Secrets every worker shares (the key that signs recommendation ids), made once."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


def table(model: type[Base]) -> Table:
    """A model's Table (declarative models type `__table__` as any FromClause)."""
    found = model.__table__
    assert isinstance(found, Table)
    return found
