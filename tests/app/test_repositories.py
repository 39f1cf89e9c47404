"""The SQL store on SQLite and PostgreSQL: migrations, upserts, events, records."""

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import inspect, text

from app.db import create_db_engine, session_scope
from app.errors import NotFoundError
from app.importers.demo import import_demo
from app.migrate import downgrade, upgrade
from app.models import Base
from app.repositories import (
    EventRepository,
    EventRow,
    JobRepository,
    UserRepository,
    counts,
)
from app.schemas import EventIn, JobIn, UserIn

TABLES = {
    "companies",
    "places",
    "skills",
    "users",
    "jobs",
    "user_skills",
    "job_skills",
    "interactions",
    "slates",
    "service_secrets",
    "model_versions",
    "experiments",
}


def _tables(url):
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_upgrade_downgrade_upgrade(empty_db_url):
    upgrade(empty_db_url)
    assert _tables(empty_db_url) == TABLES
    downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == set()
    upgrade(empty_db_url)
    assert _tables(empty_db_url) == TABLES
    engine = create_db_engine(empty_db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []  # models == migrations
    engine.dispose()


def job(title="Data Scientist", **fields):
    return JobIn(title=title, **fields)


def test_upsert_jobs_is_idempotent_and_updates(factory):
    with session_scope(factory) as s:
        ids = JobRepository(s).upsert(
            [
                (
                    "j1",
                    job(
                        company="Acme",
                        location="San Francisco, CA",
                        skills=["Python", "SQL", "pyspark"],
                        salary={"min": 50, "max": 60, "period": "hour"},
                    ),
                )
            ]
        )
    with session_scope(factory) as s:
        again = JobRepository(s).upsert(
            [("j1", job(title="Senior Data Scientist", company="ACME", skills=["python"]))]
        )
    assert ids == again
    with session_scope(factory) as s:
        row = JobRepository(s).get("j1")
        assert row.title == "Senior Data Scientist"
        assert row.company.name == "Acme"  # same company key, first spelling kept
        assert [sk.name for sk in row.skills] == ["python"]
        assert row.salary_period is None and row.place is None
        assert counts(s)["jobs"] == 1


def test_job_salary_and_place_are_normalised(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert(
            [
                (
                    "hourly",
                    job(
                        location={"city": "austin", "region": "Texas"},
                        salary={"min": 20, "max": 25, "period": "hour"},
                    ),
                ),
                ("remote", job(location="Remote", salary={"min": 90000, "currency": "EUR"})),
            ]
        )
    with session_scope(factory) as s:
        records = {r.job_id: r for r in JobRepository(s).records()}
    hourly = records["hourly"]
    assert (hourly.salary_annual_min_usd, hourly.salary_annual_max_usd) == (20 * 2080, 25 * 2080)
    assert (hourly.place.city, hourly.place.region_code, hourly.place.country) == (
        "Austin",
        "TX",
        "US",
    )
    assert hourly.place.has_coordinates
    assert records["remote"].remote and records["remote"].place is None
    assert records["remote"].salary_annual_max_usd == pytest.approx(90000 * 1.08)


def test_bad_inputs_are_rejected_before_the_store():
    with pytest.raises(ValidationError, match="below minimum"):
        JobIn(title="x", salary={"min": 10, "max": 5})
    with pytest.raises(ValidationError, match="currency"):
        JobIn(title="x", salary={"min": 10, "currency": "ZZZ"})
    with pytest.raises(ValidationError):
        JobIn(title="")
    with pytest.raises(ValidationError):
        EventIn(user_id="u", job_id="j", type="like")
    assert EventIn(user_id=123, job_id=7, type="view").user_id == "123"


def test_users_and_records(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert([("j1", job())])
        UserRepository(s).upsert(
            [
                (
                    "u1",
                    UserIn(
                        location="Boston, MA",
                        current_company="Globex",
                        skills=["Java", "sql"],
                        headline="backend dev",
                        desired_salary={"amount": 50, "period": "hour"},
                    ),
                )
            ]
        )
    with session_scope(factory) as s:
        (user,) = UserRepository(s).records()
        assert user.user_id == "u1" and user.skills == ("java", "sql")
        assert user.place.city == "Boston" and user.company == "Globex"
        assert user.desired_salary_usd == 50 * 2080
        assert UserRepository(s).records(["nobody"]) == []


def test_events_are_idempotent_and_checked(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert([("j1", job())])
        UserRepository(s).upsert([("u1", UserIn())])
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with session_scope(factory) as s:
        events = EventRepository(s)
        assert (
            events.add(
                [EventRow("u1", "j1", "view", t, "k1"), EventRow("u1", "j1", "apply", t, None)]
            )
            == 2
        )
        assert events.add([EventRow("u1", "j1", "view", t, "k1")]) == 0
        with pytest.raises(NotFoundError, match="ghost"):
            events.add([EventRow("ghost", "j1", "view", t)])
    with session_scope(factory) as s:
        interactions = EventRepository(s).interactions()
        assert [(i.type, i.timestamp) for i in interactions] == [("view", t), ("apply", t)]


def test_the_database_enforces_event_types(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert([("j1", job())])
        UserRepository(s).upsert([("u1", UserIn())])
    with pytest.raises(Exception, match=r"(?i)check"), session_scope(factory) as s:
        s.execute(
            text(
                "INSERT INTO interactions (user_id, job_id, type, occurred_at, "
                "created_at) VALUES (1, 1, 'like', '2026-01-01', '2026-01-01')"
            )
        )


def test_demo_import_counts_and_idempotence(factory):
    first = import_demo(factory, users=40, jobs=30, seed=3)
    assert (first.users, first.jobs) == (41, 30)  # u1..u40 and the showcase user "123"
    assert first.events_inserted == first.events_read > 0
    again = import_demo(factory, users=40, jobs=30, seed=3)
    assert again.events_inserted == 0
    with session_scope(factory) as s:
        rows = counts(s)
        assert (rows["users"], rows["jobs"], rows["interactions"]) == (41, 30, first.events_read)
        jobs = JobRepository(s).records()
        assert any(j.salary_annual_max_usd is None for j in jobs)  # some jobs state no salary
        assert any(j.salary_annual_max_usd is not None for j in jobs)
        types = {i.type for i in EventRepository(s).interactions()}
        assert {"impression", "view", "click"} <= types
